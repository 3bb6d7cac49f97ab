"""Ranker stage, per message: what each chat message says about the moment, as numbers.

Consumes a ``ChatLog``; produces ``MessageTable``: one row per message with its offset (chat time) and
the community-independent attributes the window features are built from — whether it reacts (the hand
lexicon of ``detector.signals.chat_lexicon``) and how (laughs, hypes, shows shock, gives a gaming verdict
such as gg), carries emotes, shouts in capitals, asks (``?``)
or exclaims (``!``), its length, whether it repeats a message seen in the last ``REPEAT_S`` seconds
(copypasta, spam), and, when the log names authors, whether it is the author's first message in the
VOD (a new chatter) and whether it *engages* (the author's first message in ``ENGAGE_S`` seconds, so
one person spamming cannot fake a crowd). Without authors every message engages.

Chat repeats itself a lot, so each distinct text is classified once and the rows are gathered with
numpy; only the author bookkeeping walks the messages in Python. A 4-hour VOD's ~100k messages take
a fraction of a second (``highlights bench chat``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.records import AbortCheck, ChatLog
from detector.signals.chat_learned import TokenWeights
from detector.signals.chat_lexicon import classify_kinds

REPEAT_S = 30.0
"""A message repeats when the same normalised text was sent within this many seconds before it."""
ENGAGE_S = 10.0
"""An author's messages closer together than this count once (spam cannot make a crowd)."""
MAX_LEN = 200
ATTRIBUTES = ("react", "laugh", "hype", "shock", "gaming", "emote", "caps", "question", "exclaim", "length", "repeat",
              "new", "learned")
TEXT_ATTRIBUTES = ("react", "laugh", "hype", "shock", "gaming", "emote", "caps", "question", "exclaim", "length", "emotes")
"""What depends on the text alone (computed once per distinct text); ``emotes`` is the emote count (≤ 5)."""


@dataclass(frozen=True, slots=True)
class MessageTable:
    """Per-message attributes, aligned with ``offsets`` (chat time, sorted)."""

    offsets: np.ndarray
    weight: np.ndarray
    """1 for a message that engages (see the module docstring), else 0."""
    attrs: dict[str, np.ndarray]
    """``ATTRIBUTES`` → float32 per message (flags 0/1, ``length`` in characters, ``learned`` a score),
    plus ``emotes`` (emote tokens, at most 5)."""
    authors: np.ndarray
    """Author index per message (−1: unknown)."""
    authors_known: bool

    def __len__(self) -> int:
        return len(self.offsets)


def _text_row(text: str, emotes: tuple[str, ...]) -> tuple[float, ...]:
    is_reaction, is_laugh, n_emotes, is_caps, is_hype, is_shock, is_gaming = classify_kinds(text, emotes)
    return (float(is_reaction), float(is_laugh), float(is_hype), float(is_shock), float(is_gaming), float(n_emotes > 0),
            float(is_caps), float("?" in text), float("!" in text), float(min(len(text), MAX_LEN)), float(min(n_emotes, 5)))


def message_table(chat: ChatLog, *, lexicon: TokenWeights | None = None, abort: AbortCheck | None = None
                  ) -> MessageTable:
    """The ``MessageTable`` of ``chat`` (``learned`` holds ``lexicon``'s message scores when given)."""
    msgs = chat.messages
    n = len(msgs)
    offsets = np.fromiter((m.offset_s for m in msgs), dtype=np.float64, count=n)
    text_id = np.empty(n, dtype=np.int64)
    norm_id = np.empty(n, dtype=np.int64)
    author_id = np.full(n, -1, dtype=np.int64)
    index: dict[tuple[str, tuple[str, ...]], int] = {}
    norms: dict[str, int] = {}
    authors: dict[str, int] = {}
    rows: list[tuple[float, ...]] = []
    row_norm: list[int] = []
    for i, m in enumerate(msgs):
        if abort is not None and i % 20000 == 0 and abort():
            from detector.errors import Cancelled

            raise Cancelled("Chat analysis was cancelled.")
        key = (m.text, m.emotes)
        k = index.get(key)
        if k is None:
            k = index[key] = len(rows)
            rows.append(_text_row(m.text, m.emotes))
            norm = " ".join(m.text.lower().split())[:80]
            row_norm.append(norms.setdefault(norm, len(norms)))
        text_id[i] = k
        norm_id[i] = row_norm[k]
        if m.author:
            author_id[i] = authors.setdefault(m.author, len(authors))
    table = np.asarray(rows, dtype=np.float32).reshape(len(rows), len(TEXT_ATTRIBUTES))[text_id]
    attrs = {name: np.ascontiguousarray(table[:, j]) for j, name in enumerate(TEXT_ATTRIBUTES)}
    attrs["repeat"] = _repeats(offsets, norm_id)
    weight, new = _engagement(offsets, author_id)
    attrs["new"] = new
    attrs["learned"] = (lexicon.score_messages(msgs).astype(np.float32) if lexicon is not None and n
                        else np.zeros(n, dtype=np.float32))
    return MessageTable(offsets=offsets, weight=weight, attrs=attrs, authors=author_id, authors_known=bool(authors))


def _repeats(offsets: np.ndarray, norm_id: np.ndarray) -> np.ndarray:
    """1 where the same normalised text came less than ``REPEAT_S`` before (vectorised by text)."""
    out = np.zeros(len(offsets), dtype=np.float32)
    if len(offsets) < 2:
        return out
    order = np.lexsort((offsets, norm_id))
    same = norm_id[order][1:] == norm_id[order][:-1]
    close = np.diff(offsets[order]) < REPEAT_S
    out[order[1:][same & close]] = 1.0
    return out


def _engagement(offsets: np.ndarray, author_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(weight, new)``: engaging messages (an author counts once per ``ENGAGE_S``) and first messages."""
    n = len(offsets)
    weight = np.ones(n, dtype=np.float32)
    new = np.zeros(n, dtype=np.float32)
    known = np.flatnonzero(author_id >= 0)
    if len(known) == 0:
        return weight, new
    last: dict[int, float] = {}
    times = offsets[known].tolist()
    for i, a, t in zip(known.tolist(), author_id[known].tolist(), times):
        before = last.get(a)
        if before is None:
            new[i] = 1.0
        elif t - before < ENGAGE_S:
            weight[i] = 0.0
            continue  # the author's earlier message in this stretch keeps its place
        last[a] = t
    return weight, new

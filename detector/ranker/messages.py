"""Ranker stage, per message: what each chat message says about the moment, as numbers.

Consumes a ``ChatLog``; produces ``MessageTable``: one row per message with its offset (chat time) and
the community-independent attributes the window features are built from — whether it reacts (the hand
lexicon of ``detector.signals.chat_lexicon``), laughs, carries emotes, shouts in capitals, asks (``?``)
or exclaims (``!``), its length, whether it repeats a message seen in the last ``REPEAT_S`` seconds
(copypasta, spam), and, when the log names authors, whether it is the author's first message in the
VOD (a new chatter) and whether it *engages* (the author's first message in ``ENGAGE_S`` seconds, so
one person spamming cannot fake a crowd). Without authors every message engages.

One pass in Python; the lexicon classification is memoised per distinct text (chat repeats itself a
lot), so a 4-hour VOD's ~100k messages take well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.records import AbortCheck, ChatLog
from detector.signals.chat_learned import TokenWeights
from detector.signals.chat_lexicon import classify

REPEAT_S = 30.0
"""A message repeats when the same normalised text was sent within this many seconds before it."""
ENGAGE_S = 10.0
"""An author's messages closer together than this count once (spam cannot make a crowd)."""
MAX_LEN = 200
ATTRIBUTES = ("react", "laugh", "emote", "caps", "question", "exclaim", "length", "repeat", "new", "learned")


@dataclass(frozen=True, slots=True)
class MessageTable:
    """Per-message attributes, aligned with ``offsets`` (chat time, sorted)."""

    offsets: np.ndarray
    weight: np.ndarray
    """1 for a message that engages (see the module docstring), else 0."""
    attrs: dict[str, np.ndarray]
    """``ATTRIBUTES`` → float32 per message (flags 0/1, ``length`` in characters, ``learned`` a score)."""
    authors_known: bool

    def __len__(self) -> int:
        return len(self.offsets)


def message_table(chat: ChatLog, *, lexicon: TokenWeights | None = None, abort: AbortCheck | None = None
                  ) -> MessageTable:
    """The ``MessageTable`` of ``chat`` (``learned`` holds ``lexicon``'s message scores when given)."""
    msgs = chat.messages
    n = len(msgs)
    offsets = np.fromiter((m.offset_s for m in msgs), dtype=np.float64, count=n)
    cols = {name: np.zeros(n, dtype=np.float32) for name in ATTRIBUTES}
    weight = np.ones(n, dtype=np.float32)
    authors_known = chat.has_authors
    memo: dict[tuple[str, tuple[str, ...]], tuple[float, float, float, float, float, float, float]] = {}
    last_text: dict[str, float] = {}
    last_author: dict[str, float] = {}
    react, laugh, emote, caps = cols["react"], cols["laugh"], cols["emote"], cols["caps"]
    question, exclaim, length, repeat, new = cols["question"], cols["exclaim"], cols["length"], cols["repeat"], cols["new"]
    for i, m in enumerate(msgs):
        if abort is not None and i % 20000 == 0 and abort():
            from detector.errors import Cancelled

            raise Cancelled("Chat analysis was cancelled.")
        text = m.text
        key = (text, m.emotes)
        row = memo.get(key)
        if row is None:
            is_reaction, is_laugh, n_emotes, is_caps = classify(text, m.emotes)
            row = (float(is_reaction), float(is_laugh), float(n_emotes > 0), float(is_caps),
                   float("?" in text), float("!" in text), float(min(len(text), MAX_LEN)))
            if len(memo) < 200_000:
                memo[key] = row
        react[i], laugh[i], emote[i], caps[i], question[i], exclaim[i], length[i] = row
        norm = " ".join(text.lower().split())[:80]
        t = offsets[i]
        seen = last_text.get(norm)
        if seen is not None and t - seen < REPEAT_S:
            repeat[i] = 1.0
        last_text[norm] = t
        author = m.author
        if author:
            before = last_author.get(author)
            if before is None:
                new[i] = 1.0
            elif t - before < ENGAGE_S:
                weight[i] = 0.0
                continue  # the author's earlier message in this stretch keeps its place
            last_author[author] = t
    if lexicon is not None and n:
        cols["learned"] = lexicon.score_messages(msgs).astype(np.float32)
    return MessageTable(offsets=offsets, weight=weight, attrs=cols, authors_known=authors_known)

"""What is said: events found in transcribed words, for the transcript signal.

Consumes ``Word`` records (one spoken word each, seconds on the VOD timeline) and a streamer's
keyword list; produces ``Event``s (time, feature, the words that made it). Features:

- ``exclaim``: interjections ("oh my god", "no way", "what the", "dios mío"), a word Whisper wrote
  with "!", or one word said three times in a row ("no no no");
- ``hype``: hype phrases ("let's go", "insane", "clip it", "vamos", "increíble");
- ``laugh``: laughter written out ("haha", "jajaja", "lol", "[laughter]");
- ``burst``: speech that starts after at least ``burst_gap_s`` of silence and runs at least
  ``BURST_MIN_WORDS`` words within ``BURST_SPAN_S``;
- ``keyword``: any of the streamer's own keywords or phrases.

Matching is on lower-case words with accents and edge punctuation removed, so "Dios mío!" and
"dios mio" match alike. English and Spanish phrases are both listed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from detector.records import Word

FEATURES = ("exclaim", "hype", "laugh", "burst", "keyword")

EXCLAIM_PHRASES = (
    "oh my god", "oh my gosh", "oh my lord", "omg", "oh no", "no way", "what the", "wtf", "holy",
    "wow", "whoa", "woah", "jesus", "are you kidding", "are you serious", "oh shit", "shit", "fuck",
    "holy cow", "yikes", "oh snap", "get out", "bro what",
    "dios mio", "madre mia", "no puede ser", "que dices", "hostia", "joder", "ostia", "no mames",
    "ay dios", "que es eso",
)
HYPE_PHRASES = (
    "let's go", "lets go", "insane", "clip it", "clip that", "gg", "crazy", "unbelievable",
    "incredible", "amazing", "clutch", "pog", "poggers", "sheesh", "huge", "massive",
    "we did it", "get in", "oh baby", "epic",
    "vamos", "increible", "brutal", "locura", "que locura", "golazo", "clipealo", "clip eso",
    "tremendo", "lo logramos",
)
LAUGH_PATTERN = re.compile(r"^(?:(?:ha){2,}h?|(?:ja){2,}j?|(?:he){2,}|(?:ah){2,}|lol|lmao|lmfao|rofl|xd)$")
LAUGH_MARK = re.compile(r"laugh|risa", re.IGNORECASE)
"""Whisper sometimes writes laughter as a bracketed note: ``[laughter]``, ``(laughs)``, ``(risas)``."""

BURST_SPAN_S = 2.0
"""A burst is counted over this many seconds from its first word."""
BURST_MIN_WORDS = 3
REPEAT_RUN = 3
"""The same word said this many times in a row is an exclamation."""
_EDGE = re.compile(r"^[^\w']+|[^\w']+$")


@dataclass(frozen=True, slots=True)
class Event:
    """One thing said that the transcript signal scores."""

    t_s: float
    """When it was said (the middle of its words), VOD timeline."""
    feature: str
    text: str


def normalize(text: str) -> str:
    """Lower case, accents removed, punctuation trimmed from both ends: ``"Dios mío!"`` → ``"dios mio"``."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(t for t in (_EDGE.sub("", tok) for tok in plain.split()) if t)


def _phrases(items: Iterable[str]) -> list[tuple[str, ...]]:
    out = {tuple(normalize(p).split()) for p in items}
    return sorted((p for p in out if p), key=len, reverse=True)


def _match(tokens: Sequence[str], phrases: list[tuple[str, ...]]) -> list[tuple[int, int]]:
    """Non-overlapping ``(first, last)`` token spans of phrase matches, longest phrase first."""
    taken = [False] * len(tokens)
    spans: list[tuple[int, int]] = []
    for phrase in phrases:
        n = len(phrase)
        for i in range(len(tokens) - n + 1):
            if tuple(tokens[i:i + n]) == phrase and not any(taken[i:i + n]):
                taken[i:i + n] = [True] * n
                spans.append((i, i + n - 1))
    return spans


def find_events(words: Sequence[Word], keywords: Sequence[str] = (), burst_gap_s: float = 2.0,
                spans: Sequence[tuple[float, float]] = ()) -> list[Event]:
    """Every scored event in ``words`` (sorted by start). ``spans`` are the transcribed windows:
    silence before a window's first word only counts toward a burst when the window starts at 0."""
    tokens = [normalize(w.text) for w in words]
    events: list[Event] = []

    def add(first: int, last: int, feature: str) -> None:
        t = (words[first].start_s + words[last].end_s) / 2.0
        events.append(Event(t, feature, " ".join(w.text.strip() for w in words[first:last + 1])))

    # One normalized word may hold several tokens ("let's go" never, "oh-my-god" rarely): match on
    # word indices, splitting only for phrase lookup.
    flat: list[str] = []
    owner: list[int] = []
    for i, tok in enumerate(tokens):
        for part in tok.split() or [""]:
            flat.append(part)
            owner.append(i)
    for feature, phrases in (("exclaim", _phrases(EXCLAIM_PHRASES)), ("hype", _phrases(HYPE_PHRASES)),
                             ("keyword", _phrases(keywords))):
        for a, b in _match(flat, phrases):
            add(owner[a], owner[b], feature)
    for i, w in enumerate(words):
        if "!" in w.text:
            add(i, i, "exclaim")
        if LAUGH_PATTERN.match(tokens[i].replace(" ", "")) or LAUGH_MARK.search(w.text):
            add(i, i, "laugh")
    run = 1
    for i in range(1, len(tokens)):
        run = run + 1 if tokens[i] and tokens[i] == tokens[i - 1] else 1
        if run == REPEAT_RUN:
            add(i - REPEAT_RUN + 1, i, "exclaim")
    events.extend(_bursts(words, burst_gap_s, spans))
    return sorted(events, key=lambda e: e.t_s)


def _bursts(words: Sequence[Word], gap_s: float, spans: Sequence[tuple[float, float]]) -> list[Event]:
    out: list[Event] = []
    for i, w in enumerate(words):
        if i > 0 and not _new_span(words[i - 1], w, spans):
            silent_since = words[i - 1].end_s
        else:
            start = _span_start(w, spans)
            if start is None or start > 0.0:
                continue  # what came before the window was not transcribed
            silent_since = start
        if w.start_s - silent_since < gap_s:
            continue
        j = i
        while j + 1 < len(words) and words[j + 1].start_s < w.start_s + BURST_SPAN_S:
            j += 1
        if j - i + 1 >= BURST_MIN_WORDS:
            out.append(Event((w.start_s + words[j].end_s) / 2.0, "burst",
                             " ".join(x.text.strip() for x in words[i:j + 1])))
    return out


def _span_start(w: Word, spans: Sequence[tuple[float, float]]) -> float | None:
    for a, b in spans:
        if a <= w.start_s <= b:
            return a
    return 0.0 if not spans else None


def _new_span(prev: Word, w: Word, spans: Sequence[tuple[float, float]]) -> bool:
    """Whether ``w`` is the first word of a different transcribed window than ``prev``."""
    return bool(spans) and _span_start(prev, spans) != _span_start(w, spans)

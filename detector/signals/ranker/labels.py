"""Ranker stage, a community's labels → ``LabelledSpan``s to adapt from.

Consumes whatever labels a community has, each with the chat log of its VOD, and produces the
``LabelledSpan``s ``detector.signals.ranker.adapt`` fits on:

- **viewers' clips** (Helix, ``storage.twitch.viewer_clips``): each clip's stretch of the VOD is a
  moment people wanted to keep (weak labels: people clip late and unevenly, but many clips in one
  place mean something happened there);
- **members' votes** on posted clips: a clip voted up more than down is a moment; voted down more than
  up, a known miss;
- **labelled intervals** (a dataset laid out like the dev set: games.csv, labels.csv, chat files).

The labelled span of a VOD is its chat's extent (first to last message) unless a window is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from detector.records import ChatLog
from detector.signals.ranker.training import LabelledSpan

MAX_CLIP_S = 90.0
"""A viewer clip longer than this is cut to its last ``MAX_CLIP_S`` seconds (clips end near the moment)."""


@dataclass(frozen=True, slots=True)
class VotedSpan:
    """One posted clip and its votes."""

    start_s: float
    end_s: float
    up: int
    down: int


def chat_extent(chat: ChatLog) -> tuple[float, float]:
    if not chat.messages:
        return 0.0, 0.0
    return chat.messages[0].offset_s, chat.messages[-1].offset_s


def from_viewer_clips(key: str, chat: ChatLog, clips: Iterable[tuple[float, float]],
                      window: tuple[float, float] | None = None) -> LabelledSpan:
    """A VOD's viewer clips (``(start_s, end_s)`` on the VOD timeline) as its labelled moments."""
    start, end = window or chat_extent(chat)
    moments = []
    for a, b in clips:
        a = max(a, b - MAX_CLIP_S)
        if b > start and a < end and b > a:
            moments.append((max(a, start), min(b, end)))
    return LabelledSpan(key, chat, start, end, tuple(sorted(moments)))


def from_votes(key: str, chat: ChatLog, voted: Sequence[VotedSpan],
               window: tuple[float, float] | None = None) -> LabelledSpan:
    """Clips voted up (more 👍 than 👎) are moments; clips voted down are known misses."""
    start, end = window or chat_extent(chat)
    ups = tuple(sorted((v.start_s, v.end_s) for v in voted if v.up > v.down))
    downs = tuple(sorted((v.start_s, v.end_s) for v in voted if v.down > v.up))
    return LabelledSpan(key, chat, start, end, ups, downs)


def merge_spans(spans: Iterable[LabelledSpan]) -> list[LabelledSpan]:
    """One span per VOD key: moments and misses of the same VOD (e.g. viewer clips and votes) joined."""
    by_key: dict[str, LabelledSpan] = {}
    for span in spans:
        seen = by_key.get(span.key)
        if seen is None:
            by_key[span.key] = span
            continue
        by_key[span.key] = LabelledSpan(span.key, seen.chat, min(seen.start_s, span.start_s), max(seen.end_s, span.end_s),
                                        tuple(sorted((*seen.moments, *span.moments))),
                                        tuple(sorted((*seen.misses, *span.misses))))
    return list(by_key.values())

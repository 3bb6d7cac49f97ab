"""Ranker stage, training data: labelled chat → (features, is-a-moment) samples.

Consumes ``LabelledSpan``s — a chat log, the stretch of the VOD that was labelled and the labelled
moments inside it (intervals on the VOD timeline: a dataset's highlight intervals, viewers' clips,
clips members voted up) — and produces ``Samples``: the window features (``detector.signals.ranker.features``)
read at VOD times every ``step_s`` seconds of each span, at chat time ``t + lag``, with the target
*a clip centred at t would hit a moment* (the 20 s window around t overlaps one: the project's hit
rule), and the span each row came from (for leave-one-out). Spans may also carry moments known to be
*misses* (clips members voted down): those rows get their own weight.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from detector.records import ChatLog
from detector.signals.chat_learned import TokenWeights
from detector.signals.ranker.features import GRID_S, NAMES, WindowFeatures, window_features
from detector.signals.ranker.messages import message_table

HIT_HALF_S = 10.0
"""A clip centred at t hits a moment when ``[t − 10, t + 10)`` overlaps it (the eval's 20 s window)."""


@dataclass(frozen=True, slots=True)
class LabelledSpan:
    """A labelled stretch of one VOD's chat."""

    key: str
    """An id (game, VOD) for grouping rows."""
    chat: ChatLog
    start_s: float
    end_s: float
    moments: Sequence[tuple[float, float]]
    """Intervals people marked as highlights (VOD timeline)."""
    misses: Sequence[tuple[float, float]] = field(default_factory=tuple)
    """Intervals known *not* to be highlights (clips voted down); the rest of the span counts as
    unlabelled-negative."""


@dataclass(frozen=True, slots=True)
class Samples:
    x: np.ndarray
    """``(rows, len(names))`` feature values."""
    y: np.ndarray
    """1.0 where a clip centred there would hit a moment."""
    weight: np.ndarray
    groups: np.ndarray
    """Index of the span each row came from."""
    names: tuple[str, ...]
    keys: tuple[str, ...]


def chat_features(chat: ChatLog, lexicon: TokenWeights | None = None, hop_s: float = GRID_S) -> WindowFeatures:
    """The window features of a whole chat log (what the chat signal computes)."""
    n_bins = int(np.ceil(chat.duration_s / hop_s)) + 1
    return window_features(message_table(chat, lexicon=lexicon), n_bins, hop_s)


def overlap_mask(times: np.ndarray, intervals: Iterable[tuple[float, float]], half: float = HIT_HALF_S) -> np.ndarray:
    """Whether ``[t − half, t + half)`` overlaps any interval, per time."""
    hit = np.zeros(len(times), dtype=bool)
    for a, b in intervals:
        hit |= (times + half > a) & (times - half < b)
    return hit


def span_samples(span: LabelledSpan, feats: WindowFeatures, lag_s: float, step_s: float = 1.0,
                 names: Sequence[str] = NAMES, miss_weight: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows for one span: features at chat time ``t + lag_s`` for VOD times ``t`` every ``step_s``."""
    times = np.arange(span.start_s + HIT_HALF_S, span.end_s - HIT_HALF_S, step_s)
    bins = np.clip(np.round((times + lag_s) / feats.hop_s).astype(np.int64), 0, feats.matrix.shape[1] - 1)
    rows = np.vstack([feats.row(n)[bins] for n in names]).T
    y = overlap_mask(times, span.moments).astype(np.float64)
    w = np.ones(len(times))
    if span.misses:
        w[overlap_mask(times, span.misses) & (y == 0)] = miss_weight
    return rows, y, w


def build_samples(spans: Sequence[LabelledSpan], lag_s: float, *, step_s: float = 1.0, names: Sequence[str] = NAMES,
                  lexicon: TokenWeights | None = None, miss_weight: float = 1.0,
                  features: dict[str, WindowFeatures] | None = None) -> Samples:
    """Samples of every span (each span's rows weighted so every span counts the same in total).

    ``features`` caches each span's window features by ``key`` (computed when missing)."""
    xs, ys, ws, gs = [], [], [], []
    cache = features if features is not None else {}
    for i, span in enumerate(spans):
        if span.key not in cache:
            cache[span.key] = chat_features(span.chat, lexicon)
        x, y, w = span_samples(span, cache[span.key], lag_s, step_s, names, miss_weight)
        if len(y) == 0:
            continue
        xs.append(x)
        ys.append(y)
        ws.append(w * (600.0 / len(y)))  # every span weighs as much as ten minutes of samples
        gs.append(np.full(len(y), i))
    if not xs:
        return Samples(np.zeros((0, len(names))), np.zeros(0), np.zeros(0), np.zeros(0, np.int64), tuple(names),
                       tuple(s.key for s in spans))
    return Samples(np.vstack(xs), np.concatenate(ys), np.concatenate(ws), np.concatenate(gs), tuple(names),
                   tuple(s.key for s in spans))

"""Evaluation stage: score ranked clips against labelled highlight intervals.

Consumes a ranker's clips, ``[(start_s, end_s), ...]`` ranked best first (extra tuple fields such
as a score are ignored), and a game's label intervals ``[(start_s, end_s), ...]`` (end exclusive);
produces the numbers the project reports (see the dataset README):

- P@K: share of the top-K clips that are hits. A clip is a *hit* when the ``window_s`` (20 s)
  window centred on its midpoint overlaps a labelled interval, so longer clips gain nothing.
- AP: AP@10 with the same hits, divided by ``min(10, number of labelled intervals)``.
- F1s: per-second F1 of the union of the top-10 clips' seconds against the union of labels.
- len: mean length of the top-10 clips, in seconds.

All functions are pure and work on plain sequences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from detector.eval.dataset import Game

Interval = Sequence[float]
"""``(start_s, end_s, ...)``: only the first two fields are read."""

HIT_WINDOW_S = 20.0
TOP_K = 10


def is_hit(clip: Interval, labels: Sequence[Interval], window_s: float = HIT_WINDOW_S) -> bool:
    """True when the ``window_s`` window centred on the clip's midpoint overlaps a label.

    Overlap means a shared stretch of positive length: the window ``[mid - w/2, mid + w/2)`` and a
    label ``[a, b)`` overlap when ``mid - w/2 < b`` and ``a < mid + w/2`` (touching is not a hit).
    """
    mid = (float(clip[0]) + float(clip[1])) / 2.0
    lo, hi = mid - window_s / 2.0, mid + window_s / 2.0
    return any(lo < float(b) and float(a) < hi for a, b, *_ in labels)


def hits(clips: Sequence[Interval], labels: Sequence[Interval], window_s: float = HIT_WINDOW_S) -> list[bool]:
    """``is_hit`` for each clip, in rank order."""
    return [is_hit(c, labels, window_s) for c in clips]


def precision_at_k(
    clips: Sequence[Interval], labels: Sequence[Interval], k: int, window_s: float = HIT_WINDOW_S
) -> float:
    """Hits among the first ``k`` clips, divided by ``k``.

    When fewer than ``k`` clips are given, the missing ranks count as misses (the denominator
    stays ``k``), so a ranker cannot raise its precision by returning fewer clips.
    """
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    return sum(hits(clips[:k], labels, window_s)) / k


def average_precision_at_k(
    clips: Sequence[Interval], labels: Sequence[Interval], k: int = TOP_K, window_s: float = HIT_WINDOW_S
) -> float:
    """AP@k: the sum, over each hit among the first ``k`` clips, of the precision at its rank,
    divided by ``min(k, number of labelled intervals)``.

    Missing ranks (fewer than ``k`` clips) add nothing. With no labels the result is 0.0. Several
    clips may hit the same label, so with fewer labels than hits the sum could exceed the
    denominator; the result is capped at 1.0 (this never matters when a game has ``k`` or more
    labels).
    """
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    denom = min(k, len(labels))
    if denom == 0:
        return 0.0
    total, found = 0.0, 0
    for rank, hit in enumerate(hits(clips[:k], labels, window_s), start=1):
        if hit:
            found += 1
            total += found / rank
    return min(1.0, total / denom)


def _second_mask(intervals: Sequence[Interval], first: int, n: int) -> np.ndarray:
    """Boolean mask over the integer seconds ``first .. first+n-1``: second ``t`` (the stretch
    ``[t, t+1)``) is covered by ``[a, b)`` when its centre ``t + 0.5`` lies in ``[a, b)``."""
    if n <= 0 or not intervals:
        return np.zeros(max(n, 0), dtype=bool)
    mask = np.zeros(n + 1, dtype=np.int64)
    arr = np.asarray([(float(iv[0]), float(iv[1])) for iv in intervals], dtype=np.float64)
    lo = np.clip(np.ceil(arr[:, 0] - 0.5).astype(np.int64) - first, 0, n)
    hi = np.clip(np.ceil(arr[:, 1] - 0.5).astype(np.int64) - first, 0, n)
    keep = hi > lo
    np.add.at(mask, lo[keep], 1)
    np.add.at(mask, hi[keep], -1)
    return np.cumsum(mask[:n]) > 0


def per_second_f1(
    clips: Sequence[Interval], labels: Sequence[Interval], start_s: float, end_s: float
) -> float:
    """Per-second F1 of the union of the clips' seconds against the union of the labels' seconds.

    Time is cut into integer seconds ``[t, t+1)``; an interval covers second ``t`` when ``t + 0.5``
    lies inside it (so integer intervals ``[a, b)`` cover exactly ``a .. b-1``). Only seconds
    inside the game window ``[start_s, end_s)`` count. Overlapping clips count each second once.
    Returns 0.0 when there are no labelled seconds or no clip seconds in the window.
    """
    first = math.ceil(start_s - 0.5)
    n = math.ceil(end_s - 0.5) - first
    if n <= 0:
        return 0.0
    pred = _second_mask(clips, first, n)
    true = _second_mask(labels, first, n)
    denom = int(pred.sum()) + int(true.sum())
    if denom == 0 or not true.any():
        return 0.0
    return 2.0 * int(np.count_nonzero(pred & true)) / denom


def mean_length(clips: Sequence[Interval]) -> float:
    """Mean ``end - start`` of the clips in seconds; 0.0 for no clips."""
    if not clips:
        return 0.0
    return sum(float(c[1]) - float(c[0]) for c in clips) / len(clips)


def score_game(clips: Sequence[Interval], game: Game, top_k: int = TOP_K) -> dict[str, float]:
    """All reported metrics for one game's ranked clips.

    Keys: ``p5``, ``p10`` (P@5, P@10), ``ap`` (AP@``top_k``), ``f1s`` (per-second F1 of the top
    ``top_k`` clips) and ``len`` (their mean length, seconds).
    """
    top = list(clips[:top_k])
    return {
        "p5": precision_at_k(top, game.labels, 5),
        "p10": precision_at_k(top, game.labels, 10),
        "ap": average_precision_at_k(top, game.labels, top_k),
        "f1s": per_second_f1(top, game.labels, game.start_s, game.end_s),
        "len": mean_length(top),
    }


METRICS: tuple[str, ...] = ("p5", "p10", "ap", "f1s", "len")
"""The keys of :func:`score_game`, in report order."""

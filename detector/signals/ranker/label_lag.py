"""Ranker stage, a community's chat lag read from its own labels.

Consumes a ranker model and ``LabelledSpan``s (a community's labelled moments with their chat);
produces ``LabelLag``: the shift ``L`` (seconds) at which the model's score read at chat time ``t + L``
best separates the labelled seconds ``t`` from the rest (the area under the ROC curve, pooled over
the spans), or None when the labels say too little. How late chat reacts differs between
communities — an esports broadcast's chat trails the picture by ~20 s, a streamer's low-latency chat
by much less — and a community's own labels are the one place the detector can measure it without
audio. ``adapt`` fits the community's ranker at this lag, and detection reads that community's chat
at it.

The curve is smoothed over ``SMOOTH_S`` before its maximum is taken (its top is broad), and the
estimate is kept only when the labels separate at all (``MIN_AUC``) and the maximum stands clear of
the curve's ends; otherwise the caller keeps its prior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detector.signals.ranker.model import RankerModel
from detector.signals.ranker.training import LabelledSpan, chat_features, overlap_mask

GRID_S: tuple[float, ...] = tuple(float(x) for x in range(0, 41))
"""Lags tried, in seconds."""
SMOOTH_S = 5
"""Width (grid points) of the moving average over the separation curve."""
MIN_AUC = 0.55
"""Below this, the labels do not line up with chat at any lag: no estimate."""
STEP_S = 1.0


@dataclass(frozen=True, slots=True)
class LabelLag:
    lag_s: float
    auc: float
    """Separation (ROC area) at ``lag_s``: 0.5 is none, 1 is perfect."""
    curve: tuple[tuple[float, float], ...]
    """``(lag, smoothed auc)`` for every lag tried."""


def label_lag(model: RankerModel, spans: Sequence[LabelledSpan], *, grid: Sequence[float] = GRID_S
              ) -> LabelLag | None:
    """The lag at which ``model`` best finds the spans' moments (see the module docstring)."""
    values: list[list[np.ndarray]] = [[] for _ in grid]
    inside: list[np.ndarray] = []
    for span in spans:
        if not span.moments or span.end_s - span.start_s < 60:
            continue
        feats = chat_features(span.chat, model.lexicon)
        logit = model.logit(feats)
        times = np.arange(span.start_s, span.end_s, STEP_S)
        inside.append(overlap_mask(times, span.moments, half=0.0))
        for k, lag in enumerate(grid):
            bins = np.clip(np.round((times + lag) / feats.hop_s).astype(np.int64), 0, len(logit) - 1)
            values[k].append(logit[bins])
    if not inside:
        return None
    y = np.concatenate(inside)
    if y.all() or not y.any():
        return None
    aucs = np.array([_auc(np.concatenate(v), y) for v in values])
    width = min(SMOOTH_S, len(aucs))
    smooth = np.convolve(np.pad(aucs, (width // 2, width - 1 - width // 2), mode="edge"), np.ones(width) / width, "valid")
    best = int(np.argmax(smooth))
    curve = tuple((float(lag), round(float(a), 4)) for lag, a in zip(grid, smooth))
    if smooth[best] < MIN_AUC or best in (0, len(grid) - 1):
        return None
    return LabelLag(float(grid[best]), float(smooth[best]), curve)


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Mann–Whitney ROC area of ``scores`` for ``positive`` (ties share ranks)."""
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    # Average the ranks of tied scores.
    sorted_scores = scores[order]
    edges = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges, [len(scores)]))
    mean_rank = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(mean_rank, ends - starts)
    n_pos = int(positive.sum())
    n_neg = len(scores) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))

"""Signals stage, segment features: the step grid every per-step feature of the segmenter lies on.

Step ``i`` covers ``[i * step_s, (i + 1) * step_s)`` of the VOD. Consumed by the picture and sound
passes (``segment_pictures``, ``segment_sound``) and the feature record (``segment_features``):
:func:`step_count` says how many steps cover a duration, :func:`on_steps` averages irregular
samples (keyframes) onto the steps, holding the last one through steps without a sample.
"""

from __future__ import annotations

import numpy as np


def step_count(duration_s: float, step_s: float) -> int:
    return max(int(np.ceil(duration_s / step_s - 1e-9)), 1)


def on_steps(t: np.ndarray, v: np.ndarray, n: int, step_s: float) -> np.ndarray:
    """Mean of the samples ``v`` (at sorted times ``t``) in each step; a step without one holds the
    latest sample before it (the first sample before any)."""
    out = np.empty(n)
    if len(t) == 0:
        out[:] = 0.0
        return out
    idx = np.clip((t // step_s).astype(np.int64), 0, n - 1)
    total = np.bincount(idx, weights=v, minlength=n)[:n]
    count = np.bincount(idx, minlength=n)[:n]
    have = count > 0
    last = np.maximum.accumulate(np.where(have, np.arange(n), -1))
    means = np.where(have, total / np.maximum(count, 1), 0.0)
    out = np.where(last >= 0, means[np.maximum(last, 0)], means[int(np.argmax(have))])
    return out

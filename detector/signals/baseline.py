"""Robust local baselines for signal features.

A feature is compared with its own neighbourhood, not with the whole VOD: a rolling median and
median absolute deviation (MAD) over ``window_s`` seconds, computed on a coarse grid and
interpolated, so the cost stays small for any VOD length. Output is a robust z-score
``(x - median) / scale`` where ``scale = max(1.4826 * MAD, min_scale)``.
"""

from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.4826


def rolling_median_mad(x: np.ndarray, hop_s: float, window_s: float, *, points_per_window: int = 20
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Rolling median and MAD of ``x`` over a centred window of ``window_s`` seconds."""
    n = len(x)
    if n == 0:
        empty = np.zeros(0, dtype=np.float32)
        return empty, empty
    half = max(int(window_s / hop_s / 2), 1)
    step = max((2 * half) // points_per_window, 1)
    centres = np.arange(0, n, step)
    if centres[-1] != n - 1:
        centres = np.append(centres, n - 1)
    values = np.asarray(x, dtype=np.float32)
    med = np.empty(len(centres), dtype=np.float32)
    mad = np.empty(len(centres), dtype=np.float32)
    # Windows wholly inside the series: one vectorised median over a strided view.
    inner = (centres >= half) & (centres + half < n)
    if inner.any():
        windows = np.lib.stride_tricks.sliding_window_view(values, 2 * half + 1)[centres[inner] - half]
        m = np.median(windows, axis=1)
        med[inner] = m
        mad[inner] = np.median(np.abs(windows - m[:, None]), axis=1)
    # Windows cut by the series' ends: the few left over, one at a time.
    for i in np.flatnonzero(~inner):
        c = centres[i]
        window = values[max(c - half, 0): c + half + 1]
        med[i] = np.median(window)
        mad[i] = np.median(np.abs(window - med[i]))
    grid = np.arange(n)
    return (np.interp(grid, centres, med).astype(np.float32),
            np.interp(grid, centres, mad).astype(np.float32))


def robust_z(x: np.ndarray, hop_s: float, window_s: float, *, min_scale: float | np.ndarray = 1e-6
             ) -> tuple[np.ndarray, np.ndarray]:
    """Robust z-score of ``x`` against its local baseline; returns ``(z, baseline_median)``."""
    med, mad = rolling_median_mad(x, hop_s, window_s)
    scale = np.maximum(MAD_TO_SIGMA * mad, min_scale)
    return ((x - med) / scale).astype(np.float32), med

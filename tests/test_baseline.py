"""Robust local baselines: the fast rolling median/MAD equals a direct computation."""

from __future__ import annotations

import numpy as np
import pytest

from detector.signals.baseline import MAD_TO_SIGMA, robust_z, rolling_median_mad


def reference(x: np.ndarray, half: int, i: int) -> tuple[float, float]:
    window = x[max(i - half, 0): i + half + 1]
    med = float(np.median(window))
    return med, float(np.median(np.abs(window - med)))


@pytest.mark.parametrize("n, window_s", [(5000, 300.0), (50, 300.0), (1, 10.0), (777, 20.0)])
def test_rolling_median_mad_matches_direct_computation_on_its_grid(n: int, window_s: float) -> None:
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 3 + 7
    med, mad = rolling_median_mad(x, 0.5, window_s)
    half = max(int(window_s / 0.5 / 2), 1)
    step = max((2 * half) // 20, 1)
    for i in list(range(0, n, step))[:: max(n // step // 25, 1)] + [n - 1]:
        ref_med, ref_mad = reference(x, half, i)
        assert med[i] == pytest.approx(ref_med, abs=1e-5)
        assert mad[i] == pytest.approx(ref_mad, abs=1e-5)


def test_robust_z_of_a_spike_on_noise() -> None:
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    x[2000] = 10.0
    z, base = robust_z(x, 0.5, 300.0)
    assert z.argmax() == 2000 and 8 < z[2000] < 12
    assert abs(float(np.median(base))) < 0.2
    _, mad = rolling_median_mad(x, 0.5, 300.0)
    assert float(np.median(MAD_TO_SIGMA * mad)) == pytest.approx(1.0, abs=0.1)


def test_min_scale_holds_on_a_flat_series() -> None:
    z, _ = robust_z(np.zeros(100, dtype=np.float32) + np.eye(1, 100, 50, dtype=np.float32)[0], 0.5, 20.0,
                    min_scale=0.5)
    assert z.max() == pytest.approx(2.0)

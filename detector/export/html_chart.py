"""Output stage, HTML report: one signal track over the whole VOD as an inline SVG timeline.

Consumes a ``SignalTrack`` and the candidates; produces an ``<svg>`` string with the track as a
polyline (min/max-downsampled so peaks survive), the candidates as shaded bands that link to their
card (``#clip-N``), a zero line, an optional threshold line and an ``H:MM:SS`` time axis.
No scripts and no external references.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

from detector.export.timefmt import hms
from detector.records import Candidate, SignalTrack

MAX_POINTS = 2000
WIDTH, HEIGHT = 1200, 150
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 22, 22
"""Plot margins in SVG units: y labels on the left, rank labels on top, the time axis below."""
_NICE_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)


def minmax_downsample(values: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices into ``values`` that keep each bucket's minimum and maximum, in time order.

    At most ``max_points`` indices; a bucket that is all NaN yields indices of NaN values, which
    the plot turns into a gap. Short tracks are returned whole.
    """
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    buckets = max(max_points // 2, 1)
    size = math.ceil(n / buckets)
    rows = math.ceil(n / size)
    padded = np.full(rows * size, np.nan)
    padded[:n] = values
    grid = padded.reshape(rows, size)
    nan = np.isnan(grid)
    lo = np.argmin(np.where(nan, np.inf, grid), axis=1)
    hi = np.argmax(np.where(nan, -np.inf, grid), axis=1)
    first, second = np.minimum(lo, hi), np.maximum(lo, hi)
    base = np.arange(rows) * size
    idx = np.stack([base + first, base + second], axis=1).reshape(-1)
    idx = np.minimum(idx, n - 1)
    # Drop the repeated index of a bucket whose min and max are the same sample.
    keep = np.ones(len(idx), dtype=bool)
    keep[1:] = idx[1:] != idx[:-1]
    return idx[keep]


@dataclass(frozen=True, slots=True)
class Axis:
    """Maps VOD seconds and track values to SVG coordinates."""

    duration_s: float
    lo: float
    hi: float

    def x(self, t: float) -> float:
        frac = min(max(t / self.duration_s, 0.0), 1.0) if self.duration_s > 0 else 0.0
        return LEFT + frac * (WIDTH - LEFT - RIGHT)

    def y(self, v: float) -> float:
        frac = (v - self.lo) / (self.hi - self.lo)
        return TOP + (1.0 - frac) * (HEIGHT - TOP - BOTTOM)


def value_range(values: np.ndarray, threshold: float | None = None) -> tuple[float, float]:
    """A y range that holds every finite value, zero and the threshold, with a little headroom."""
    finite = values[np.isfinite(values)]
    points = [0.0] + ([threshold] if threshold is not None and math.isfinite(threshold) else [])
    lo = min([float(finite.min())] + points) if finite.size else min(points)
    hi = max([float(finite.max())] + points) if finite.size else max(points)
    if hi - lo < 1e-9:
        hi = lo + 1.0
    pad = 0.06 * (hi - lo)
    return lo - pad * 0.3, hi + pad


def time_ticks(duration_s: float, max_ticks: int = 10) -> list[float]:
    """Tick times at a round step (1 s … 12 h) so that at most ``max_ticks`` + 1 ticks fit."""
    if duration_s <= 0:
        return [0.0]
    step = next((s for s in _NICE_STEPS_S if duration_s / s <= max_ticks), _NICE_STEPS_S[-1])
    return [float(t) for t in np.arange(0.0, duration_s + 1e-9, step)]


def _polylines(track: SignalTrack, axis: Axis, colour: str) -> list[str]:
    values = np.asarray(track.values, dtype=float)
    if values.size == 0:
        return []
    idx = minmax_downsample(values)
    times = track.start_s + track.hop_s * (idx + 0.5)
    ys = values[idx]
    runs: list[list[tuple[float, float]]] = [[]]
    for t, v in zip(times.tolist(), ys.tolist()):
        if math.isfinite(v):
            runs[-1].append((axis.x(t), axis.y(v)))
        elif runs[-1]:
            runs.append([])
    out = []
    for run in runs:
        if len(run) == 1:  # a lone sample between gaps still shows, as a short tick
            run.append((run[0][0] + 1.0, run[0][1]))
        if run:
            out.append(" ".join(f"{x:.1f},{y:.1f}" for x, y in run))
    return [f'<polyline class="trace" points="{pts}" stroke="{colour}"/>' for pts in out]


def _bands(candidates: Sequence[Candidate], axis: Axis) -> list[str]:
    parts = []
    # Alternate label rows in time order so neighbouring ranks do not print over each other.
    for row, c in enumerate(sorted(candidates, key=lambda c: c.start_s)):
        x0, x1 = axis.x(c.start_s), axis.x(c.end_s)
        w = max(x1 - x0, 2.0)
        tip = escape(f"#{c.rank}  {hms(c.start_s)}–{hms(c.end_s)}  score {c.score:.2f}")
        label_y = 10 if row % 2 == 0 else 20
        parts.append(
            f'<a href="#clip-{int(c.rank)}"><title>{tip}</title>'
            f'<rect class="band" x="{x0:.1f}" y="{TOP}" width="{w:.1f}" height="{HEIGHT - TOP - BOTTOM}"/>'
            f'<text class="rank" x="{x0 + w / 2:.1f}" y="{label_y}">{int(c.rank)}</text></a>'
        )
    return parts


def _frame(axis: Axis, threshold: float | None) -> list[str]:
    x0, x1 = LEFT, WIDTH - RIGHT
    bottom = HEIGHT - BOTTOM
    parts = [f'<rect class="plot" x="{x0}" y="{TOP}" width="{x1 - x0}" height="{bottom - TOP}"/>']
    for t in time_ticks(axis.duration_s):
        x = axis.x(t)
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}"/>')
        anchor = "start" if t == 0 else "end" if x > WIDTH - RIGHT - 30 else "middle"
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{bottom + 15}" text-anchor="{anchor}">{hms(t)}</text>'
        )
    if axis.lo < 0 < axis.hi:
        y0 = axis.y(0.0)
        parts.append(f'<line class="zero" x1="{x0}" y1="{y0:.1f}" x2="{x1}" y2="{y0:.1f}"/>')
    if threshold is not None and math.isfinite(threshold):
        yt = axis.y(threshold)
        parts.append(f'<line class="threshold" x1="{x0}" y1="{yt:.1f}" x2="{x1}" y2="{yt:.1f}"/>')
    for v in (axis.hi, 0.0 if axis.lo < 0 < axis.hi else axis.lo):
        parts.append(
            f'<text class="ylab" x="{x0 - 6}" y="{axis.y(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>'
        )
    return parts


def _threshold_label(axis: Axis, threshold: float | None) -> list[str]:
    """Drawn last, over the trace, so it stays readable."""
    if threshold is None or not math.isfinite(threshold):
        return []
    yt = axis.y(threshold)
    label = f"threshold {threshold:g}"
    return [
        f'<text class="ylab thr" x="{WIDTH - RIGHT - 4}" y="{yt - 3:.1f}" text-anchor="end">{label}</text>'
    ]


def track_svg(
    track: SignalTrack,
    candidates: Sequence[Candidate],
    duration_s: float,
    colour: str,
    *,
    threshold: float | None = None,
) -> str:
    """The whole-VOD timeline of one track as an ``<svg>`` element."""
    values = np.asarray(track.values, dtype=float)
    lo, hi = value_range(values, threshold)
    axis = Axis(duration_s=max(duration_s, 1e-9), lo=lo, hi=hi)
    body = (
        _frame(axis, threshold)
        + _bands(candidates, axis)
        + _polylines(track, axis, colour)
        + _threshold_label(axis, threshold)
    )
    label = escape(f"{track.name} over the VOD")
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}">'
        + "".join(body)
        + "</svg>"
    )

"""Ranker stage, per window: scale-free chat features around every moment of the chat timeline.

Consumes a ``MessageTable`` and a bin grid (``hop_s``); produces ``WindowFeatures``: one row per
feature, one column per bin of *chat* time ``τ``, each describing the chat in windows around ``τ``
(fusion later shifts the chat timeline back by the reaction lag, so ``τ`` is when chat reacts to the
moment). Every feature is relative to the VOD's own chat, so a quiet channel and a busy one are
compared on the same footing:

- ``rate_wide`` / ``rate_now``: log of the engaged-message rate in the wide / near window over its
  local baseline (the rolling median of the 15 s rate over ``BASELINE_S``);
- ``rise``: the near window's log rate minus the log rate before it (how sharply chat wakes up);
- ``burst``: the busiest 3 s inside the wide window against the window's mean (a crowd reacting at once);
- share features, each the window's share of messages minus the VOD's own share (shrunk toward it
  when the window holds few messages): ``react_*`` (the hand lexicon's reactions), the kinds of
  reaction ``laugh_wide``, ``hype_wide``, ``shock_wide``, ``gaming_wide`` (gg, ez, throw…), ``caps_wide``,
  ``emote_wide``, ``question_wide``, ``exclaim_wide``, ``repeat_wide`` (copypasta),
  ``new_wide`` (first-time chatters; 0 without authors), ``learned_wide`` (a community lexicon's score;
  0 without one);
- ``length_wide``: log of the mean message length over the VOD's mean (excited chat is short);
- spike features ``react_spike``, ``laugh_spike``, ``hype_spike``, ``shock_spike``, ``gaming_spike``: log of
  the wide window's rate of that kind of message over the kind's own local baseline (a rolling median
  over ``BASELINE_S``), so a kind that is rare in this chat counts when it bursts, whatever else chat
  says at the time. The additive floor is a quarter of the kind's median rate plus ``SPIKE_FLOOR`` of the
  median message rate (so a small chat and a busy one read alike), and never less than one message per
  wide window (so in a quiet chat one "gg" is not a burst).

Windows are in seconds of chat time relative to ``τ``: wide ``[-15, +30)``, near ``[-5, +10)``,
before ``[-45, -10)``. Costs are a few cumulative sums over the grid, so any VOD length is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.signals.baseline import rolling_median_mad
from detector.signals.ranker.messages import MessageTable

FEATURES_VERSION = 1
GRID_S = 0.5
"""The bins features are trained and read on: the signals' common timebase (``detector.signals.base.HOP_S``,
which this package must not import: the base imports the ranker's model type; a test checks they agree)."""
WINDOWS = {"wide": (-15.0, 30.0), "now": (-5.0, 10.0), "before": (-45.0, -10.0), "rate": (-7.5, 7.5)}
"""Window name → (start, end) in seconds of chat time relative to the bin."""
BASELINE_S = 600.0
"""The local baseline of the message rate: a rolling median over this many seconds."""
SHRINK_MESSAGES = 5.0
"""Shares in a window are pulled toward the VOD's share as if it held this many more messages."""
BURST_S = 3.0
SHARES = ("react", "caps", "laugh", "emote", "question", "exclaim", "repeat", "new", "learned", "hype", "shock",
          "gaming")
SPIKES = ("react", "laugh", "hype", "shock", "gaming")
SPIKE_FLOOR = 0.01
"""A kind's spike adds this share of the VOD's median message rate to both sides of its ratio."""
NAMES: tuple[str, ...] = ("rate_wide", "rate_now", "rise", "burst", "react_wide", "react_now",
                          *(f"{s}_wide" for s in SHARES[1:]), "length_wide", *(f"{s}_spike" for s in SPIKES))
"""Every feature this module computes, in a fixed order."""


@dataclass(frozen=True, slots=True)
class WindowFeatures:
    hop_s: float
    names: tuple[str, ...]
    matrix: np.ndarray
    """``(len(names), bins)`` float32."""
    rate: np.ndarray
    """Engaged messages per second over the 15 s window, per bin (for explanations and checks)."""
    baseline: np.ndarray
    """Its local baseline, per bin."""
    active: slice
    """The bins between the first and the last message: VOD-wide statistics are taken over these only
    (a log that starts late, or covers one game of a long VOD, is not compared with empty hours)."""

    def row(self, name: str) -> np.ndarray:
        return self.matrix[self.names.index(name)]


def _box(cum: np.ndarray, n: int, lo: int, width: int) -> np.ndarray:
    """Sum of the per-bin values over bins ``[i + lo, i + lo + width)`` for each ``i`` (0 outside)."""
    i = np.arange(n)
    a = np.clip(i + lo, 0, n)
    b = np.clip(i + lo + width, 0, n)
    return cum[b] - cum[a]


def window_features(table: MessageTable, n_bins: int, hop_s: float) -> WindowFeatures:
    """Every feature of ``NAMES`` on ``n_bins`` bins of ``hop_s`` seconds of chat time."""
    n = max(int(n_bins), 1)
    idx = np.minimum((table.offsets / hop_s).astype(np.int64), n - 1) if len(table) else np.zeros(0, np.int64)
    w = table.weight.astype(np.float64)
    per_bin = {"msg": np.bincount(idx, weights=w, minlength=n)}
    for name, values in table.attrs.items():
        per_bin[name] = np.bincount(idx, weights=w * values, minlength=n)
    per_bin["length"] = np.bincount(idx, weights=w * table.attrs["length"], minlength=n)
    cums = {k: np.concatenate(([0.0], np.cumsum(v))) for k, v in per_bin.items()}

    def span(window: str) -> tuple[int, int, float]:
        lo, hi = WINDOWS[window]
        a, b = int(round(lo / hop_s)), int(round(hi / hop_s))
        return a, b - a, (b - a) * hop_s

    def total(key: str, window: str) -> np.ndarray:
        lo, width, _ = span(window)
        return _box(cums[key], n, lo, width)

    _, _, rate_s = span("rate")
    rate = total("msg", "rate") / rate_s
    active = slice(int(idx[0]), int(idx[-1]) + 1) if len(idx) else slice(0, n)
    base = np.empty(n, dtype=np.float64)
    _local_baseline(rate, active, hop_s, out=base)
    typical = float(np.median(rate[active]))
    eps = 0.25 * typical + 0.02

    def log_rate(window: str) -> np.ndarray:
        _, _, seconds = span(window)
        return np.log((total("msg", window) / seconds + eps) / (base + eps))

    all_msgs = float(per_bin["msg"].sum())
    m_wide, m_now = total("msg", "wide"), total("msg", "now")
    feats: dict[str, np.ndarray] = {"rate_wide": log_rate("wide"), "rate_now": log_rate("now")}
    feats["rise"] = feats["rate_now"] - log_rate("before")
    feats["burst"] = _burst(per_bin["msg"], m_wide, span("wide"), hop_s)
    k = SHRINK_MESSAGES
    for share in SHARES:
        p = (float(per_bin[share].sum()) + (1.0 if share != "learned" else 0.0)) / (all_msgs + 2.0)
        feats[f"{share}_wide"] = (total(share, "wide") + k * p) / (m_wide + k) - p
        if share == "react":
            feats["react_now"] = (total(share, "now") + k * p) / (m_now + k) - p
    mean_len = max(float(per_bin["length"].sum()) / max(all_msgs, 1.0), 1.0)
    feats["length_wide"] = np.log((total("length", "wide") + k * mean_len) / (m_wide + k) / mean_len)
    _, _, wide_s = span("wide")
    for kind in SPIKES:
        kind_rate = total(kind, "rate") / rate_s
        kind_base = _local_baseline(kind_rate, active, hop_s)
        floor = 0.25 * float(np.median(kind_rate[active])) + SPIKE_FLOOR * typical + 1.0 / wide_s
        feats[f"{kind}_spike"] = np.log((total(kind, "wide") / wide_s + floor) / (kind_base + floor))
    matrix = np.vstack([feats[name] for name in NAMES]).astype(np.float32)
    return WindowFeatures(hop_s=hop_s, names=NAMES, matrix=matrix, rate=rate.astype(np.float32),
                          baseline=base.astype(np.float32), active=active)


def _local_baseline(rate: np.ndarray, active: slice, hop_s: float, out: np.ndarray | None = None) -> np.ndarray:
    """The rolling median of ``rate`` over ``BASELINE_S`` inside ``active``, held flat outside it."""
    base = np.empty(len(rate), dtype=np.float64) if out is None else out
    inner, _ = rolling_median_mad(rate[active].astype(np.float32), hop_s, BASELINE_S)
    base[active] = inner
    base[: active.start] = inner[0]
    base[active.stop:] = inner[-1]
    return base


def _burst(msg: np.ndarray, m_wide: np.ndarray, wide: tuple[int, int, float], hop_s: float) -> np.ndarray:
    """log((busiest ``BURST_S`` count in the wide window + 1) / (the window's mean ``BURST_S`` count + 1))."""
    n = len(msg)
    lo, width, seconds = wide
    k = max(int(round(BURST_S / hop_s)), 1)
    cum = np.concatenate(([0.0], np.cumsum(msg)))
    short = _box(cum, n, 0, k)  # count in [j, j + k)
    span_len = max(width - k + 1, 1)
    padded = np.concatenate((np.zeros(max(-lo, 0)), short, np.zeros(span_len + max(lo, 0))))
    start = np.arange(n) + lo + max(-lo, 0)
    peak = np.lib.stride_tricks.sliding_window_view(padded, span_len)[start].max(axis=1)
    mean = m_wide / seconds * BURST_S
    return np.log((peak + 1.0) / (mean + 1.0))

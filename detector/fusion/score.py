"""Fusion score: signal tracks aligned onto the VOD timeline and weighted into one score.

Consumes the signals' ``SignalTrack``s (the chat track on the chat timeline, shifted back by the
reaction lag here) and the settings; produces the aligned feature matrix and the fused track.
Each feature ``f`` of track ``t`` is weighted by the parameter ``w_<t>_<f>``; the fused score is
the weighted sum divided by the total weight of the features present, so chat-only, audio-only and
both stay on the same scale for ``threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.params import Settings
from detector.records import SignalTrack


@dataclass(frozen=True, slots=True)
class AlignedFeatures:
    """Every weighted feature on one grid starting at 0 on the VOD timeline."""

    hop_s: float
    names: tuple[str, ...]
    """``track.feature`` names, one per row of ``matrix``."""
    matrix: np.ndarray
    weights: np.ndarray


def align(tracks: dict[str, SignalTrack], n_bins: int, shifts_s: dict[str, float],
          settings: Settings, hop_s: float) -> AlignedFeatures:
    """Put each track's features on the VOD grid; a track's value at VOD time t is read at
    t + shift (the chat lag for chat)."""
    names: list[str] = []
    rows: list[np.ndarray] = []
    weights: list[float] = []
    for track_name, track in tracks.items():
        offset = int(round((shifts_s.get(track_name, 0.0) - track.start_s) / hop_s))
        for feature, values in track.features.items():
            weight_name = f"w_{track_name}_{feature}"
            if weight_name not in settings:
                continue
            row = np.zeros(n_bins, dtype=np.float32)
            src = values[max(offset, 0): max(offset, 0) + n_bins]
            dst_start = max(-offset, 0)
            src = src[: n_bins - dst_start]
            row[dst_start: dst_start + len(src)] = src
            names.append(f"{track_name}.{feature}")
            rows.append(row)
            weights.append(float(settings[weight_name]))
    matrix = np.vstack(rows) if rows else np.zeros((0, n_bins), dtype=np.float32)
    return AlignedFeatures(hop_s, tuple(names), matrix, np.asarray(weights, dtype=np.float32))


def fuse(aligned: AlignedFeatures) -> SignalTrack:
    total = float(aligned.weights.sum())
    if total <= 0 or aligned.matrix.shape[0] == 0:
        values = np.zeros(aligned.matrix.shape[1], dtype=np.float32)
    else:
        values = (aligned.weights @ aligned.matrix) / total
    return SignalTrack(name="fused", hop_s=aligned.hop_s, values=values.astype(np.float32),
                       meta={"features": list(aligned.names), "weights": aligned.weights.tolist()})


def contributions_at(aligned: AlignedFeatures, index: int) -> dict[str, float]:
    """Each feature's weighted share of the fused score at one bin."""
    total = float(aligned.weights.sum()) or 1.0
    column = aligned.matrix[:, index]
    return {name: float(w * v / total) for name, w, v in zip(aligned.names, aligned.weights, column)}

"""Fusion score: signal tracks aligned onto the VOD timeline and weighted into one score.

Consumes the signals' ``SignalTrack``s (the chat track on the chat timeline, shifted back by the
reaction lag here) and the settings; produces the aligned feature matrix and the fused track.
Each feature ``f`` of track ``t`` is weighted by the parameter ``w_<t>_<f>``; the fused score is
the weighted sum divided by the total weight of the features present, so chat-only, audio-only and
both stay on the same scale for ``threshold``.

With the VOD's ``Segments`` (gameplay / talking / menu / other), ``align`` routes the weights per bin
(``detector.fusion.routing``): each bin then has its own weights and its own total, and menu bins
scale the fused score. Without segments everything is as described above.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from detector.fusion.aligned import AlignedFeatures
from detector.params import Settings
from detector.records import SignalTrack

if TYPE_CHECKING:
    from detector.signals.segments import Segments


def align(tracks: dict[str, SignalTrack], n_bins: int, shifts_s: dict[str, float],
          settings: Settings, hop_s: float, segments: Segments | None = None) -> AlignedFeatures:
    """Put each track's features on the VOD grid; a track's value at VOD time t is read at
    t + shift (the chat lag for chat). With ``segments``, the weights are routed per bin by label."""
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
    aligned = AlignedFeatures(hop_s, tuple(names), matrix, np.asarray(weights, dtype=np.float32))
    if segments is not None:
        from detector.fusion.routing import route_aligned

        aligned = route_aligned(aligned, segments, settings)
    return aligned


def fuse(aligned: AlignedFeatures) -> SignalTrack:
    meta: dict[str, object] = {"features": list(aligned.names), "weights": aligned.weights.tolist()}
    if aligned.bin_weights is not None:
        from detector.fusion.routing import label_counts

        total = aligned.bin_weights.sum(axis=0)
        weighted = (aligned.bin_weights * aligned.matrix).sum(axis=0)
        values = np.where(total > 0, weighted / np.where(total > 0, total, 1.0), 0.0)
        if aligned.bin_scale is not None:
            values = values * aligned.bin_scale
        meta.update(routed=True, segment_bins=label_counts(aligned.labels))
    else:
        total = float(aligned.weights.sum())
        if total <= 0 or aligned.matrix.shape[0] == 0:
            values = np.zeros(aligned.matrix.shape[1], dtype=np.float32)
        else:
            values = (aligned.weights @ aligned.matrix) / total
    return SignalTrack(name="fused", hop_s=aligned.hop_s, values=values.astype(np.float32), meta=meta)


def contributions_at(aligned: AlignedFeatures, index: int) -> dict[str, float]:
    """Each feature's weighted share of the fused score at one bin (with the bin's routed weights
    and menu factor when segments were given); the shares add up to the fused value there."""
    weights = aligned.weights_at(index)
    total = float(weights.sum()) or 1.0
    scale = aligned.scale_at(index)
    column = aligned.matrix[:, index]
    return {name: float(w * v / total * scale) for name, w, v in zip(aligned.names, weights, column)}


def weights_at(aligned: AlignedFeatures, index: int) -> dict[str, float]:
    """Each feature's weight in one bin (routed when segments were given), for explanations."""
    return {name: float(w) for name, w in zip(aligned.names, aligned.weights_at(index))}

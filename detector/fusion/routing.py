"""Fusion stage, routing: fusion weights chosen per bin by the gameplay/talking segment label.

Consumes the aligned feature names and weights (``detector.fusion.score``), the ``Segments`` of the
VOD (``detector.signals.segments``) and the settings; produces a ``Routing``: one weight per feature
*per bin*, and one factor per bin on the fused score.

- In *talking* bins each feature of track ``t`` (``chat``, ``audio``, ``transcript``, ``vision``)
  has its weight multiplied by ``seg_talking_<t>``; in *gameplay* bins by ``seg_gameplay_<t>``.
  Tracks without such a parameter keep their weight.
- In *menu* bins the weights stay, and the fused score is multiplied by ``seg_menu_scale``.
- *other* bins keep everything as it is.

The fused score still divides each bin's weighted sum by that bin's total (routed) weight, so a
bin's score stays on the scale ``threshold`` is set for; routing changes the mix, not the scale
(apart from the menu factor, which is its purpose).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from detector.fusion.aligned import AlignedFeatures
from detector.signals.segments import LABELS, Segments

ROUTED_TRACKS = ("transcript", "chat", "audio", "vision")
"""Tracks whose weights the ``seg_<label>_<track>`` parameters scale."""
WEIGHTED_LABELS = ("talking", "gameplay")


@dataclass(frozen=True, slots=True)
class Routing:
    """Per-bin weights and score factors."""

    weights: np.ndarray
    """``(features, bins)``: each feature's weight in each bin."""
    scale: np.ndarray
    """``(bins,)``: factor on the fused score (``seg_menu_scale`` in menu bins, else 1)."""
    labels: np.ndarray
    """``(bins,)``: the segment label code (index into ``LABELS``) of each bin."""


def factors(settings: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """``label → track → factor`` from the ``seg_*`` parameters (labels without factors omitted)."""
    return {label: {track: float(settings[f"seg_{label}_{track}"]) for track in ROUTED_TRACKS}
            for label in WEIGHTED_LABELS}


def route(names: Sequence[str], weights: np.ndarray, codes: np.ndarray,
          settings: Mapping[str, float]) -> Routing:
    """Per-bin weights for features ``names`` (``track.feature``) with base ``weights``, given the
    label code of every bin."""
    codes = np.asarray(codes, dtype=np.int64)
    base = np.asarray(weights, dtype=np.float32)
    n_bins = len(codes)
    table = factors(settings)
    # factor[f, c]: the factor on feature f in a bin labelled LABELS[c]
    factor = np.ones((len(names), len(LABELS)), dtype=np.float32)
    for f, name in enumerate(names):
        track = name.split(".", 1)[0]
        for label, per_track in table.items():
            if track in per_track:
                factor[f, LABELS.index(label)] = per_track[track]
    routed = base[:, None] * factor[:, codes] if len(names) else np.zeros((0, n_bins), dtype=np.float32)
    scale = np.ones(n_bins, dtype=np.float32)
    scale[codes == LABELS.index("menu")] = float(settings["seg_menu_scale"])
    return Routing(routed.astype(np.float32), scale, codes.astype(np.int8))


def route_aligned(aligned: AlignedFeatures, segments: Segments, settings: Mapping[str, float]) -> AlignedFeatures:
    """``aligned`` with per-bin weights from ``segments`` (what ``align(..., segments=...)`` returns)."""
    codes = segments.labels_on(aligned.matrix.shape[1], aligned.hop_s)
    routing = route(aligned.names, aligned.weights, codes, settings)
    return dataclasses.replace(aligned, bin_weights=routing.weights, bin_scale=routing.scale,
                               labels=routing.labels)


def label_counts(codes: np.ndarray | None) -> dict[str, int]:
    """Bins per label (for the fused track's meta)."""
    if codes is None:
        return {}
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=len(LABELS))
    return {label: int(counts[i]) for i, label in enumerate(LABELS)}

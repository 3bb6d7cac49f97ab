"""Fusion, the aligned features: every weighted feature of every track on one VOD-timeline grid.

Produced by ``detector.fusion.score.align`` (and re-weighted per bin by ``detector.fusion.routing``);
consumed by the fused score, the candidates' explanations and the report. A record only: it
imports nothing of fusion, so the modules that make and read it do not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class AlignedFeatures:
    """Every weighted feature on one grid starting at 0 on the VOD timeline."""

    hop_s: float
    names: tuple[str, ...]
    """``track.feature`` names, one per row of ``matrix``."""
    matrix: np.ndarray
    weights: np.ndarray
    """The parameter weight of each row."""
    bin_weights: np.ndarray | None = None
    """``(rows, bins)`` routed weights per bin, when segments were given (else ``weights`` everywhere)."""
    bin_scale: np.ndarray | None = None
    """``(bins,)`` factor on the fused score per bin (``seg_menu_scale`` in menu bins), with segments."""
    labels: np.ndarray | None = None
    """``(bins,)`` segment label codes (indices into ``detector.signals.segments.LABELS``), with segments."""

    def weights_at(self, index: int) -> np.ndarray:
        """Each row's weight in bin ``index`` (routed when segments were given)."""
        return self.weights if self.bin_weights is None else self.bin_weights[:, index]

    def scale_at(self, index: int) -> float:
        return 1.0 if self.bin_scale is None else float(self.bin_scale[index])

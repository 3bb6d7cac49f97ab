"""The simulated voting community of the tuning tests; the simulation itself is product code in
``detector.bench.vote_sim`` (also behind ``highlights bench votes``)."""

from __future__ import annotations

from detector.bench.vote_sim import Event, Round, detect, simulate, synthetic_tracks

__all__ = ["Event", "Round", "detect", "simulate", "synthetic_tracks"]

"""Benchmark accuracy: how many planted events the detector found, and how close its chat lag is.

Consumes the synthetic VOD's known answers and the ``detect`` stage's candidates
(``[start_s, end_s, peak_s, score]``) and chat lag; produces the recall of planted events (an event
counts as found when it lies inside a candidate, widened by ``tolerance_s`` on each side) and the
lag error in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TOLERANCE_S = 2.0


@dataclass(frozen=True, slots=True)
class Recall:
    found: int
    total: int
    top_k: int
    tolerance_s: float = TOLERANCE_S

    @property
    def fraction(self) -> float:
        return self.found / self.total if self.total else 0.0


def planted_recall(events: Sequence[float], candidates: Sequence[Sequence[float]], top_k: int,
                   tolerance_s: float = TOLERANCE_S) -> Recall:
    found = sum(1 for e in events
                if any(c[0] - tolerance_s <= e <= c[1] + tolerance_s for c in candidates))
    return Recall(found, len(events), top_k, tolerance_s)


def lag_error(estimated: float | None, planted: float) -> float | None:
    return None if estimated is None else round(float(estimated) - float(planted), 3)

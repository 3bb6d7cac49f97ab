"""Benchmark rounds: a floor and the stages measured against it, interleaved, N rounds; medians and spreads.

Every ``highlights bench …`` measures the same way (hyperfine's way): each *arm* (the floor, and each
stage compared with it) runs once per round, the arms of a round one right after the other, for
``rounds`` rounds (default ``DEFAULT_ROUNDS``). The order alternates, forward in odd rounds and
backward in even ones (the first round always forward, so hand-offs between stages exist before a
stage needs them), so a slow spell on a shared machine lands on every arm alike. A stage's ratio to
its floor is taken *per round* (the stage's seconds over the floor's seconds of the same round) and
summarised as the median with its spread (min–max): one busy moment moves one round's ratio, not the
median.

Consumes arm names, a round count and a function running one arm once; produces per arm the list of
what each round returned, and :class:`Spread` summaries (``median (min–max)``) of seconds or ratios.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from detector.errors import ConfigError

DEFAULT_ROUNDS = 5
MAX_ROUNDS = 50
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Spread:
    """A median and the range it came from (``n`` values)."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("a spread needs at least one value")
        vals = [float(v) for v in values]
        return cls(statistics.median(vals), min(vals), max(vals), len(vals))

    def text(self, fmt: str = ".2f", unit: str = "×") -> str:
        """``1.12× (1.08–1.19)``; one value alone has no spread: ``1.12×``."""
        head = f"{format(self.median, fmt)}{unit}"
        if self.n < 2:
            return head
        return f"{head} ({format(self.low, fmt)}–{format(self.high, fmt)})"

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        return {"median": round(self.median, digits), "min": round(self.low, digits),
                "max": round(self.high, digits), "n": self.n}


def ratio_spread(values: Sequence[float], floors: Sequence[float]) -> Spread | None:
    """The per-round ratios ``values[i] / floors[i]`` (rounds with a zero floor left out), summarised."""
    ratios = [v / f for v, f in zip(values, floors) if f > 0]
    return Spread.of(ratios) if ratios else None


def check_rounds(rounds: int) -> int:
    """``rounds`` when usable, else a ``ConfigError`` saying what to give."""
    if not 1 <= int(rounds) <= MAX_ROUNDS:
        raise ConfigError(f"--runs {rounds} is out of range.",
                          hint=f"Give 1 to {MAX_ROUNDS} (default {DEFAULT_ROUNDS}; medians need 3 or more).")
    return int(rounds)


def round_order(arms: Sequence[str], index: int) -> list[str]:
    """The arms in round ``index`` (0-based): forward in even-indexed rounds, backward in the others."""
    return list(arms) if index % 2 == 0 else list(reversed(arms))


def run_rounds(arms: Sequence[str], rounds: int, run: Callable[[str, int], R],
               say: Callable[[str], None] = lambda _m: None) -> dict[str, list[R]]:
    """``run(arm, round_index)`` for every arm in every round (see :func:`round_order`); per arm, what
    each round returned, in round order."""
    out: dict[str, list[R]] = {arm: [] for arm in arms}
    for i in range(check_rounds(rounds)):
        for arm in round_order(arms, i):
            say(f"round {i + 1}/{rounds}: {arm} ...")
            out[arm].append(run(arm, i))
    return out


def load_average() -> float | None:
    """The 1-minute load average now (other work on the machine slows every arm)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - not on Linux/Unix
        return None

"""The benchmarks' rounds: arms interleaved and alternating, medians with spreads, per-round ratios."""

from __future__ import annotations

import pytest

from detector.bench.rounds import DEFAULT_ROUNDS, Spread, check_rounds, ratio_spread, round_order, run_rounds
from detector.bench.runner import RUN_ORDER, STAGE_LABELS
from detector.errors import ConfigError


def test_rounds_interleave_every_arm_and_alternate_their_order() -> None:
    seen: list[tuple[str, int]] = []
    out = run_rounds(["floor", "a", "b"], 4, lambda arm, i: seen.append((arm, i)) or f"{arm}{i}")
    assert [arm for arm, _ in seen] == ["floor", "a", "b", "b", "a", "floor", "floor", "a", "b", "b", "a", "floor"]
    assert out == {"floor": ["floor0", "floor1", "floor2", "floor3"], "a": ["a0", "a1", "a2", "a3"],
                   "b": ["b0", "b1", "b2", "b3"]}
    assert round_order(["x", "y"], 0) == ["x", "y"] and round_order(["x", "y"], 1) == ["y", "x"]
    assert DEFAULT_ROUNDS == 5


def test_ratios_are_taken_per_round_and_summarised_as_median_and_spread() -> None:
    # one slow round (the machine was busy) moves the ratio of that round, not the median
    floors = [10.0, 10.0, 20.0, 10.0, 10.0]
    stage = [11.0, 11.5, 40.0, 11.2, 10.8]
    spread = ratio_spread(stage, floors)
    assert spread is not None and spread.n == 5
    assert spread.median == pytest.approx(1.12) and spread.low == pytest.approx(1.08) and spread.high == pytest.approx(2.0)
    assert spread.text() == "1.12× (1.08–2.00)" and spread.text(".1f", " s") == "1.1 s (1.1–2.0)"
    assert Spread.of([3.0]).text() == "3.00×"  # one round: no spread to show
    assert ratio_spread([1.0], [0.0]) is None
    assert Spread.of([1.0, 2.0, 4.0]).as_dict() == {"median": 2.0, "min": 1.0, "max": 4.0, "n": 3}
    with pytest.raises(ValueError):
        Spread.of([])


def test_round_counts_are_checked_and_detect_runs_beside_the_floor() -> None:
    assert check_rounds(1) == 1 and check_rounds(50) == 50
    for bad in (0, -1, 51):
        with pytest.raises(ConfigError, match="--runs"):
            check_rounds(bad)
    assert set(RUN_ORDER) == set(STAGE_LABELS) and RUN_ORDER[:2] == ("floor", "detect")
    # hand-offs: the first (forward) round writes what later stages read before they read it
    assert RUN_ORDER.index("chat_parse") < RUN_ORDER.index("chat_signal") < RUN_ORDER.index("fusion")
    assert RUN_ORDER.index("audio") < RUN_ORDER.index("fusion")

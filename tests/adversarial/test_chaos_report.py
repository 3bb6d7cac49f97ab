"""``highlights bench chaos``: its figures and report, and its options (the run itself is the bench's).

The suite runs every kind of attack the bench runs (crafted media, special files, chat logs, kills on
both backends, a hung database, secrets, votes, references) in the other files of this folder; here
the bench's arithmetic: any lost job, orphan, leftover, traceback, hang, leak or successful attack
makes it fail, and only a clean run says "every figure is zero".
"""

from __future__ import annotations

import dataclasses

import pytest

from detector.bench.chaos import ChaosReport
from detector.bench.chaos_inputs import InputOutcome
from detector.bench.chaos_kills import KillOutcome
from detector.bench.chaos_probes import HostileOutcome, SecretGrep, VoteAttack, hostile_references
from detector.bench.chaos_report import format_report, to_json
from detector.bench.chaos_stall import StallOutcome
from highlights.cli import main

CLEAN = ChaosReport(
    inputs=(InputOutcome("lying header", 0, 1.0, 60.0, False, False, None, ""),
            InputOutcome("a FIFO as media", 2, 0.5, 40.0, False, False, None, "error: … is a FIFO")),
    kills=(KillOutcome("sqlite", "reel", True, 1, 0, 20.0, "succeeded", 2),),
    stalls=(StallOutcome("postgres", 2.0, 12.0, 6.5, 0, True),),
    secrets=SecretGrep(9, 4, ()), votes=(VoteAttack("alone", False, "no version"),),
    hostile=HostileOutcome(10, 9, ("x",), (), ()))


def test_a_clean_run_says_so() -> None:
    assert CLEAN.clean and CLEAN.figures["peak_rss_mb"] == 60.0
    text = format_report(CLEAN)
    assert "figures: lost 0, duplicated 0, orphans 0, leftovers 0, tracebacks 0, hangs 0, peak RSS 60 MB" in text
    assert text.endswith("result: every figure is zero")
    assert to_json(CLEAN)["clean"] is True


@pytest.mark.parametrize("change", [
    {"kills": (KillOutcome("sqlite", "reel", True, 1, 1, 20.0, "succeeded", 2),)},  # an orphan
    {"kills": (KillOutcome("sqlite", "clip", True, 1, 0, None, "failed", 3, lost=True),)},
    {"kills": (KillOutcome("pg", "clip", True, 1, 0, 9.0, "succeeded", 3, duplicated=True),)},
    {"kills": (KillOutcome("pg", "reel", True, 1, 0, 9.0, "succeeded", 2, leftovers=("a/.x.1234abcd.part.mp4",)),)},
    {"kills": (KillOutcome("pg", "decode", False),)},  # a kill that missed its stage proves nothing
    {"inputs": (InputOutcome("bomb", 1, 3.0, 1500.0, True, False, None, "MemoryError"),)},
    {"inputs": (InputOutcome("fifo", None, 120.0, 40.0, False, True, None, ""),)},
    {"stalls": (StallOutcome("postgres", 2.0, 12.0, None, None, True),)},
    {"secrets": SecretGrep(9, 4, ("jobs list: Pw-query",))},
    {"votes": (VoteAttack("outsiders", True, "30 stored"),)},
    {"worker_tracebacks": 1},
])
def test_any_failure_makes_the_run_fail(change: dict[str, object]) -> None:
    report = dataclasses.replace(CLEAN, **change)  # type: ignore[arg-type]
    assert not report.clean
    assert "SOMETHING FAILED" in format_report(report)


def test_hostile_references_are_refused_or_land_on_twitch() -> None:
    outcome = hostile_references()
    assert outcome.crashes == () and outcome.off_twitch == ()
    assert outcome.refused >= outcome.tried - 4


def test_options_of_other_benches_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "chaos", "--rounds", "3"]) == 2
    assert "only apply to 'highlights bench votes'" in capsys.readouterr().err
    assert main(["bench", "chaos", "--jobs", "5"]) == 2
    assert "do not apply to 'highlights bench chaos'" in capsys.readouterr().err
    assert main(["bench", "chaos", "--lease", "0.1"]) == 2

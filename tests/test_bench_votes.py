"""Tests for ``highlights bench votes``: the per-seed and mean rows, tuning beating the defaults by
the last round, the JSON form and option errors.

Runs the real simulation (real fusion, real ``storage.tuning``) on 2 seeds × 4 rounds. No wall-clock
assertions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from highlights.cli import main

PAIR = r"(\d\.\d\d) / (\d\.\d\d)"


def _rows(table: str) -> dict[int, list[tuple[float, float]]]:
    """Round number → its (tuned, defaults) cells, the per-seed ones then the mean."""
    rows = {}
    for line in table.splitlines():
        if re.match(r"^\d+\s", line):
            cells = [(float(t), float(d)) for t, d in re.findall(PAIR, line)]
            rows[int(line.split()[0])] = cells
    return rows


def test_bench_votes_prints_every_round_and_tuning_beats_the_defaults(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "votes.json"
    assert main(["bench", "votes", "--rounds", "4", "--seeds", "1,7", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    table = captured.out
    assert re.search(r"^round\s+seed 1\s+seed 7\s+mean$", table, re.MULTILINE), table
    rows = _rows(table)
    assert sorted(rows) == [1, 2, 3, 4], table
    assert all(len(cells) == 3 for cells in rows.values()), rows  # seed 1, seed 7, mean
    assert all(0.0 <= v <= 1.0 for cells in rows.values() for pair in cells for v in pair)
    assert all(t == d for t, d in rows[1]), "round 1 runs on the defaults"
    for cells in rows.values():  # the mean column is the mean of the seeds
        assert cells[2][0] == pytest.approx((cells[0][0] + cells[1][0]) / 2, abs=0.006)
    last_tuned, last_defaults = rows[4][2]
    assert last_tuned > last_defaults, table
    first = re.search(r"^first round mean: tuned (\d\.\d\d), defaults (\d\.\d\d)$", table, re.MULTILINE)
    last = re.search(r"^last round mean:  tuned (\d\.\d\d), defaults (\d\.\d\d) \([+-]\d\.\d\d\)$", table,
                     re.MULTILINE)
    assert first and last, table
    assert (float(last[1]), float(last[2])) == (last_tuned, last_defaults)
    assert "bench votes: seed 1:" in captured.err and "bench votes: seed 7:" in captured.err

    data = json.loads(out.read_text())
    assert data["options"]["seeds"] == [1, 7] and data["options"]["rounds"] == 4
    assert [r["round"] for r in data["seeds"]["7"]] == [1, 2, 3, 4]
    assert data["seeds"]["1"][0]["params"] == {} and data["seeds"]["1"][-1]["params"]
    assert data["last"]["tuned"] > data["last"]["defaults"]
    assert len(data["mean"]) == 4


def test_bench_votes_option_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "votes", "--seeds", "1,x"]) == 2
    assert "--seeds '1,x' is not a list of whole numbers" in capsys.readouterr().err
    assert main(["bench", "votes", "--rounds", "0"]) == 2
    assert "--rounds 0 is out of range" in capsys.readouterr().err
    assert main(["bench", "votes", "--jobs", "5"]) == 2
    assert "--jobs do not apply to 'highlights bench votes'" in capsys.readouterr().err
    assert main(["bench", "queue", "--rounds", "3"]) == 2
    assert "--rounds only apply to 'highlights bench votes'" in capsys.readouterr().err

"""Tests for ``highlights bench``: the stage table, ratios, recall, JSON and the profiler column.

Runs the real benchmark (child processes, real ffmpeg, a real synthetic VOD) on very short VODs.
No wall-clock assertions: only that every row is there and the numbers are positive.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from detector.bench.accuracy import planted_recall
from detector.bench.runner import STAGE_LABELS
from highlights.cli import main

ROW = re.compile(r"^(?P<label>.+?)\s+(?P<wall>\d+\.\d+)\s+(?P<rt>\d+\.\d+)\s+(?P<floor>\d+\.\d+)\s+"
                 r"(?P<spread>\d+\.\d+–\d+\.\d+|-)\s+"
                 r"(?P<rss>\d+\.\d+)\s+(?P<ffmpeg>\d+\.\d+|-)(?:\s+(?P<eff>\d+\.\d+ %|-))?$")


def _rows(table: str) -> dict[str, re.Match[str]]:
    rows = {}
    for line in table.splitlines():
        m = ROW.match(line)
        if m:
            rows[m["label"].strip()] = m
    return rows


def test_bench_one_minute_table_json_and_recall(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", "--minutes", "1", "--device", "cpu", "--keep", str(tmp_path / "vods"), "--runs", "3",
                 "--json", str(out)]) == 0
    captured = capsys.readouterr()
    rows = _rows(captured.out)
    assert set(STAGE_LABELS.values()) <= set(rows), captured.out
    for label in STAGE_LABELS.values():
        row = rows[label]
        assert float(row["floor"]) > 0 and float(row["rt"]) > 0 and float(row["rss"]) > 0
        assert row["eff"] is None  # no profiler column without --profile
    assert rows[STAGE_LABELS["floor"]]["floor"] == "1.00" and rows[STAGE_LABELS["floor"]]["spread"] == "1.00–1.00"
    for label in STAGE_LABELS.values():  # three rounds: a median inside its own spread
        low, high = (float(x) for x in rows[label]["spread"].split("–"))
        assert low <= float(rows[label]["floor"]) <= high
    assert "3 rounds: the floor and every stage once per round, interleaved" in captured.out
    for label in (STAGE_LABELS["floor"], STAGE_LABELS["decode"], STAGE_LABELS["audio"], STAGE_LABELS["detect"]):
        assert rows[label]["ffmpeg"] != "-"  # these stages run ffmpeg and its memory is counted
    assert re.search(r"^recall: \d+/\d+ planted events inside a detected candidate", captured.out, re.MULTILINE)
    assert re.search(r"^chat lag: estimated [\d.]+ s .* vs planted [\d.]+ s", captured.out, re.MULTILINE)
    assert re.search(r"^kernel RMS \+ z \+ peaks: [\d.]+ ms per hour of audio", captured.out, re.MULTILINE)
    assert "197.81 ms CPU / 16.73 ms GPU" in captured.out
    assert "within 1.5x the floor" in captured.out and "< 500 MB for a 4 h VOD" in captured.out
    assert "bench: round 1/3: " in captured.err and "bench: round 3/3: " in captured.err  # progress on stderr

    data = json.loads(out.read_text())
    assert [s["stage"] for s in data["stages"]] == list(STAGE_LABELS)
    assert all(s["x_floor"] > 0 and s["peak_rss_mb"] > 0 for s in data["stages"])
    assert all(len(s["walls_s"]) == 3 and s["x_floor_spread"]["n"] == 3 for s in data["stages"])
    assert data["rounds"] == 3 and data["targets"]["detect_x_floor_spread"]["median"] == data["targets"]["detect_x_floor"]
    assert data["kernel"]["facts"]["ms_per_hour"] > 0 and len(data["kernel"]["facts"]["runs_ms"]) >= 5
    assert data["recall"]["total"] == len(data["vod"]["events"]) == data["recall"]["top_k"]
    assert 0.0 <= data["recall"]["fraction"] <= 1.0
    assert data["chat"]["lag_planted_s"] == data["vod"]["chat_lag_s"]

    # A rerun reuses the cached VOD instead of generating it again.
    assert main(["bench", "--minutes", "1", "--device", "cpu", "--keep", str(tmp_path / "vods"), "--runs", "1"]) == 0
    rerun = capsys.readouterr()
    assert "reusing the 1-minute synthetic VOD" in rerun.err
    assert "1 round: " in rerun.out and _rows(rerun.out)[STAGE_LABELS["detect"]]["spread"] == "-"


def test_bench_profile_torch_cpu_has_efficiency_column(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    assert main(["bench", "--profile", "--minutes", "0.5", "--device", "torch-cpu", "--runs", "1",
                 "--keep", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "device/wall" in table.splitlines()[3]
    rows = _rows(table)
    assert set(STAGE_LABELS.values()) <= set(rows), table
    for name in ("audio", "chat_signal", "fusion", "detect"):
        eff = rows[STAGE_LABELS[name]]["eff"]
        assert eff is not None and eff.endswith("%") and float(eff.split()[0]) >= 0
    assert float(rows[STAGE_LABELS["audio"]]["eff"].split()[0]) > 0  # torch ops ran and were timed
    assert rows[STAGE_LABELS["floor"]]["eff"] == "-"
    assert "device torch:cpu" in table


def test_bench_profile_without_torch_is_a_clear_error(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['torch'] = None\n"  # makes torch look uninstalled
            "from highlights.cli import main\n"
            f"sys.exit(main(['bench', '--profile', '--minutes', '0.5', '--keep', {str(tmp_path)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2
    assert "--profile needs torch" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())  # failed before generating anything


def test_bench_rejects_bad_minutes_and_profile_on_numpy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--minutes", "0.1"]) == 2
    assert "--minutes 0.1 is out of range" in capsys.readouterr().err
    assert main(["bench", "--runs", "0"]) == 2
    assert "--runs 0 is out of range" in capsys.readouterr().err
    assert main(["bench", "queue", "--runs", "3"]) == 2
    assert "--runs only apply to" in capsys.readouterr().err
    pytest.importorskip("torch")
    assert main(["bench", "--profile", "--device", "cpu", "--minutes", "1"]) == 2
    assert "--device torch-cpu" in capsys.readouterr().err


def test_planted_recall_counts_events_inside_widened_candidates() -> None:
    cands = [[100.0, 130.0, 110.0, 3.0], [500.0, 520.0, 505.0, 2.0]]
    r = planted_recall([98.5, 131.9, 200.0, 510.0], cands, top_k=2)
    assert (r.found, r.total, r.top_k) == (3, 4, 2) and r.fraction == 0.75

"""``highlights bench hybrid`` at a tiny size: the full hybrid pipeline on 1- and 2-minute synthetic VODs.

Each length runs in its own child process through the real pipeline (transcript with faster-whisper
tiny.en, segments, vision with a tiny random image-text model built here, exact scenes); the
assertions are structural — every stage reported, shares summing to one, ratios present, candidate
counts consistent — never wall-clock limits.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from detector.bench.clip_random import cpu_clip_name, is_random, random_clip
from detector.bench.hybrid_bench import (
    OTHER,
    PER_CANDIDATE,
    STAGES,
    WHOLE_VOD,
    check_lengths,
    format_hybrid_report,
    parse_lengths,
    run_hybrid_bench,
)
from detector.bench.hybrid_vod import TILE_PATTERN, hybrid_vod, tile_plan
from detector.errors import ConfigError
from tests.vision_fixtures import build_tiny_clip

pytestmark = pytest.mark.timeout(240)
SETTINGS = {"transcript_candidates": 3, "vision_candidates": 3, "vision_frames_per_window": 2}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hybrid-bench")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    build_tiny_clip(root / "clip-vit-base-patch32")
    return root


@pytest.fixture(scope="module")
def report(cache: Path, models: Path) -> dict[str, Any]:
    return run_hybrid_bench((2, 1), io.StringIO(), cache=cache, models_dir=models, settings=SETTINGS, runs=2)


def test_every_stage_is_reported_with_shares_summing_to_one(report: dict[str, Any]) -> None:
    assert report["lengths"] == [1.0, 2.0] and [r["minutes"] for r in report["runs"]] == [1.0, 2.0]
    assert report["profile"] == "cpu" and report["random_vision_weights"] is False
    for run in report["runs"]:
        assert set(run["stages"]) == {*STAGES, OTHER}
        assert sum(s["share"] for s in run["stages"].values()) == pytest.approx(1.0, abs=0.01)
        assert all(s["s"] >= 0 for s in run["stages"].values())
        assert run["wall_s"] >= run["timings"]["total"] > 0
        assert not run["unavailable"], run["unavailable"]  # transcript, segments and vision all ran
        assert set(run["timings"]) >= {*STAGES, "total"}
        assert run["duration_s"] == pytest.approx(run["minutes"] * 60, abs=1.0)
        assert {"audio", "chat", "transcript", "vision"} <= set(run["mode"].split("+"))
        assert run["rss_kb"] > run["base_rss_kb"] > 0


def test_each_length_runs_in_rounds_beside_its_floors(report: dict[str, Any]) -> None:
    assert report["rounds"] == 2
    for run in report["runs"]:
        assert len(run["rounds"]) == 2 and run["wall_spread"]["n"] == 2
        assert run["wall_spread"]["min"] <= run["wall_s"] <= run["wall_spread"]["max"]
        for floor in ("decode floor", "keyframe floor"):
            assert run["floors"][floor]["n"] == 2 and run["floors"][floor]["median"] > 0
        for stage in ("signal_audio", "segments"):
            ratio = run["x_floor"][stage]
            assert ratio["n"] == 2 and ratio["min"] <= ratio["median"] <= ratio["max"] and ratio["median"] > 0
        for stage in ("segments", "signal_transcript"):  # stage times are the medians of the rounds
            assert run["timings"][stage] == pytest.approx(sorted(r["timings"][stage] for r in run["rounds"])[0] / 2
                                                          + sorted(r["timings"][stage] for r in run["rounds"])[1] / 2)
    text = format_hybrid_report(report)
    assert "2 rounds per length" in text and "segments × keyframe floor" in text and "audio signal × decode floor" in text


def test_expensive_stages_touch_only_candidates(report: dict[str, Any]) -> None:
    for run in report["runs"]:
        counts = run["counts"]
        assert 1 <= counts["transcribed_spans"] <= SETTINGS["transcript_candidates"]
        assert 1 <= counts["vision_windows"] <= SETTINGS["vision_candidates"]
        assert counts["vision_frames"] == counts["vision_windows"] * SETTINGS["vision_frames_per_window"]
        assert counts["scene_windows"] == 2 * run["clips"]  # one window around each clip edge
        assert counts["segments"] >= 1


def test_ratios_compare_the_longest_with_the_shortest(report: dict[str, Any]) -> None:
    ratios = report["ratios"]
    assert ratios["between"] == [1.0, 2.0] and ratios["length"] == pytest.approx(2.0)
    assert set(ratios["stages"]) == {*STAGES, OTHER}
    for name in (*STAGES, OTHER):
        a, b = (r["stages"][name]["s"] for r in report["runs"])
        assert ratios["stages"][name] == (pytest.approx(b / a, rel=0.01, abs=0.002) if a > 0 else None)
    assert ratios["per_candidate"] is not None and ratios["whole_vod"] is not None
    assert ratios["expected"] == {**{n: 1.0 for n in PER_CANDIDATE}, **{n: 2.0 for n in WHOLE_VOD}}
    assert report["target"] == {"minutes": 60.0, "wall_s": 180.0, "measured_s": None, "met": None}
    json.dumps(report)  # JSON-ready for --json


def test_report_has_one_column_per_length(report: dict[str, Any]) -> None:
    text = format_hybrid_report(report)
    header = next(line for line in text.splitlines() if "1 min" in line and "2 min" in line)
    assert "2/1 min" in header
    for label in ("transcript", "vision", "snap (exact scenes)", "segments", "audio signal",
                  "candidates transcribed", "candidates scored", "peak RSS", "target"):
        assert label in text
    assert "not measured" in text
    assert "RANDOM" not in text  # the tiny model here is not one the bench built


def test_vods_are_cached_and_tile_the_pattern(cache: Path, report: dict[str, Any]) -> None:
    first = hybrid_vod(cache / "vods", 1)
    assert str(first.media_path) == report["runs"][0]["vod"]
    stamp = first.media_path.stat().st_mtime_ns
    assert hybrid_vod(cache / "vods", 1).media_path.stat().st_mtime_ns == stamp  # reused, not remade
    assert first.speech in ("espeak-ng", "babble") and first.tile_s == 60.0
    plan = tile_plan(700.0)
    assert sum(s for _, s in plan) == pytest.approx(700.0)
    assert plan[: len(TILE_PATTERN)] == TILE_PATTERN


def test_lengths_are_checked() -> None:
    assert parse_lengths("60, 30") == (30.0, 60.0)
    for bad in ("30", "30,30", "a,b", "0.5,1", "30,900"):
        with pytest.raises(ConfigError):
            parse_lengths(bad)
    with pytest.raises(ConfigError):
        check_lengths([5.0])


def test_a_real_model_is_never_replaced_by_random_weights(models: Path, tmp_path: Path) -> None:
    assert cpu_clip_name() == "clip-vit-base-patch32"
    folder = models / cpu_clip_name()
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert random_clip(models) == folder and not is_random(folder)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    with pytest.raises(ConfigError, match="No random-weight builder"):
        random_clip(tmp_path, "clip-vit-large-patch14")

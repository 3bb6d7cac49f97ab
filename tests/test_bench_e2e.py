"""``highlights bench e2e`` at a tiny size: a 1-minute VOD from /highlights to the clip posted, on the doubles.

Checks the printed table's structure, the JSON's stages and floors, and that the clip was rendered in
both layouts and posted to the Discord double — never the timings themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detector.errors import ConfigError
from highlights.bench_e2e import ORDER, WatchedQueue, bursty_comments, stage_class
from highlights.doubles.twitch_vods import make_comments
from tests.cli_runner import run_highlights
from tests.vision_fixtures import HAS_VISION_PACKAGES, build_tiny_clip

pytestmark = [pytest.mark.timeout(900),  # a whole job on a busy machine: a hang guard, not a speed limit
              pytest.mark.skipif(not HAS_VISION_PACKAGES, reason="needs the vision extra (torch, transformers)")]


def test_a_whole_job_is_timed_stage_by_stage_and_its_clip_posted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models"
    build_tiny_clip(models / "clip-vit-base-patch32")
    out = tmp_path / "e2e.json"
    code = run_highlights(["bench", "e2e", "--minutes", "1", "--clips", "1", "--keep", str(tmp_path / "cache"),
                           "--json", str(out), "--quiet"], {"HIGHLIGHTS_MODELS_DIR": str(models)}, monkeypatch)
    assert code == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0].startswith("End to end: a 1-minute VOD from /highlights to the last clip posted")
    header = next(line for line in lines if line.startswith("stage"))
    assert all(word in header for word in ("wall", "share", "peak RSS", "floor", "× floor"))
    rows = [line.split()[0] for line in lines[lines.index(header) + 1:] if line and not line.startswith(" ")]
    assert rows[: len(ORDER) + 1] == [*(n.split()[0] for n in ORDER), "total"]
    assert any(line.startswith("  audio signal") and "decode floor" in line for line in lines)
    assert any(line.startswith("  segmenter") and "keyframe floor" in line for line in lines)
    assert "target: a 240-minute VOD in ≤ 600 s: not measured" in printed
    report = json.loads(out.read_text())
    assert list(report["stages"]) == list(ORDER)
    assert sum(r["share"] for r in report["stages"].values()) == pytest.approx(1.0, abs=0.02)
    assert report["clips_posted"] == 1 and report["rendered"] == 1 and report["uploads"] >= 1
    assert report["layouts"] == ["16:9", "9:16"]
    assert report["stages"]["ingest"]["floor_s"] > 0 and report["stages"]["render"]["floor_s"] > 0
    assert report["detect_inside"]["audio signal"]["floor_s"] > 0
    assert report["bytes_downloaded"] > 0 and report["stages"]["detect"]["rss_kb"] > 0


def test_stage_names_map_to_the_requester_s_stages() -> None:
    assert [stage_class(s) for s in (None, "starting", "download audio", "download chat", "decode audio",
                                     "segments: pictures", "transcribe", "rendering clip 1", "writing artifacts",
                                     "storing clips")] == [
        "queue wait", "ingest", "ingest", "ingest", "detect", "detect", "detect", "render", "store", "store"]


async def test_the_bench_queue_asks_for_both_layouts_and_every_peak() -> None:
    from dataclasses import dataclass, field

    @dataclass(frozen=True)
    class Request:
        payload: dict = field(default_factory=dict)

    class Inner:
        got: Request | None = None

        async def enqueue(self, request: Request) -> str:
            self.got = request
            return "queued"

    inner = Inner()
    queue = WatchedQueue(inner)
    assert await queue.enqueue(Request({"render": {"layout": "16:9", "captions": False}, "settings": {"top_k": 3}})) \
        == "queued"
    assert inner.got is not None
    assert inner.got.payload["render"] == {"layouts": ["16:9", "9:16"], "captions": False, "top": 3}
    assert inner.got.payload["settings"] == {"top_k": 3, "threshold": -5.0}


def test_chat_has_a_burst_per_clip_and_one_more() -> None:
    nodes = bursty_comments(make_comments, 600, 4)
    offsets = [n["contentOffsetSeconds"] for n in nodes]
    assert offsets == sorted(offsets) and len({n["id"] for n in nodes}) == len(nodes)
    per_minute = [sum(1 for o in offsets if m * 60 <= o < (m + 1) * 60) for m in range(10)]
    assert sum(1 for c in per_minute if c > 100) >= 4  # the bursts stand out of a steady 30 a minute


@pytest.mark.parametrize("argv", [["--runs", "3"], ["--clips", "0"], ["--lengths", "1,2"]])
def test_options_that_do_not_apply_are_refused(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = run_highlights(["bench", "e2e", "--minutes", "1", *argv], {}, monkeypatch)
    assert code != 0
    err = capsys.readouterr().err
    assert err.count("\n") <= 3 and "Traceback" not in err
    assert ConfigError.__name__ not in err

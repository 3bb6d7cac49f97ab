"""``highlights bench ingest`` at a tiny size: whole VOD vs audio + sections vs a hybrid job over local HLS.

A 2-minute synthetic HLS VOD (10 fps and a 480p top, but the real CBR rates: 3000 kbit/s on top, the
Twitch-like 360p and 160p transcodes, 160 kbit/s AAC, 10 s segments, muxed video variants and an
``audio_only`` variant) is made by ffmpeg into a temporary cache and served from 127.0.0.1; the
assertions are structural (what each step fetched from which rendition, which side is smaller),
never wall-clock limits.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from detector.bench.ingest_bench import (
    DEFAULT_MARGIN_S,
    analysis_windows,
    clip_windows,
    format_ingest_report,
    run_ingest_bench,
)
from detector.bench.ingest_vod import AUDIO_RENDITION, HlsVodSpec, Rung, cached_hls_vod
from detector.errors import ConfigError
from detector.ingest import ANALYSIS_HEIGHT, OVERVIEW_HEIGHT, SECTION_MARGIN_S
from detector.sources.twitch import FetchOptions
from detector.sources.twitch.hls_server import HlsServer
from detector.sources.twitch.playlist import merge_windows, parse_media_playlist, select_runs

pytest.importorskip("yt_dlp")

SPEC = HlsVodSpec(width=854, height=480, fps=10)
TOP, MID, LOW = "480p10", f"{ANALYSIS_HEIGHT}p10", f"{OVERVIEW_HEIGHT}p10"
OPTIONS = FetchOptions(attempts=2, fragment_retries=1, backoff_s=0.01, backoff_max_s=0.02, reserve_bytes=0)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ingest-cache")


@pytest.fixture(scope="module")
def report(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_ingest_bench(2, 2, None, clip_s=10.0, spec=SPEC, cache=cache, options=OPTIONS,
                            work=tmp_path_factory.mktemp("ingest-work"), candidates=3, candidate_s=12.0, runs=2)


def _expected_segments(report: dict[str, Any], rendition: str, windows: list[list[float]], margin_s: float) -> int:
    text = (Path(report["vod"]["root"]) / rendition / "index-dvr.m3u8").read_text()
    playlist = parse_media_playlist(text, f"http://x/{rendition}/index-dvr.m3u8")
    spans = merge_windows([tuple(w) for w in windows], margin_s, playlist.duration_s)
    return sum(len(run) for run in select_runs(playlist, spans))


def test_audio_and_sections_fetch_less_than_the_whole_vod(report: dict[str, Any]) -> None:
    rows, vod = report["rows"], report["vod"]
    video, audio = vod["video_rendition"], vod["audio_rendition"]
    assert audio == AUDIO_RENDITION and report["margin_s"] == DEFAULT_MARGIN_S
    assert rows["audio+sections"]["bytes"] < rows["whole"]["bytes"]
    assert report["ratios"]["bytes"] == pytest.approx(rows["whole"]["bytes"] / rows["audio+sections"]["bytes"])
    assert report["ratios"]["bytes"] > 1.0
    # the naive download takes every segment of the video variant (its audio is muxed in)
    assert rows["whole"]["segments"] == {video: vod["segments"][video]}
    # the audio step takes every audio segment once and never a video segment
    assert rows["audio"]["segments"] == {audio: vod["segments"][audio]}
    assert rows["audio"]["segments"].get(video, 0) == 0
    # the sections step takes exactly the video segments overlapping the windows ± margin, nothing else
    expected = _expected_segments(report, video, report["windows"], report["margin_s"])
    assert rows["sections"]["segments"] == {video: expected}
    assert rows["sections"]["segments"][video] < vod["segments"][video]


def test_the_hybrid_job_fetches_each_rendition_it_asks_for(report: dict[str, Any]) -> None:
    rows, vod, hybrid = report["rows"], report["vod"], report["hybrid"]
    assert vod["video_rendition"] == TOP and list(vod["renditions"]) == [TOP, MID, LOW]
    assert set(vod["segments"]) == {TOP, MID, LOW, AUDIO_RENDITION}
    # the overview takes every 160p segment once, and nothing of any other rendition
    assert rows["overview"]["segments"] == {LOW: vod["segments"][LOW]}
    # the analysis takes exactly the 360p segments overlapping its windows (no margin added), nothing else
    looks = hybrid["analysis_windows"]
    assert len(looks) == 3 and all(b - a == pytest.approx(12.0 + 2 * hybrid["pad_s"]) for a, b in looks)
    assert rows["analysis"]["segments"] == {MID: _expected_segments(report, MID, looks, 0.0)}
    assert 0 < rows["analysis"]["segments"][MID] < vod["segments"][MID]
    # the render sections come from the top rendition (at most 1080p), around the same clips
    assert hybrid["render_margin_s"] == SECTION_MARGIN_S
    expected = _expected_segments(report, TOP, report["windows"], SECTION_MARGIN_S)
    assert rows["render"]["segments"] == {TOP: expected}
    # the job's total is its four steps: the sections' segments and more (at this tiny size the clips' margins
    # cover most of the VOD, so it is not compared with the whole VOD here)
    total = rows["hybrid"]
    assert total["segments"] == {AUDIO_RENDITION: vod["segments"][AUDIO_RENDITION], TOP: expected,
                                 MID: rows["analysis"]["segments"][MID], LOW: vod["segments"][LOW]}
    assert total["bytes"] == sum(rows[k]["bytes"] for k in ("audio", "overview", "analysis", "render"))
    assert rows["render"]["segments"] == rows["sections"]["segments"]
    assert rows["audio+sections"]["bytes"] < total["bytes"]
    assert report["hybrid_ratios"]["bytes"] == pytest.approx(rows["whole"]["bytes"] / total["bytes"])


def test_every_number_is_there(report: dict[str, Any]) -> None:
    for key in ("whole", "audio", "sections", "audio+sections", "overview", "analysis", "render", "hybrid"):
        row = report["rows"][key]
        assert row["bytes"] > 0 and row["seconds"] > 0 and row["requests"] > 0 and row["output_bytes"] > 0
    assert report["ratios"]["time"] is not None and report["ratios"]["time"] > 0
    assert report["hybrid_ratios"]["time"] is not None and report["hybrid_ratios"]["time"] > 0
    assert report["rounds"] == 2 and all(len(row["rounds_s"]) == 2 for row in report["rows"].values())
    spread = report["ratios"]["time_spread"]
    assert spread["n"] == 2 and spread["min"] <= report["ratios"]["time"] <= spread["max"]
    assert len(report["windows"]) == 2 and all(b - a == pytest.approx(10.0) for a, b in report["windows"])
    table = format_ingest_report(report)
    for text in (f"whole VOD ({TOP})", "audio (audio_only)", f"sections (2 x 10 s, {TOP})", "= audio + sections",
                 f"overview (whole, {LOW})", f"analysis (3 x 20 s, {MID})", "render (2 clips", "= hybrid job",
                 f"{MID} segs", f"{LOW} segs", "bytes served", "of whole", "seconds",
                 f"bytes {report['ratios']['bytes']:.2f}x", f"bytes {report['hybrid_ratios']['bytes']:.2f}x"):
        assert text in table


def test_analysis_windows_are_candidates_widened_like_the_pipeline() -> None:
    looks = analysis_windows(3600.0, 20, 37.0, 4.0)
    assert len(looks) == 20 and all(b - a == pytest.approx(45.0) for a, b in looks)
    assert all(a >= 0 and b <= 3600.0 for a, b in looks)
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(looks, looks[1:]))


def test_the_vod_is_cached_and_reused(report: dict[str, Any], cache: Path) -> None:
    again = cached_hls_vod(2, SPEC, cache=cache)
    assert again.reused and str(again.root) == report["vod"]["root"]
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []
    master = again.master.read_text()
    assert "audio_only/index-dvr.m3u8" in master and "RESOLUTION=854x480" in master
    assert "RESOLUTION=640x360" in master and "RESOLUTION=284x160" in master
    # an older layout or another ladder is another cache entry, never this one
    other = cached_hls_vod(2, HlsVodSpec(width=854, height=480, fps=10, ladder=(Rung(284, 160, 230),)),
                           cache=cache)
    assert not other.reused and other.root != again.root
    assert (other.root / LOW).is_dir() and not (other.root / MID).exists()


def test_bad_sizes_are_refused(cache: Path) -> None:
    with pytest.raises(ConfigError, match="do not fit"):
        clip_windows(60.0, 3, 30.0, 10.0)
    with pytest.raises(ConfigError, match="out of range"):
        cached_hls_vod(0.1, SPEC, cache=cache)
    with pytest.raises(ConfigError, match="keyframe"):
        cached_hls_vod(2, HlsVodSpec(segment_s=5, keyframe_s=2), cache=cache)
    with pytest.raises(ConfigError, match="ladder"):
        cached_hls_vod(2, HlsVodSpec(width=320, height=180), cache=cache)


def test_the_server_counts_per_rendition_and_serves_nothing_outside_its_folder(report: dict[str, Any]) -> None:
    root = Path(report["vod"]["root"])
    outside = root.parent / "outside.txt"
    outside.write_text("not for clients")
    with HlsServer(root) as server:
        with urllib.request.urlopen(server.url("audio_only/0.ts")) as response:
            body = response.read()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url("../outside.txt"))
        assert err.value.code == 404 and "/../outside.txt" in server.hits
        traffic = server.traffic()
    outside.unlink()
    assert len(body) == (root / "audio_only" / "0.ts").stat().st_size
    assert traffic.bytes == {"audio_only": len(body)} and traffic.segments == {"audio_only": 1}
    assert server.segments("audio_only") == {"0.ts"}

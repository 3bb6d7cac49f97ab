"""``highlights bench ingest`` at a tiny size: whole VOD vs audio + sections over the local HLS server.

A 2-minute synthetic HLS VOD (small frames, but the real 3000 kbit/s CBR video and 160 kbit/s AAC,
10 s segments, a muxed video variant and an ``audio_only`` variant) is made by ffmpeg into a
temporary cache and served from 127.0.0.1; the assertions are structural (what was fetched, which
side is smaller), never wall-clock limits.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from detector.bench.ingest_bench import DEFAULT_MARGIN_S, clip_windows, format_ingest_report, run_ingest_bench
from detector.bench.ingest_vod import AUDIO_RENDITION, HlsVodSpec, cached_hls_vod
from detector.errors import ConfigError
from detector.sources.twitch import FetchOptions
from detector.sources.twitch.hls_server import HlsServer
from detector.sources.twitch.playlist import merge_windows, parse_media_playlist, select_runs

pytest.importorskip("yt_dlp")

SPEC = HlsVodSpec(width=320, height=180, fps=10)
OPTIONS = FetchOptions(attempts=2, fragment_retries=1, backoff_s=0.01, backoff_max_s=0.02, reserve_bytes=0)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ingest-cache")


@pytest.fixture(scope="module")
def report(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_ingest_bench(2, 2, None, clip_s=10.0, spec=SPEC, cache=cache, options=OPTIONS,
                            work=tmp_path_factory.mktemp("ingest-work"))


def _expected_video_segments(report: dict[str, Any]) -> int:
    vod = report["vod"]
    rendition = vod["video_rendition"]
    text = (Path(vod["root"]) / rendition / "index-dvr.m3u8").read_text()
    playlist = parse_media_playlist(text, f"http://x/{rendition}/index-dvr.m3u8")
    spans = merge_windows([tuple(w) for w in report["windows"]], report["margin_s"], playlist.duration_s)
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
    assert rows["sections"]["segments"] == {video: _expected_video_segments(report)}
    assert rows["sections"]["segments"][video] < vod["segments"][video]


def test_every_number_is_there(report: dict[str, Any]) -> None:
    for key in ("whole", "audio", "sections", "audio+sections"):
        row = report["rows"][key]
        assert row["bytes"] > 0 and row["seconds"] > 0 and row["requests"] > 0 and row["output_bytes"] > 0
    assert report["ratios"]["time"] is not None and report["ratios"]["time"] > 0
    assert len(report["windows"]) == 2 and all(b - a == pytest.approx(10.0) for a, b in report["windows"])
    table = format_ingest_report(report)
    for text in ("whole VOD (180p10)", "audio (audio_only)", "sections (2 windows)", "audio + sections",
                 "bytes served", "seconds", f"bytes {report['ratios']['bytes']:.2f}x", "time "):
        assert text in table


def test_the_vod_is_cached_and_reused(report: dict[str, Any], cache: Path) -> None:
    again = cached_hls_vod(2, SPEC, cache=cache)
    assert again.reused and str(again.root) == report["vod"]["root"]
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []
    master = again.master.read_text()
    assert "audio_only/index-dvr.m3u8" in master and "RESOLUTION=320x180" in master


def test_bad_sizes_are_refused(cache: Path) -> None:
    with pytest.raises(ConfigError, match="do not fit"):
        clip_windows(60.0, 3, 30.0, 10.0)
    with pytest.raises(ConfigError, match="out of range"):
        cached_hls_vod(0.1, SPEC, cache=cache)
    with pytest.raises(ConfigError, match="keyframe"):
        cached_hls_vod(2, HlsVodSpec(segment_s=5, keyframe_s=2), cache=cache)


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

"""Twitch ingestion against a local HLS double: audio-only, sections-only, faults, disk, abort.

A synthetic one-minute VOD is cut by ffmpeg's hls muxer into Twitch's two kinds of rendition —
``chunked`` (video and audio muxed, 5 s segments) and ``audio_only`` (~2 s segments) — served from
127.0.0.1 by the Twitch double (``highlights/doubles/twitch.py``, its plain HLS paths), which counts every
request and can answer 500s or cut a segment short. Nothing leaves the machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.errors import Cancelled, ConfigError
from detector.sources.media import probe
from detector.sources.twitch import (
    DownloadError,
    FetchOptions,
    NotEnoughDisk,
    TemplateResolver,
    check_vod_id,
    fetch_audio,
    fetch_sections,
)
from detector.sources.twitch.playlist import merge_windows, parse_media_playlist, select_runs
from highlights.doubles.twitch import TwitchDouble, build_hls_vod

pytest.importorskip("yt_dlp")

FAST = FetchOptions(attempts=2, fragment_retries=1, backoff_s=0.01, backoff_max_s=0.02, socket_timeout_s=5.0,
                    reserve_bytes=0)


@pytest.fixture(scope="module")
def hls_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hls_vod(tmp_path_factory.mktemp("hls"), minutes=1)


@pytest.fixture
def server(hls_root: Path):
    with TwitchDouble(hls_root) as srv:
        yield srv


def _overlapping(root: Path, rendition: str, lo: float, hi: float) -> set[str]:
    """The segment names of ``rendition`` whose time span overlaps [lo, hi] (from the playlist on disk)."""
    playlist = parse_media_playlist((root / rendition / "index-dvr.m3u8").read_text(), f"http://x/{rendition}/index-dvr.m3u8")
    return {s.uri.rsplit("/", 1)[1] for s in playlist.segments if s.end_s > lo and s.start_s < hi}


def _leftovers(dest: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in dest.iterdir() if p.name not in keep)


def test_audio_only_never_fetches_video(server: TwitchDouble, hls_root: Path, tmp_path: Path) -> None:
    calls: list[tuple[str, float, float | None]] = []
    got = fetch_audio(server.url, tmp_path, options=FAST, progress=lambda *a: calls.append(a))
    assert server.segments("chunked") == set()
    assert not any(p.startswith("/chunked/") and p.endswith(".ts") for p in server.hits)
    assert server.segments("audio_only") == {p.name for p in (hls_root / "audio_only").glob("*.ts")}
    assert max(n for p, n in server.hits.items() if p.endswith(".ts")) == 1
    info = probe(got.path)
    assert info.has_audio and not info.has_video
    assert info.duration_s == pytest.approx(60.0, abs=0.5)
    assert got.segments == len(list((hls_root / "audio_only").glob("*.ts")))
    assert calls[-1] == ("download audio", float(got.segments), float(got.segments))
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)
    assert _leftovers(tmp_path, {"audio.m4a"}) == []


def test_sections_fetch_only_the_requested_ranges(server: TwitchDouble, hls_root: Path, tmp_path: Path) -> None:
    windows = [(21.0, 23.0), (44.0, 46.0), (45.0, 47.0)]
    sections = fetch_sections(server.url, tmp_path, windows, height=720, margin_s=1.0, options=FAST)
    assert [s.window for s in sections] == [(20.0, 24.0), (43.0, 48.0)]
    expected_video = _overlapping(hls_root, "chunked", 20, 24) | _overlapping(hls_root, "chunked", 43, 48)
    assert server.segments("chunked") == expected_video
    assert server.segments("audio_only") == set()  # Twitch's video renditions carry their audio
    total = sum(p.stat().st_size for p in hls_root.glob("*/*.ts"))
    assert server.bytes_sent < 0.4 * total
    for section in sections:
        assert section.start_s <= section.window[0] and section.end_s >= section.window[1]
        info = probe(section.path)
        assert info.has_video and info.has_audio
        assert section.end_s - section.start_s - 2.5 <= info.duration_s <= section.end_s - section.start_s + 0.5
    assert _leftovers(tmp_path, {"section-1.mp4", "section-2.mp4"}) == []


def test_a_few_500s_are_retried(server: TwitchDouble, tmp_path: Path) -> None:
    server.faults["/audio_only/5.ts"] = ["500", "500"]
    server.faults["/audio_only/index-dvr.m3u8"] = ["500", "500"]  # whole tries fail, then the next one works
    got = fetch_audio(server.url, tmp_path, options=FetchOptions(attempts=3, fragment_retries=2, backoff_s=0.01,
                                                                 reserve_bytes=0))
    assert got.path.is_file()
    assert server.hits["/audio_only/5.ts"] == 3


@pytest.mark.parametrize("fault", ["500", "truncate"])
def test_a_segment_that_keeps_failing_ends_in_a_clear_error(server: TwitchDouble, tmp_path: Path, fault: str) -> None:
    server.always["/audio_only/7.ts"] = fault
    with pytest.raises(DownloadError, match=r"failed after 2 tries") as err:
        fetch_audio(server.url, tmp_path, options=FAST)
    assert err.value.code == "download_error" and "audio_only/index-dvr.m3u8" in err.value.message
    assert server.hits["/audio_only/7.ts"] == 4  # 2 tries × (1 + 1 fragment retry)
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_segment_once_is_fetched_again(server: TwitchDouble, tmp_path: Path) -> None:
    server.faults["/chunked/4.ts"] = ["truncate"]
    sections = fetch_sections(server.url, tmp_path, [(21.0, 23.0)], margin_s=0.0, options=FAST)
    assert server.hits["/chunked/4.ts"] == 2
    assert probe(sections[0].path).has_video


def test_too_little_disk_is_refused_before_any_request(server: TwitchDouble, tmp_path: Path) -> None:
    huge = FetchOptions(reserve_bytes=1 << 62)
    with pytest.raises(NotEnoughDisk, match="must stay free") as err:
        fetch_audio(server.url, tmp_path, options=huge)
    assert err.value.code == "disk_full" and not server.hits


def test_abort_stops_the_download_and_keeps_nothing(server: TwitchDouble, tmp_path: Path) -> None:
    seen: list[float] = []
    with pytest.raises(Cancelled):
        fetch_audio(server.url, tmp_path, options=FAST, progress=lambda s, d, t: seen.append(d),
                    abort=lambda: len(seen) >= 3)
    assert len(server.segments("audio_only")) < 10
    assert list(tmp_path.iterdir()) == []


def test_playlist_windows_merge_and_select_segment_runs() -> None:
    assert merge_windows([(50, 60), (5, 10), (58, 70)], 2.0, 65.0) == [(3.0, 12.0), (48.0, 65.0)]
    text = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n" + "".join(f"#EXTINF:4.0,\ns{i}.ts\n" for i in range(10)) + "#EXT-X-ENDLIST\n"
    playlist = parse_media_playlist(text, "http://h/v/index.m3u8")
    assert playlist.duration_s == 40.0 and playlist.segments[0].uri == "http://h/v/s0.ts"
    runs = select_runs(playlist, [(3.0, 9.0), (9.5, 10.0), (30.0, 31.0)])
    assert [[s.index for s in run] for run in runs] == [[0, 1, 2], [7]]


def test_resolvers_check_ids_and_never_guess() -> None:
    assert TemplateResolver("http://127.0.0.1:1/{vod_id}/master.m3u8")("2012345678") == \
        "http://127.0.0.1:1/2012345678/master.m3u8"
    for bad in ("abc", "12345", "1234567890123", "123456/../x"):
        with pytest.raises(ConfigError):
            check_vod_id(bad)

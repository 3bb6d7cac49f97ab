"""Probing media and streaming its audio, on generated files with known answers."""

from __future__ import annotations

import os
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from detector.errors import Cancelled, MediaError
from detector.ffmpeg import ffmpeg_path
from detector.sources.audio_stream import decode_floor_argv, iter_audio_chunks
from detector.sources.media import parse_probe_output, probe, require_audio
from detector.synthetic.vod import SyntheticVod

RATE = 16000


def _ffmpeg_children() -> list[str]:
    """Processes (zombies included) whose parent is this test process and whose name is ffmpeg."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == os.getpid() and "ffmpeg" in name:
            found.append(f"{entry.name} {name} state {fields[0]}")
    return found


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _loud_runs(samples: np.ndarray, *, over_db: float = 10.0, min_s: float = 1.0) -> list[float]:
    """Start times of stretches ≥ ``min_s`` whose 0.1 s RMS is ``over_db`` above the median."""
    frame = RATE // 10
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame).astype(np.float64)
    level = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
    loud = np.r_[0, (level > np.median(level) + over_db).astype(int), 0]
    edges = np.diff(loud)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [s / 10 for s, e in zip(starts, ends) if (e - s) / 10 >= min_s]


# --- probe -------------------------------------------------------------------------------------

def test_probe_video_with_audio(sample_vod: SyntheticVod) -> None:
    info = probe(sample_vod.media_path)
    assert info.path == str(sample_vod.media_path)
    assert info.duration_s == pytest.approx(180.0, abs=0.1)
    assert info.has_audio and info.has_video
    assert (info.audio_codec, info.audio_rate, info.audio_channels) == ("aac", 48000, 2)
    assert (info.video_codec, info.width, info.height) == ("h264", 320, 180)
    assert info.fps == pytest.approx(10.0)


def test_probe_audio_only(sample_audio_only: SyntheticVod) -> None:
    info = probe(sample_audio_only.media_path)
    assert info.duration_s == pytest.approx(180.0, abs=0.1)
    assert info.has_audio and not info.has_video
    assert info.fps is None and info.width is None
    assert require_audio(info) is info


def test_probe_video_without_audio(media_no_audio: Path) -> None:
    info = probe(media_no_audio)
    assert info.has_video and not info.has_audio
    assert info.duration_s == pytest.approx(5.0, abs=0.1)
    with pytest.raises(MediaError, match="has no audio stream; run with --chat only") as err:
        require_audio(info)
    assert str(media_no_audio) in str(err.value)


def test_probe_measures_duration_when_container_has_none(sample_vod: SyntheticVod, tmp_path: Path) -> None:
    piped = tmp_path / "piped.mkv"  # Matroska written to a pipe has no duration in its header
    remux = subprocess.run([ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-t", "12",
                            "-i", str(sample_vod.media_path), "-c", "copy", "-f", "matroska", "pipe:1"],
                           stdout=subprocess.PIPE, check=True, timeout=60)
    piped.write_bytes(remux.stdout)
    header = subprocess.run([ffmpeg_path(), "-hide_banner", "-nostdin", "-i", str(piped)],
                            capture_output=True, timeout=60, check=False).stderr.decode()
    assert "Duration: N/A" in header
    info = probe(piped)
    assert info.duration_s == pytest.approx(12.0, abs=0.15)
    assert info.has_audio and info.has_video


def test_probe_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(MediaError, match="does not exist") as err:
        probe(missing)
    assert str(missing) in str(err.value)


def test_probe_directory(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="is a directory"):
        probe(tmp_path)


def test_probe_corrupt_mp4(corrupt_media: Path) -> None:
    with pytest.raises(MediaError, match="moov atom not found") as err:
        probe(corrupt_media)
    assert str(corrupt_media) in str(err.value) and "again" in str(err.value)


@pytest.mark.parametrize("content", [b"just some text, not a video\n", bytes(range(256)) * 40])
def test_probe_not_media(tmp_path: Path, content: bytes) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(content)
    with pytest.raises(MediaError) as err:
        probe(junk)
    assert str(junk) in str(err.value) and "media file" in str(err.value)


def test_parse_probe_output_variants() -> None:
    text = """Input #0, matroska,webm, from 'x.mkv':
  Duration: 01:02:03.45, start: 0.000000, bitrate: 6000 kb/s
  Stream #0:0(eng): Video: h264 (High), yuv420p(tv, bt709, progressive), 1920x1080 [SAR 1:1 DAR 16:9], 59.94 tbr, 1k tbn
  Stream #0:1(eng): Audio: eac3, 48000 Hz, 5.1(side), fltp, 640 kb/s
  Stream #0:2: Audio: aac (LC), 44100 Hz, mono, fltp
At least one output file must be specified"""
    info = parse_probe_output("x.mkv", text)
    assert info is not None
    assert info.duration_s == pytest.approx(3723.45)
    assert (info.width, info.height, info.fps) == (1920, 1080, pytest.approx(59.94))
    assert (info.audio_codec, info.audio_rate, info.audio_channels) == ("eac3", 48000, 6)
    cover = """Input #0, mp3, from 'a.mp3':
  Duration: N/A, bitrate: N/A
  Stream #0:0: Audio: mp3 (mp3float), 44100 Hz, 3 channels, fltp, 128 kb/s
  Stream #0:1: Video: mjpeg (Baseline), yuvj420p(pc), 500x500 [SAR 1:1 DAR 1:1], 90k tbr, 90k tbn (attached pic)"""
    info = parse_probe_output("a.mp3", cover)
    assert info is not None
    assert info.duration_s == 0.0 and info.audio_channels == 3 and not info.has_video
    assert parse_probe_output("b", "b: No such file or directory") is None


# --- streaming decode --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def decoded(sample_vod: SyntheticVod) -> list[np.ndarray]:
    return list(iter_audio_chunks(sample_vod.media_path, chunk_s=7.0))


def test_decode_length_and_chunks(decoded: list[np.ndarray]) -> None:
    size = 7 * RATE
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in decoded)
    assert all(len(c) == size for c in decoded[:-1])
    assert 0 < len(decoded[-1]) <= size
    assert abs(sum(len(c) for c in decoded) - 180 * RATE) <= size
    assert len({id(c) for c in decoded}) == len(decoded)  # fresh arrays, not a reused buffer


def test_planted_bursts_are_loud_at_event_times(decoded: list[np.ndarray], sample_vod: SyntheticVod) -> None:
    starts = _loud_runs(np.concatenate(decoded))
    assert len(starts) == len(sample_vod.events), starts
    for found, planted in zip(starts, sample_vod.events):
        assert found == pytest.approx(planted, abs=0.5)


def test_decode_audio_only_file(sample_audio_only: SyntheticVod) -> None:
    samples = np.concatenate(list(iter_audio_chunks(sample_audio_only.media_path, chunk_s=60.0)))
    assert abs(len(samples) - 180 * RATE) <= 60 * RATE
    for found, planted in zip(_loud_runs(samples), sample_audio_only.events, strict=True):
        assert found == pytest.approx(planted, abs=0.5)


def test_progress_reports_seconds(sample_vod: SyntheticVod) -> None:
    calls: list[tuple[str, float, float | None]] = []
    for _ in iter_audio_chunks(sample_vod.media_path, chunk_s=30.0, total_s=180.0,
                               progress=lambda stage, done, total: calls.append((stage, done, total))):
        pass
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)
    assert {c[0] for c in calls} == {"decode audio"} and {c[2] for c in calls} == {180.0}
    assert calls[0][1] == pytest.approx(30.0) and calls[-1][1] == pytest.approx(180.0, abs=0.1)


@needs_proc
def test_abort_cancels_and_reaps_ffmpeg(sample_vod: SyntheticVod) -> None:
    seen = []
    chunks = iter_audio_chunks(sample_vod.media_path, chunk_s=5.0, abort=lambda: len(seen) >= 2)
    with pytest.raises(Cancelled):
        for chunk in chunks:
            seen.append(len(chunk))
    assert len(seen) == 2
    assert _ffmpeg_children() == []


@needs_proc
def test_stopping_early_reaps_ffmpeg(sample_vod: SyntheticVod) -> None:
    chunks = iter_audio_chunks(sample_vod.media_path, chunk_s=1.0)
    first = next(chunks)
    assert _ffmpeg_children() != []
    chunks.close()
    assert len(first) == RATE
    assert _ffmpeg_children() == []


def test_decode_without_audio_stream(media_no_audio: Path) -> None:
    with pytest.raises(MediaError, match="has no audio stream; run with --chat only") as err:
        list(iter_audio_chunks(media_no_audio))
    assert str(media_no_audio) in str(err.value)


@needs_proc
def test_decode_corrupt_and_missing(corrupt_media: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="moov atom not found") as err:
        list(iter_audio_chunks(corrupt_media))
    assert str(corrupt_media) in str(err.value)
    with pytest.raises(MediaError, match="does not exist"):
        list(iter_audio_chunks(tmp_path / "missing.m4a"))
    assert _ffmpeg_children() == []


def test_streaming_memory_stays_bounded(sample_vod: SyntheticVod) -> None:
    chunk_bytes = 5 * RATE * 4  # 36 chunks over the 3-minute sample
    total = 0
    tracemalloc.start()
    try:
        for chunk in iter_audio_chunks(sample_vod.media_path, chunk_s=5.0):
            total += len(chunk)
            del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total * 4 > 30 * chunk_bytes
    assert chunk_bytes <= peak < 2 * chunk_bytes  # numpy's allocations are traced; ~1 chunk alive


def test_decode_floor_argv_runs(sample_audio_only: SyntheticVod) -> None:
    argv = decode_floor_argv(sample_audio_only.media_path)
    assert argv[0] == ffmpeg_path() and argv[-3:] == ["-f", "null", "-"]
    assert "16000" in argv and str(sample_audio_only.media_path) in argv
    subprocess.run(argv, check=True, capture_output=True, timeout=120)

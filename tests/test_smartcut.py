"""Smart cut and the reel's size retry, on small synthetic sources with known keyframes.

The source is a moving test pattern (every frame differs from its neighbours) in H.264 with
B-frames and a keyframe every 1.5 s (frames 0, 45, 90, …), with sound. A clip from 2.2 s to 9.1 s
(frames 66–272) cuts between keyframes at both ends: frames 66–89 and 270–272 are re-encoded,
frames 90–269 (four whole GOPs) must be the source's own packets.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from detector.ffmpeg import run_ffmpeg
from detector.render.bitstream import nal_types, packet_list, parse_stream_params, seek_arg, sps_fields
from detector.render.clip import render_clip
from detector.render.errors import RenderError, SmartCutFailed
from detector.render.plan import ClipPlan, SourceRef
from detector.render.reel import ReelItem, ReelOptions, render_reel
from detector.render.smartcut_check import check_cut_frames, check_timestamps
from detector.render.smartcut_geometry import smart_cut_geometry
from detector.sources.media import probe

W, H, FPS, GOP = 480, 270, 30, 45
SMALL = (160, 90)


def _make(path: Path, x264: str) -> Path:
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r={FPS}:d=12", "-f", "lavfi",
                "-i", "sine=f=330:sample_rate=48000:d=12", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt",
                "yuv420p", "-x264-params", x264, "-c:a", "aac", "-b:a", "64k", "-shortest", "-y", str(path)])
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("smartcut_media")


@pytest.fixture(scope="module")
def src(media: Path) -> Path:
    return _make(media / "gop45.mp4", f"keyint={GOP}:min-keyint={GOP}:scenecut=0")


def frames(path: Path, *, seek: list[str] | None = None) -> tuple[np.ndarray, str]:
    """Every decoded frame (small, grey) and what ffmpeg printed at ``-v error`` while decoding."""
    w, h = SMALL
    proc = run_ffmpeg(["-v", "error", *(seek or []), "-i", str(path), "-map", "0:v:0", "-vf", f"scale={w}:{h}",
                       "-f", "rawvideo", "-pix_fmt", "gray", "-"])
    return np.frombuffer(proc.stdout, np.uint8).reshape(-1, h, w), proc.stderr.decode().strip()


def plan_of(path: Path, start: float, end: float, **kw) -> ClipPlan:
    base = dict(source=SourceRef.of(path), start_s=start, end_s=end, width=W, height=H, preset="ultrafast",
                size_limit_bytes=None)
    return ClipPlan(**{**base, **kw})


def nearest(frame: np.ndarray, pool: np.ndarray) -> int:
    return int(np.argmin(((pool.astype(int) - frame.astype(int)) ** 2).mean(axis=(1, 2))))


@pytest.fixture(scope="module")
def smart(src: Path, media: Path):
    """The 2.2–9.1 s clip, rendered once for the tests that read it."""
    plan = plan_of(src, 2.2, 9.1)
    return plan, render_clip(plan, media / "smart.mp4")


def test_smart_cut_is_frame_exact_clean_and_copies_the_middle(src: Path, smart):
    plan, r = smart
    assert r.mode == "smartcut" and r.attempts == 0
    got, errors = frames(r.path)
    assert errors == ""  # the joins decode without a single error
    assert len(got) == round(6.9 * FPS) == 207
    source, _ = frames(src)
    # The cuts are where the plan put them: the first frame is source frame 66, the last 272 ...
    assert nearest(got[0], source) == 66 and nearest(got[-1], source) == 272
    # ... the copied middle decodes to exactly the source's pictures, and so does every frame around it.
    assert np.array_equal(got[24:204], source[90:270])
    assert all(nearest(got[i], source) == 66 + i for i in range(0, 207, 7))
    # The middle's packets are the source's own; only the edges (24 + 3 frames) were re-encoded.
    _, out_packets = packet_list(r.path, bsf="h264_mp4toannexb")
    _, src_packets = packet_list(src, bsf="h264_mp4toannexb")
    source_sums = {(p.size, p.checksum) for p in src_packets}
    reencoded = [i for i, p in enumerate(out_packets) if (p.size, p.checksum) not in source_sums]
    assert len(out_packets) == 207
    assert len(reencoded) <= 24 + 3 + 1  # the middle's first packet may carry its parameter sets differently
    assert not [i for i in reencoded if 25 <= i < 204]
    assert all(b.dts > a.dts for a, b in zip(out_packets, out_packets[1:]))
    info = probe(r.path)
    assert info.has_audio and abs(info.duration_s - 6.9) <= 1 / FPS + 0.03


def test_cut_checks_catch_a_frame_off_and_a_wrong_count(src: Path, smart):
    plan, r = smart
    geo, why = smart_cut_geometry(plan, probe(src))
    assert geo is not None, why
    assert (geo.head_frames, geo.middle_frames, geo.tail_frames) == (24, 180, 3)
    check_cut_frames(r.path, plan, geo)  # the real geometry passes
    shifted = dataclasses.replace(geo, head_frames=geo.head_frames - 1, tail_frames=geo.tail_frames + 1)
    with pytest.raises(SmartCutFailed, match="first frame differs"):
        check_cut_frames(r.path, plan, shifted)
    with pytest.raises(SmartCutFailed, match="packets"):
        check_timestamps(r.path, dataclasses.replace(geo, tail_frames=geo.tail_frames + 1))


def test_in_point_on_a_keyframe_needs_only_a_tail(src: Path, tmp_path: Path):
    r = render_clip(plan_of(src, 3.0, 7.7, loudness_lufs=None), tmp_path / "tail.mp4")
    assert r.mode == "smartcut"
    got, errors = frames(r.path)
    source, _ = frames(src)
    assert errors == "" and len(got) == 141
    assert np.array_equal(got[:135], source[90:225])  # frames 90-224 copied, 225-230 re-encoded
    assert nearest(got[-1], source) == 230


@pytest.mark.parametrize("kind", ["open-gop", "mkv"])
def test_sources_smart_cut_cannot_handle_fall_back_to_a_full_encode(src: Path, media: Path, tmp_path: Path,
                                                                    kind: str, caplog: pytest.LogCaptureFixture):
    caplog.set_level("INFO", logger="detector.render.smartcut")
    if kind == "open-gop":  # keyframes that are not IDR frames: the GOPs are not closed
        path = media / "open.mp4"
        if not path.exists():
            _make(path, f"keyint={GOP}:min-keyint={GOP}:scenecut=0:open-gop=1")
    else:  # Matroska's millisecond time base: 30 fps frames do not fall on whole ticks
        path = media / "ms.mkv"
        if not path.exists():
            run_ffmpeg(["-i", str(src), "-c", "copy", "-y", str(path)])
    r = render_clip(plan_of(path, 2.2, 9.1, loudness_lufs=None), tmp_path / "fallback.mp4")
    assert r.mode == "encode"
    assert "no smart cut" in caplog.text and ("open GOP" in caplog.text or "whole ticks" in caplog.text)
    got, errors = frames(r.path)
    assert errors == "" and abs(len(got) - 207) <= 1


def test_smart_cut_gives_way_to_a_size_limit_the_copied_bitrate_cannot_meet(src: Path, tmp_path: Path,
                                                                           caplog: pytest.LogCaptureFixture):
    caplog.set_level("INFO", logger="detector.render.smartcut")
    plan = plan_of(src, 2.2, 9.1, size_limit_bytes=400 * 1024, loudness_lufs=None)  # the copy is ~550 KiB
    r = render_clip(plan, tmp_path / "small.mp4")
    assert r.mode == "encode" and r.size_bytes <= 400 * 1024
    assert "over the 0.4 MiB limit" in caplog.text


@pytest.fixture(scope="module")
def noise(media: Path) -> Path:
    path = media / "noise.mp4"  # incompressible picture: rate control is held to the cap all along
    run_ffmpeg(["-f", "lavfi", "-i", "nullsrc=s=320x180:r=30:d=2,geq=random(1)*255:128:128", "-f", "lavfi",
                "-i", "anoisesrc=d=2:r=48000", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
                "-c:a", "aac", "-shortest", "-y", str(path)])
    return path


def test_reel_over_its_limit_is_made_again_smaller_and_verified(noise: Path, tmp_path: Path):
    limit = 300 * 1024
    opts = ReelOptions(width=320, height=180, fps=30, transition_s=0.3, size_limit_bytes=limit, preset="ultrafast")
    items = [ReelItem(noise, "#1"), ReelItem(noise, "#2")]
    reel = render_reel(items, tmp_path / "reel.mp4", opts, attempts=((1.0, 3.0), (0.75, 0.8)))
    assert reel.attempts == 2 and reel.scale == 0.75
    assert reel.size_bytes <= limit and (tmp_path / "reel.mp4").stat().st_size == reel.size_bytes
    info = probe(reel.path)
    assert (info.width, info.height) == (240, 136)
    with pytest.raises(RenderError, match="size limit"):
        render_reel(items, tmp_path / "never.mp4", opts, attempts=((1.0, 3.0), (0.75, 3.0)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reel.mp4"]  # no over-limit or half-written file


def test_stream_parameters_and_seeks_are_read_exactly():
    text = ("  Duration: 00:10:00.02, start: 1.443444, bitrate: 897 kb/s\n"
            "  Stream #0:0[0x100]: Video: h264 (High) ([27][0][0][0] / 0x001B), yuv420p(tv, bt709, progressive), "
            "1920x1080 [SAR 1:1 DAR 16:9], 60 fps, 60 tbr, 90k tbn, start 1.466667\n")
    p = parse_stream_params(text)
    assert p is not None and (p.codec, p.pix_fmt, p.width, p.height, p.tb, p.start_us, p.interlaced) == \
        ("h264", "yuv420p", 1920, 1080, 90000, 1_443_444, False)
    assert parse_stream_params(text.replace("progressive", "top first")).interlaced
    p = dataclasses.replace(p, profile_idc=100, level_idc=42)
    assert (p.x264_profile, p.x264_level) == ("high", "4.2")
    # A keyframe at 4.466667 s (402000 ticks): the seek is rounded up to the microsecond, from the start time.
    assert seek_arg(402000, p) == ["-ss", "3.023223"]
    assert sps_fields(b"\x00\x00\x00\x01\x67\x64\x00\x2a\xac") == (100, 42)
    assert nal_types(b"\x00\x00\x00\x01\x67\x64\x00\x00\x01\x68\xee\x00\x00\x01\x65\x88") == [7, 8, 5]

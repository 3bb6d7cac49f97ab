"""Rendering on synthetic sources with known answers: cuts, sizes, captions, facecam, exports, failures.

Sources come from ``detector.synthetic.render_source``: scenes change colour at known cuts (4 s, 8 s),
keyframes fall on whole seconds, and a drawn face sits in a facecam box at a known place. Renders
are small (480×270, a few seconds, fast presets) so the file stays quick on two cores.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from detector.errors import Cancelled, MediaError
from detector.ffmpeg import run_ffmpeg
from detector.media.faces import detect_faces
from detector.records import Candidate, Explanation, Word
from detector.render.audio import measure_integrated
from detector.render.cache import RenderCache
from detector.render.captions import CaptionBox
from detector.render.clip import render_clip
from detector.render.errors import RenderError
from detector.render.facecam import track_faces
from detector.render.otio_out import cut_frames, read_edl_cuts, read_otio_cuts, write_edl_for, write_otio
from detector.render.plan import ClipPlan, SourceRef
from detector.render.planner import RenderOptions, plan_clip
from detector.render.reel import ReelItem, ReelOptions, render_reel
from detector.sources.media import probe
from detector.synthetic.render_source import CAM_BACKDROP, SKIN, make_render_source
from detector.synthetic.vod import make_corrupt_media

HAVE_CV2 = importlib.util.find_spec("cv2") is not None
needs_cv2 = pytest.mark.skipif(not HAVE_CV2, reason="OpenCV (opencv-python-headless) is not installed")
W, H, FPS = 480, 270, 30


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("render_media")


@pytest.fixture(scope="module")
def src(media_dir: Path):
    """12 s, 480×270 30 fps H.264 with B-frames, cuts at 4 s and 8 s, a facecam bottom right (with OpenCV)."""
    return make_render_source(media_dir, width=W, height=H, fps=FPS, seconds=12.0, cuts=(4.0, 8.0), facecam=HAVE_CV2,
                              preset="veryfast")


@pytest.fixture(scope="module")
def talking(media_dir: Path):
    """8 s just-talking source: a large face drifting sideways."""
    return make_render_source(media_dir, width=W, height=H, fps=FPS, seconds=8.0, cuts=(), facecam=False,
                              talking=True, name="talking")


def frames_of(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Every decoded frame of ``path`` (BGR), optionally scaled to ``size``."""
    info = probe(path)
    w, h = size or (info.width, info.height)
    out = run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-vf", f"scale={w}:{h}", "-f", "rawvideo",
                      "-pix_fmt", "bgr24", "-"]).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, h, w, 3)


def frame_at(path: Path, t: float) -> np.ndarray:
    info = probe(path)
    out = run_ffmpeg(["-ss", f"{t:.3f}", "-i", str(path), "-map", "0:v:0", "-frames:v", "1", "-f", "rawvideo",
                      "-pix_fmt", "bgr24", "-"]).stdout
    return np.frombuffer(out, np.uint8).reshape(info.height, info.width, 3)


def scene_of(frame_bgr_small: np.ndarray) -> tuple[int, int, int]:
    """The background colour (RGB) in the top-right corner, away from the pattern and the facecam."""
    b, g, r = (int(v) for v in frame_bgr_small[1, -2])
    return r, g, b


def close(rgb: tuple[int, int, int], want: tuple[int, int, int], tol: int = 25) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(rgb, want))


def plan_of(src, start: float, end: float, **kw) -> ClipPlan:
    base = dict(source=SourceRef.of(src.path), start_s=start, end_s=end, width=src.width, height=src.height,
                preset="ultrafast")
    return ClipPlan(**{**base, **kw})


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- cuts, durations, sizes ------------------------------------------------------------------------


def test_reencoded_cut_is_frame_exact_with_loudness_and_size(src, tmp_path: Path):
    plan = plan_of(src, 3.9, 6.2, size_limit_bytes=400 * 1024, allow_copy=False)  # no smart cut either
    r = render_clip(plan, tmp_path / "a.mp4")
    assert r.mode == "encode"
    frames = frames_of(r.path, (48, 27))
    assert abs(len(frames) - 2.3 * FPS) <= 1  # duration within one frame, counted in decoded frames
    assert abs(probe(r.path).duration_s - 2.3) <= 1 / FPS + 1e-3
    info = probe(r.path)
    assert (info.width, info.height) == (W, H)
    # The cut at 4.0 s is 0.1 s = 3 frames into the clip: frames 0-2 are scene 0, frame 3 on scene 1.
    assert all(close(scene_of(f), src.scene_colour(3.95)) for f in frames[:3])
    assert all(close(scene_of(f), src.scene_colour(4.05)) for f in frames[3:10])
    assert r.size_bytes <= plan.size_limit_bytes
    assert abs(measure_integrated(r.path) - (-14.0)) <= 1.0  # loudnorm to -14 LUFS


def test_stream_copy_when_cuts_fall_on_keyframes(src, tmp_path: Path):
    plan = plan_of(src, 4.0, 8.0, size_limit_bytes=None)  # loudness and fades apply to the (re-encoded) sound
    r = render_clip(plan, tmp_path / "copy.mp4")
    assert r.mode == "copy" and r.attempts == 0
    frames = frames_of(r.path, (48, 27))
    assert len(frames) == 4 * FPS  # B-frames in the source, and still not a frame too many
    assert abs(probe(r.path).duration_s - 4.0) <= 1 / FPS + 1e-3
    assert close(scene_of(frames[0]), src.scene_colour(4.0)) and close(scene_of(frames[-1]), src.scene_colour(7.9))
    source = frames_of(src.path, (48, 27))
    assert np.array_equal(frames[0], source[4 * FPS]) and np.array_equal(frames[-1], source[8 * FPS - 1])
    assert abs(measure_integrated(r.path) - (-14.0)) <= 1.0
    # A cut off the keyframes means a smart cut (tests/test_smartcut.py); any filter means a re-encode.
    assert render_clip(plan_of(src, 4.5, 8.0, loudness_lufs=None, fade_s=0.0, size_limit_bytes=None),
                       tmp_path / "off.mp4").mode == "smartcut"
    assert render_clip(plan_of(src, 4.0, 8.0, loudness_lufs=None, fade_s=0.0, size_limit_bytes=None, width=320,
                               height=180), tmp_path / "scaled.mp4").mode == "encode"


def test_size_target_holds_on_incompressible_video(media_dir: Path, tmp_path: Path):
    noise = media_dir / "noise.mp4"
    if not noise.exists():  # incompressible picture and sound: rate control is held to the cap all along
        run_ffmpeg(["-f", "lavfi", "-i", "nullsrc=s=640x360:r=30:d=5,geq=random(1)*255:128:128", "-f", "lavfi",
                    "-i", "anoisesrc=d=5:r=48000", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
                    "-c:a", "aac", "-shortest", "-y", str(noise)])
    plan = ClipPlan(source=SourceRef.of(noise), start_s=0.5, end_s=4.5, width=640, height=360,
                    size_limit_bytes=200 * 1024, preset="ultrafast")
    r = render_clip(plan, tmp_path / "noise.mp4")
    assert r.size_bytes <= 200 * 1024 and os.path.getsize(r.path) == r.size_bytes
    assert r.size_bytes > 0.6 * 200 * 1024  # the budget is used, not wasted
    # A first attempt that aims at 3x the limit overshoots for real; the smaller second one must fit.
    r2 = render_clip(plan, tmp_path / "retry.mp4", attempts=((1.0, 3.0), (0.75, 0.8)))
    assert r2.attempts == 2 and r2.scale == 0.75 and r2.size_bytes <= 200 * 1024
    assert (probe(r2.path).width, probe(r2.path).height) == (480, 270)
    with pytest.raises(RenderError, match="size limit"):
        render_clip(plan, tmp_path / "never.mp4", attempts=((1.0, 3.0), (0.75, 3.0)))
    assert files_in(tmp_path) == ["noise.mp4", "retry.mp4"]


# --- captions and layouts ---------------------------------------------------------------------------


def test_captions_are_burned_in_with_the_current_word_highlighted(src, tmp_path: Path):
    words = tuple(Word(0.2 + 0.4 * i, 0.55 + 0.4 * i, w) for i, w in enumerate("that was a clean play".split()))
    common = dict(loudness_lufs=None, fade_s=0.0, size_limit_bytes=None, allow_copy=False)
    with_caps = render_clip(plan_of(src, 1.0, 3.0, captions=words, **common), tmp_path / "caps.mp4")
    without = render_clip(plan_of(src, 1.0, 3.0, **common), tmp_path / "plain.mp4")
    t = 0.2 + 0.4 * 3 + 0.1  # "clean" is being said
    a, b = frame_at(with_caps.path, t).astype(int), frame_at(without.path, t).astype(int)
    x0, y0, x1, y1 = CaptionBox.for_frame(W, H).area(W, H)
    band = np.abs(a - b)[y0:y1, x0:x1].mean()
    outside = np.abs(a - b)[: y0 - 4].mean()
    assert band > 8 * max(outside, 0.5), (band, outside)
    region = a[y0:y1, x0:x1]
    yellow = (region[..., 2] > 190) & (region[..., 1] > 190) & (region[..., 0] < 90)
    white = (region > 200).all(axis=-1)
    assert yellow.sum() > 30 and white.sum() > 30  # the current word yellow, the others white


@needs_cv2
def test_split_layout_puts_the_facecam_on_top(src, tmp_path: Path):
    import cv2

    info = probe(src.path)
    face = track_faces(src.path, 2.0, 3.0, info)
    assert face.present and face.median_box() is not None
    fb = face.median_box()
    assert abs(fb.center[0] - src.face.center[0]) < src.face.w / 2 and abs(fb.center[1] - src.face.center[1]) < src.face.h / 2
    plan = plan_clip(SourceRef.of(src.path), info, 2.0, 5.0, RenderOptions(layout="9:16", size_limit_bytes=None,
                                                                         preset="ultrafast"),
                     encoder="libx264", face=face)
    assert plan.layout == "split" and (plan.width, plan.height) == (270, 480)
    r = render_clip(plan, tmp_path / "split.mp4")
    assert (probe(r.path).width, probe(r.path).height) == (270, 480)
    frame = frame_at(r.path, 1.0)
    top, bottom = frame[: plan.top_height], frame[plan.top_height:]
    assert detect_faces(cv2.cvtColor(top, cv2.COLOR_BGR2GRAY)), "no face in the top panel"
    assert not detect_faces(cv2.cvtColor(bottom, cv2.COLOR_BGR2GRAY))

    def backdrop_share(img: np.ndarray) -> float:
        return float((np.abs(img.astype(int) - np.array(CAM_BACKDROP)).max(axis=-1) < 20).mean())

    assert backdrop_share(top) > 0.3 and backdrop_share(bottom) < 0.05


@needs_cv2
def test_face_crop_follows_a_moving_face_smoothly(talking, tmp_path: Path):
    info = probe(talking.path)
    face = track_faces(talking.path, 0.0, 8.0, info)
    plan = plan_clip(SourceRef.of(talking.path), info, 0.0, 8.0, RenderOptions(layout="auto", size_limit_bytes=None,
                                                                              preset="ultrafast", loudness_lufs=None),
                     encoder="libx264", face=face)
    assert plan.layout == "face" and len(plan.crop_path) >= 3
    xs = np.array([x for _, x in plan.crop_path], dtype=float)
    ts = np.array([t for t, _ in plan.crop_path])
    speed = np.diff(xs) / np.diff(ts)
    assert np.abs(speed).max() < W / 4  # px/s: a glide, no jumps
    r = render_clip(plan, tmp_path / "face.mp4")
    for t in (1.0, 4.0, 6.5):  # the face (skin-coloured pixels) stays near the middle of the crop
        frame = frame_at(r.path, t).astype(int)
        skin = (np.abs(frame - np.array(SKIN)).max(axis=-1) < 25)
        assert skin.mean() > 0.1, f"no face at {t} s"
        cx = np.nonzero(skin)[1].mean()
        assert abs(cx - plan.width / 2) < plan.width * 0.15, (t, cx)


# --- exports, reel, thumbnails ---------------------------------------------------------------------


def _cands() -> list[Candidate]:
    spans = [(125.27, 155.5), (12.0, 41.98), (3601.04, 3630.0)]
    return [Candidate(rank=i, start_s=a, end_s=b, peak_s=a + 5, score=10.0 - i, signals={},
                      explanation=Explanation(summary=f"clip {i} ×3 KEKW", contributions={}))
            for i, (a, b) in enumerate(spans, start=1)]


def test_edl_and_otio_read_back_to_the_same_cut_list(src, tmp_path: Path):
    pytest.importorskip("opentimelineio")
    cands = _cands()
    edl = write_edl_for(cands, src.path, tmp_path / "cuts.edl", fps=30)
    otio = write_otio(cands, src.path, tmp_path / "cuts.otio", fps=30)
    want = [cut_frames(c, 30) for c in cands]
    assert want[0] == (round(125.27 * 30), round(155.5 * 30))
    assert read_edl_cuts(edl, 30) == want
    assert read_otio_cuts(otio) == want


def test_reel_joins_clips_with_title_cards_and_transitions(src, tmp_path: Path):
    common = dict(loudness_lufs=None, fade_s=0.0, size_limit_bytes=None, allow_copy=False)
    a = render_clip(plan_of(src, 1.0, 3.0, **common), tmp_path / "a.mp4")
    b = render_clip(plan_of(src, 5.0, 7.5, **common), tmp_path / "b.mp4")
    opts = ReelOptions(width=W, height=H, fps=FPS, transition_s=0.4, title_s=1.5, preset="ultrafast")
    reel = render_reel([ReelItem(a.path, "#1"), ReelItem(b.path, "#2")], tmp_path / "reel.mp4", opts)
    expected = 1.5 + 2.0 + 1.5 + 2.5 - 3 * 0.4
    assert abs(probe(reel.path).duration_s - expected) < 0.1
    assert (probe(reel.path).width, probe(reel.path).height) == (W, H)
    card = frame_at(reel.path, 0.3)
    assert card.mean() < 60 and (card > 200).all(axis=-1).sum() > 50  # dark card, white title text


@needs_cv2
def test_thumbnail_and_contact_sheet(src, tmp_path: Path):
    import cv2

    from detector.render.thumbs import contact_sheet, write_thumbnail

    clip = render_clip(plan_of(src, 2.0, 5.0, loudness_lufs=None, fade_s=0.0, size_limit_bytes=None),
                       tmp_path / "c.mp4")
    thumb = write_thumbnail(clip.path, 1.5, 3.0, tmp_path / "c.jpg")
    assert abs(thumb.time_s - 1.5) <= 1.5 and thumb.face
    img = cv2.imread(str(thumb.path))
    assert img.shape[:2] == (H, W)
    sheet = contact_sheet([(thumb.path, "#1 0:00:02"), (thumb.path, "#2 0:00:03")], tmp_path / "sheet.jpg",
                          columns=2, tile_w=160)
    assert cv2.imread(str(sheet)).shape[1] == 320
    assert not [n for n in files_in(tmp_path) if ".part" in n]


# --- failures, abort, cache ------------------------------------------------------------------------


def test_corrupt_source_fails_clearly_and_leaves_nothing(tmp_path: Path):
    bad = make_corrupt_media(tmp_path / "src" / "bad.mp4")
    out = tmp_path / "out"
    plan = ClipPlan(source=SourceRef.of(bad), start_s=0.0, end_s=1.0, width=160, height=90)
    with pytest.raises(MediaError, match="moov atom not found|incomplete"):
        render_clip(plan, out / "bad.mp4")
    assert files_in(out) == []


def test_plan_past_the_end_fails_clearly_and_leaves_nothing(src, tmp_path: Path):
    with pytest.raises(RenderError, match="ends after the media"):
        render_clip(plan_of(src, 10.0, 14.0), tmp_path / "late.mp4")
    assert files_in(tmp_path) == []


def _ffmpeg_children() -> list[int]:
    me, found = os.getpid(), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and b"ffmpeg" in cmd:
            found.append(int(pid))
    return found


def test_abort_kills_ffmpeg_at_once_and_leaves_nothing(src, tmp_path: Path):
    plan = plan_of(src, 0.0, 12.0, preset="veryslow", size_limit_bytes=None, loudness_lufs=None)
    seen: list[float] = []
    calls = {"n": 0}
    running = threading.Event()

    def abort() -> bool:
        calls["n"] += 1
        if _ffmpeg_children():
            running.set()
        return running.is_set() and calls["n"] >= 3

    with pytest.raises(Cancelled):
        render_clip(plan, tmp_path / "aborted.mp4", abort=abort, progress=lambda s, d, t: seen.append(d))
    assert running.is_set()
    assert not seen or max(seen) < plan.duration_s  # it stopped before the end
    assert _ffmpeg_children() == []
    assert files_in(tmp_path) == []


def test_cache_hit_does_not_reencode(src, tmp_path: Path):
    copy = tmp_path / "src" / "copy.mp4"
    copy.parent.mkdir()
    shutil.copyfile(src.path, copy)
    cache = RenderCache(tmp_path / "cache")
    plan = ClipPlan(source=SourceRef.of(copy), start_s=2.0, end_s=4.5, width=W, height=H, preset="ultrafast",
                    size_limit_bytes=None, allow_copy=False)
    first = render_clip(plan, tmp_path / "out" / "one.mp4", cache=cache)
    assert first.mode == "encode"
    copy.unlink()  # a second encode could not even read the source
    progress: list[float] = []
    second = render_clip(plan, tmp_path / "out" / "two.mp4", cache=cache, progress=lambda s, d, t: progress.append(d))
    assert second.mode == "cache" and second.plan_key == first.plan_key and progress == []
    assert (tmp_path / "out" / "two.mp4").read_bytes() == (tmp_path / "out" / "one.mp4").read_bytes()
    with pytest.raises(MediaError):  # a different plan is a miss and needs the source
        render_clip(ClipPlan(**{**plan.to_dict(), "source": plan.source, "end_s": 4.0}), tmp_path / "out" / "3.mp4",
                    cache=cache)

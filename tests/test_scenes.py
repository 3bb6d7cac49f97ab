"""Scene cuts: the fast keyframe pass and the exact PySceneDetect pass on video with known cuts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from detector.errors import Cancelled, MediaError
from detector.ffmpeg import run_ffmpeg
from detector.params import Settings
from detector.records import MediaInfo
from detector.signals.scenes import (
    EXACT_METHOD,
    FALLBACK_FPS,
    FAST_METHOD,
    exact_cuts,
    exact_scan,
    exact_unavailable_reason,
    fast_cuts,
    fast_scan,
    merge_windows,
    no_video_reason,
)
from detector.sources.frames import keyframes
from detector.sources.media import probe
from detector.synthetic.cuts import CutVideo, make_cut_video


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory: pytest.TempPathFactory) -> CutVideo:
    return make_cut_video(tmp_path_factory.mktemp("scenes"), name="cuts")


@pytest.fixture(scope="module")
def media(cut_video: CutVideo) -> MediaInfo:
    return probe(cut_video.path)


@pytest.fixture(scope="module")
def audio_only(tmp_path_factory: pytest.TempPathFactory) -> MediaInfo:
    path = tmp_path_factory.mktemp("scenes_audio") / "talk.m4a"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=f=220:d=3", "-c:a", "aac", "-y", str(path)], timeout_s=60)
    return probe(path)


def _match(found: np.ndarray, planted: tuple[float, ...], lo: float, hi: float) -> list[float | None]:
    """For each planted cut, the found time within [cut + lo, cut + hi], or None."""
    out: list[float | None] = []
    for c in planted:
        near = [float(t) for t in found if c + lo - 1e-6 <= t <= c + hi + 1e-6]
        out.append(near[0] if near else None)
    return out


def test_generator_places_keyframes_where_it_says(cut_video: CutVideo, media: MediaInfo) -> None:
    seen = [round(f.t_s, 3) for f in keyframes(media, width=32)]
    assert seen == [round(k, 3) for k in cut_video.keyframes]
    assert cut_video.similar_cuts and cut_video.pans
    assert media.fps == cut_video.fps


def test_exact_path_finds_every_cut_within_one_frame(cut_video: CutVideo, media: MediaInfo) -> None:
    result = exact_scan(media, [(0.0, cut_video.duration_s)], Settings())
    frame = cut_video.frame_s
    assert result.method == EXACT_METHOD and result.reason is None
    assert result.resolution_s == pytest.approx(frame)
    matched = _match(result.times, cut_video.cuts, -frame, frame)
    assert None not in matched, f"missed cuts: planted {cut_video.cuts}, found {result.times}"
    assert len(result.times) == len(cut_video.cuts), f"false cuts: {result.times}"
    (pan_a, pan_b), = cut_video.pans
    assert not any(pan_a + frame < t < pan_b - frame for t in result.times), "a pan counted as a cut"


def test_fast_path_finds_cuts_within_a_keyframe_interval(cut_video: CutVideo, media: MediaInfo) -> None:
    result = fast_scan(media, Settings())
    assert result.method == FAST_METHOD
    assert result.resolution_s == pytest.approx(cut_video.keyint_s)
    # A cut shows at the first keyframe at or after it.
    expected = [cut_video.first_keyframe_at_or_after(c) for c in cut_video.cuts]
    assert sorted(set(expected)) == [pytest.approx(t) for t in result.times]
    assert np.array_equal(fast_cuts(media, Settings()), result.times)


def test_sparse_keyframes_fall_back_to_a_low_fps_decode(tmp_path: Path) -> None:
    video = make_cut_video(tmp_path, keyint_s=6.0, name="sparse")
    result = fast_scan(probe(video.path), Settings())
    assert result.resolution_s == pytest.approx(1.0 / FALLBACK_FPS)
    assert None not in _match(result.times, video.cuts, 0.0, result.resolution_s)


def test_fast_threshold_comes_from_settings(media: MediaInfo) -> None:
    assert len(fast_cuts(media, Settings({"scene_fast_threshold": 1.0}))) == 0


def test_windows_only_look_inside_the_windows(cut_video: CutVideo, media: MediaInfo) -> None:
    windows = [(20.5, 26.0), (3.0, 11.0), (9.0, 10.9)]
    assert merge_windows(windows, cut_video.duration_s) == [(3.0, 11.0), (20.5, 26.0)]
    inside = tuple(c for c in cut_video.cuts if 3.0 < c < 11.0 or 20.5 < c < 26.0)
    exact = exact_scan(media, windows, Settings())
    assert exact.windows == ((3.0, 11.0), (20.5, 26.0))
    assert None not in _match(exact.times, inside, -cut_video.frame_s, cut_video.frame_s)
    assert len(exact.times) == len(inside)
    assert np.array_equal(exact_cuts(media, windows, Settings()), exact.times)
    fast = fast_cuts(media, Settings(), windows=windows)
    assert all(3.0 <= t <= 11.0 or 20.5 <= t <= 26.0 for t in fast)
    assert None not in _match(fast, inside, 0.0, cut_video.keyint_s)


def test_exact_path_falls_back_without_scenedetect(cut_video: CutVideo, media: MediaInfo,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scenedetect", None)  # what an uninstalled package looks like
    reason = exact_unavailable_reason()
    assert reason and "scenedetect" in reason
    result = exact_scan(media, [(0.0, cut_video.duration_s)], Settings())
    assert result.reason == reason and "fallback" in result.method
    assert None not in _match(result.times, cut_video.cuts, 0.0, cut_video.keyint_s)
    assert json.loads(json.dumps(result.to_meta()))["reason"] == reason


def test_a_file_without_video_gives_a_clear_error(audio_only: MediaInfo) -> None:
    reason = no_video_reason(audio_only)
    assert reason and "no video stream" in reason
    with pytest.raises(MediaError, match="no video stream"):
        fast_cuts(audio_only, Settings())
    with pytest.raises(MediaError, match="no video stream"):
        exact_cuts(audio_only, [(0.0, 3.0)], Settings())


def test_abort_stops_both_paths(cut_video: CutVideo, media: MediaInfo) -> None:
    with pytest.raises(Cancelled):
        fast_cuts(media, Settings(), abort=lambda: True)
    with pytest.raises(Cancelled):
        exact_cuts(media, [(0.0, cut_video.duration_s)], Settings(), abort=lambda: True)


def test_progress_and_meta(cut_video: CutVideo, media: MediaInfo) -> None:
    seen: list[tuple[str, float, float | None]] = []
    result = exact_scan(media, [(0.0, 10.0)], Settings(), progress=lambda s, d, t: seen.append((s, d, t)))
    assert seen and seen[-1][1] == pytest.approx(10.0)
    meta = result.to_meta()
    assert meta["method"] == EXACT_METHOD and meta["windows"] == [[0.0, 10.0]]
    assert json.dumps(meta)


def test_missing_file_is_a_media_error(tmp_path: Path, media: MediaInfo) -> None:
    gone = MediaInfo(str(tmp_path / "gone.mp4"), 10.0, False, True, width=320, height=180, fps=30.0)
    with pytest.raises(MediaError):
        fast_cuts(gone, Settings())
    with pytest.raises(MediaError):
        exact_cuts(gone, [(0.0, 5.0)], Settings())

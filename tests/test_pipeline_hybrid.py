"""The hybrid pipeline end to end: segments route the weights, vision scores candidate windows with a
tiny random image-text model loaded from a local folder, clip edges snap to exact cuts or silences,
and every explanation says what each stage contributed. Audio-only input degrades with reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector.hybrid import HybridOptions
from detector.params import Settings
from detector.pipeline import DetectRequest, detect
from detector.synthetic.segments import SegmentedVod, make_segmented_vod
from tests.vision_fixtures import HAS_VISION_PACKAGES, build_tiny_clip

pytestmark = pytest.mark.timeout(240)
SPEECH = Path(__file__).parent / "data" / "speech" / "exclaim_en.wav"
PLAN = (("gameplay", 40.0), ("talking", 30.0), ("menu", 25.0), ("gameplay", 35.0))


@pytest.fixture(scope="module")
def vod(tmp_path_factory: pytest.TempPathFactory) -> SegmentedVod:
    return make_segmented_vod(tmp_path_factory.mktemp("hybrid"), PLAN, speech_path=SPEECH if SPEECH.exists() else None,
                              name="hybrid")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    build_tiny_clip(root / "clip-vit-base-patch32")
    return root


SETTINGS = {"top_k": 4, "min_gap_s": 20, "vision_candidates": 4, "vision_frames_per_window": 2, "threshold": -5}


def test_hybrid_detect_runs_every_stage_and_explains_each(vod: SegmentedVod, models_dir: Path) -> None:
    req = DetectRequest(media=vod.path, settings=Settings(SETTINGS),
                        hybrid=HybridOptions(profile="cpu", models_dir=models_dir, device="cpu"))
    stages: list[str] = []
    result = detect(req, progress=lambda stage, done, total: stages.append(stage))
    meta = result.meta
    assert "segments" not in meta["unavailable_signals"] and "vision" not in meta["unavailable_signals"]
    # the segmenter's sound features rode on the audio signal's decode: no second decode of the sound
    assert "segments: sound" not in stages and "segments: pictures" in stages
    assert 0 < meta["timings"]["segments_sound"] <= meta["timings"]["segments"]
    labels = {span[2] for span in meta["segments"]["spans"]}
    assert meta["segments"]["vision_labels"] == ["gameplay", "menu", "talking"]  # sparse frames fed the segmenter
    assert {"gameplay", "talking", "menu"} <= labels
    assert meta["vision"] is not None and "vision" in result.tracks
    action = result.tracks["vision"].features["action"]
    assert np.count_nonzero(action) > 0 and np.count_nonzero(action) < len(action)  # only candidate windows
    assert meta["scenes"] is not None and {"timings"} <= set(meta) and "snap" in meta["timings"]
    assert 1 <= len(result.candidates) <= 4
    settings = Settings(SETTINGS)
    for c in result.candidates:
        assert c.explanation.segment in ("gameplay", "talking", "menu", "other")
        assert c.explanation.segment == vod.label_at(c.peak_s) or c.explanation.segment == "other" \
            or abs(c.peak_s - _nearest_boundary(vod, c.peak_s)) < settings["segment_min_s"]
        assert c.start_s <= c.peak_s <= c.end_s
        assert c.end_s - c.start_s <= settings["max_len_s"] + 1e-6
    assert any(c.explanation.vision for c in result.candidates)
    from detector.export.html_report import render_html_report

    page = render_html_report(result)
    assert 'aria-label="segments"' in page and "segment <b>" in page and "vision: " in page


def test_hybrid_on_audio_alone_degrades_with_reasons(vod: SegmentedVod, tmp_path: Path, models_dir: Path) -> None:
    from detector.ffmpeg import run_ffmpeg

    audio = tmp_path / "audio.m4a"
    run_ffmpeg(["-loglevel", "error", "-i", str(vod.path), "-vn", "-c:a", "copy", str(audio)], what="audio only")
    result = detect(DetectRequest(media=audio, settings=Settings(SETTINGS),
                                  hybrid=HybridOptions(profile="cpu", models_dir=models_dir, device="cpu")))
    reasons = result.meta["unavailable_signals"]
    assert "video" in reasons["segments"] and "video" in reasons["vision"]
    assert result.meta["segments"] is None and result.candidates
    assert all(c.explanation.segment is None for c in result.candidates)


def test_without_the_vision_model_the_rest_still_runs(vod: SegmentedVod, tmp_path: Path) -> None:
    result = detect(DetectRequest(media=vod.path, settings=Settings(SETTINGS),
                                  hybrid=HybridOptions(profile="cpu", models_dir=tmp_path / "empty", device="cpu")))
    reason = result.meta["unavailable_signals"]["vision"]
    # Without the vision extra the packages are what is missing; with it, the model's weights.
    assert ("models download" if HAS_VISION_PACKAGES else "vision extra") in reason
    assert result.meta["segments"] is not None and len(result.candidates) <= 4


def _nearest_boundary(vod: SegmentedVod, t: float) -> float:
    edges = np.cumsum([0.0, *(length for _, length in PLAN)])
    return float(edges[np.argmin(np.abs(edges - t))])

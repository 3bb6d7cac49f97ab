"""The vision signal end to end with tiny random models built from configs (nothing downloaded).

The models are written to a temporary models directory under the catalogue's names and loaded
through the same local-directory code path as real ones; the video is a synthetic render source.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from vision_fixtures import HAS_VISION_PACKAGES, IMAGE_SIZE, build_tiny_blip, build_tiny_clip

from detector.errors import ModelError
from detector.models.vision_catalog import CAPTION_MAX_CHARS, LABELS, PROMPTS
from detector.models.vision_models import VisionModels, clean_caption, run_in_batches
from detector.models.vision_transform import ImageTransform
from detector.params import Settings
from detector.signals.base import HOP_S
from detector.signals.vision import label_frames, score_windows, unavailable_reason, window_for, with_vision
from detector.sources.frames import keyframes
from detector.sources.media import probe
from detector.synthetic.render_source import make_render_source
from highlights import cmd_models

pytestmark = pytest.mark.skipif(not HAS_VISION_PACKAGES, reason="needs the vision extra (torch, transformers)")

CLIP_NAME = "clip-vit-base-patch32"
BLIP_NAME = "blip-image-captioning-base"
WINDOWS = [(1.0, 3.0), (5.0, 8.0)]


@pytest.fixture(scope="module")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    build_tiny_clip(root / CLIP_NAME)
    build_tiny_blip(root / BLIP_NAME)
    return root


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory):
    src = make_render_source(tmp_path_factory.mktemp("vision_media"), width=320, height=180, fps=10, seconds=10.0,
                             cuts=(4.0, 7.0), facecam=False, name="vision_src")
    return probe(src.path)


@pytest.fixture(scope="module")
def track(video, models_root):
    return score_windows(video, WINDOWS, Settings(), VisionModels(clip=CLIP_NAME, directory=models_root))


def _bins(start: float, end: float) -> slice:
    return slice(int(np.floor(start / HOP_S)), int(np.ceil(end / HOP_S)))


def test_track_is_on_the_timebase_and_zero_outside_windows(track, video) -> None:
    n = int(np.ceil(video.duration_s / HOP_S))
    assert track.name == "vision" and track.hop_s == HOP_S and track.start_s == 0.0
    assert track.values.shape == (n,) and track.values.dtype == np.float32
    assert np.array_equal(track.features["action"], track.values)
    inside = np.zeros(n, bool)
    for s, e in WINDOWS:
        inside[_bins(s, e)] = True
        assert np.any(track.values[_bins(s, e)] != 0.0)
    assert np.all(track.values[~inside] == 0.0)
    assert np.all(np.abs(track.values) <= 6.0)


def test_meta_holds_prompt_probabilities_and_window_labels(track) -> None:
    per_window = int(Settings()["vision_frames_per_window"])
    probs, times = track.meta["frame_probs"], track.meta["frame_times"]
    assert probs.shape == (len(WINDOWS) * per_window, len(PROMPTS))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert all(any(s <= t < e for s, e in WINDOWS) for t in times)
    assert len(track.meta["windows"]) == len(WINDOWS)
    for w in track.meta["windows"]:
        assert w.label in LABELS and w.top_prompt in track.meta["prompts"] and w.caption is None
        assert w.start_s <= w.peak_s < w.end_s
    assert track.meta["caption_unavailable"] is None


def test_scores_are_deterministic(track, video, models_root) -> None:
    again = score_windows(video, WINDOWS, Settings(), VisionModels(clip=CLIP_NAME, directory=models_root))
    assert np.array_equal(again.values, track.values)
    assert np.array_equal(again.meta["frame_probs"], track.meta["frame_probs"])


def test_windows_are_clipped_to_the_media_and_candidates_get_a_note(video, models_root) -> None:
    from detector.records import Candidate, Explanation

    models = VisionModels(clip=CLIP_NAME, directory=models_root)
    t = score_windows(video, [(8.0, 30.0), (-2.0, 1.0)], Settings({"vision_frames_per_window": 2}), models)
    assert len(t.values) == int(np.ceil(video.duration_s / HOP_S))
    assert [(w.start_s, w.end_s) for w in t.meta["windows"]] == [(8.0, video.duration_s), (0.0, 1.0)]
    assert np.all(t.values[_bins(1.0, 8.0)] == 0.0)
    cand = Candidate(1, 8.5, 9.5, 9.0, 1.0, {}, Explanation("chat ×3", {}))
    (noted,) = with_vision([cand], t)
    assert noted.explanation.summary.startswith("chat ×3; looks like ")
    assert window_for(t, 3.0, 4.0) is None


def test_caption_with_the_tiny_captioner(video, models_root) -> None:
    models = VisionModels(clip=CLIP_NAME, captioner=BLIP_NAME, directory=models_root)
    t = score_windows(video, WINDOWS, Settings({"vision_frames_per_window": 2}), models)
    captions = [w.caption for w in t.meta["windows"]]
    assert len(captions) == len(WINDOWS)
    for c in captions:
        assert c is None or (isinstance(c, str) and 0 < len(c) <= CAPTION_MAX_CHARS and "\n" not in c)
    assert any(isinstance(c, str) for c in captions)
    assert t.meta["models"]["captioner"] == BLIP_NAME


def test_label_frames_at_times_and_from_keyframes(video, models_root) -> None:
    models = VisionModels(clip=CLIP_NAME, directory=models_root)
    out = label_frames(video, [0.5, 4.5, 9.0, 99.0], models)
    assert set(out) == set(LABELS)
    times = out["gameplay"][0]
    assert list(times) == [0.5, 4.5, 9.0]
    total = sum(out[label][1] for label in LABELS)
    assert np.allclose(total, 1.0, atol=1e-4)
    from_keys = label_frames(video, keyframes(video, width=64, gray=True), models)
    key_times, key_probs = from_keys["talking"]
    assert len(key_times) == len(key_probs) >= 9 and np.all(np.diff(key_times) > 0)
    assert np.all((key_probs >= 0) & (key_probs <= 1))


def test_missing_model_is_unavailable_with_how_to_get_it(video, tmp_path) -> None:
    models = VisionModels(clip=CLIP_NAME, directory=tmp_path / "empty")
    reason = unavailable_reason(models, video)
    assert reason and f"highlights models download {CLIP_NAME}" in reason
    with pytest.raises(ModelError, match="models download"):
        score_windows(video, WINDOWS, Settings(), models)
    with pytest.raises(ModelError, match="models download"):
        label_frames(video, [1.0], models)
    assert "captioning model" in (VisionModels(captioner=BLIP_NAME, directory=tmp_path).captioner_reason() or "")


def test_incomplete_model_dir_names_what_is_missing(tmp_path, models_root) -> None:
    (tmp_path / CLIP_NAME).mkdir()
    (tmp_path / CLIP_NAME / "config.json").write_text("{}")
    reason = VisionModels(clip=CLIP_NAME, directory=tmp_path).unavailable_reason() or ""
    assert "preprocessor_config.json" in reason and "weights" in reason and "tokenizer" in reason


def test_image_transform_matches_the_processor_config() -> None:
    t = ImageTransform.from_config({"size": {"shortest_edge": 32}, "do_center_crop": True,
                                    "crop_size": {"height": 32, "width": 32}, "image_mean": [0.5] * 3,
                                    "image_std": [0.5] * 3})
    frames = [np.full((40, 72, 3), 255, np.uint8), np.zeros((40, 72), np.uint8)]
    x = t(frames)
    assert tuple(x.shape) == (2, 3, 32, 32)
    assert np.allclose(x[0].numpy(), 1.0, atol=1e-4) and np.allclose(x[1].numpy(), -1.0, atol=1e-4)
    square = ImageTransform.from_config({"size": 48, "image_mean": [0, 0, 0], "image_std": [1, 1, 1]})
    assert square.exact == (48, 48) and tuple(square(frames[:1]).shape) == (1, 3, 48, 48)
    assert ImageTransform.from_config({"size": 224, "do_center_crop": True, "crop_size": 224}).shortest_edge == 224


def test_out_of_memory_halves_the_batch_then_falls_back() -> None:
    import torch

    sizes: list[int] = []
    on_gpu = {"yes": True}

    def step(chunk):
        sizes.append(len(chunk))
        if len(chunk) > 2 or (on_gpu["yes"] and 5 in chunk):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")
        return [v * 10 for v in chunk]

    def fallback() -> bool:
        was, on_gpu["yes"] = on_gpu["yes"], False
        return was

    assert run_in_batches(list(range(7)), 8, step, fallback=fallback) == [v * 10 for v in range(7)]
    assert sizes[:3] == [7, 4, 2] and not on_gpu["yes"]
    on_gpu["yes"] = True
    with pytest.raises(ModelError, match="Out of memory"):
        run_in_batches([5], 1, step, fallback=lambda: False)


def test_clean_caption_is_one_bounded_line() -> None:
    assert clean_caption("arafed man\n playing  a game") == "man playing a game"
    long = clean_caption("word " * 100)
    assert len(long) <= CAPTION_MAX_CHARS and not long.endswith(" ")


def _models_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cmd_models.add_parser(parser.add_subparsers())
    return parser.parse_args(["models", *argv])


def test_models_list_and_path(models_root, capsys) -> None:
    args = _models_args("list", "--models-dir", str(models_root))
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"present  {models_root / CLIP_NAME}" in out
    assert f"missing  {models_root / 'clip-vit-large-patch14'}" in out
    args = _models_args("path", CLIP_NAME, "--models-dir", str(models_root))
    assert args.func(args) == 0 and capsys.readouterr().out.strip() == str(models_root / CLIP_NAME)


@pytest.mark.parametrize("env", [{"HF_ENDPOINT": "http://127.0.0.1:9"}, {"HF_HUB_OFFLINE": "1"}])
def test_models_download_fails_clearly_offline(tmp_path, monkeypatch, env) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    args = _models_args("download", "clip-vit-large-patch14", "--models-dir", str(tmp_path), "--timeout", "3")
    with pytest.raises(ModelError) as info:
        args.func(args)
    text = str(info.value)
    assert "Cannot download openai/clip-vit-large-patch14" in text and "\n" not in text
    assert not any(tmp_path.iterdir())


def test_cli_models_download_exits_2_offline(tmp_path) -> None:
    from highlights.cli import build_parser

    if "models" not in build_parser()._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
        pytest.skip("`highlights models` is not registered in highlights/cli.py yet")
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0"}
    proc = subprocess.run([sys.executable, "-m", "highlights", "models", "download", CLIP_NAME,
                           "--models-dir", str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: Cannot download") and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.gpu
def test_cuda_fp16_path(video, models_root) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA/ROCm device")
    models = VisionModels(clip=CLIP_NAME, captioner=BLIP_NAME, directory=models_root, device="cuda")
    t = score_windows(video, WINDOWS, Settings(), models)
    cpu = score_windows(video, WINDOWS, Settings(), VisionModels(clip=CLIP_NAME, directory=models_root, device="cpu"))
    assert np.allclose(t.meta["frame_probs"], cpu.meta["frame_probs"], atol=2e-2)
    assert all(isinstance(w.caption, str) for w in t.meta["windows"])
    assert IMAGE_SIZE == 32

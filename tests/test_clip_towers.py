"""The CLIP scorer as two towers (text embedded once, image tower alone resident) against the whole model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from vision_fixtures import HAS_VISION_PACKAGES, build_tiny_clip

from detector.models import clip_towers
from detector.models.memory_release import return_memory
from detector.models.vision_catalog import PROMPT_TEXTS, VisionModels

pytestmark = pytest.mark.skipif(not HAS_VISION_PACKAGES, reason="needs the vision extra (torch, transformers)")


@pytest.fixture(scope="module")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("towers")
    build_tiny_clip(root / "clip-vit-base-patch32", seed=3)
    return root


def test_towers_score_exactly_as_the_whole_model(models_root: Path) -> None:
    from detector.models import vision_models as vm

    models = VisionModels(clip="clip-vit-base-patch32", directory=models_root, device="cpu")
    path = models.path("clip-vit-base-patch32")
    assert clip_towers.split_towers(path)
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (24, 40, 3), dtype=np.uint8) for _ in range(7)]
    clip_towers.forget()
    with vm.clip_model(models) as scorer:
        # only the image tower is resident; the prompts were embedded before it loaded
        assert type(scorer._m.model).__name__ == clip_towers.IMAGE_TOWER
        assert not hasattr(scorer._m.model, "text_model")
        towers = scorer.probabilities(images, PROMPT_TEXTS)
    with vm._model(path, "AutoModel", models, vm.ClipScorer) as whole_scorer:
        whole = whole_scorer.probabilities(images, PROMPT_TEXTS)
    np.testing.assert_allclose(towers, whole, atol=1e-6)
    np.testing.assert_allclose(towers.sum(axis=1), 1.0, atol=1e-5)
    # the embeddings are made once per process: a second load reuses them
    first = clip_towers.text_embeddings(path, PROMPT_TEXTS)
    assert clip_towers.text_embeddings(path, PROMPT_TEXTS) is first
    import torch

    assert first.scale == pytest.approx(float(torch.tensor(2.6592).exp()), rel=1e-4)  # the config's initial value


def test_a_checkpoint_without_safetensors_loads_whole(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "clip"}', encoding="utf-8")
    assert not clip_towers.split_towers(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "config.json").write_text('{"model_type": "siglip"}', encoding="utf-8")
    assert not clip_towers.split_towers(tmp_path)


def test_return_memory_runs_where_there_is_no_glibc_too() -> None:
    assert return_memory() in (True, False)

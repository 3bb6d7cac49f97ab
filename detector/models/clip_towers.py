"""Vision stage, memory: a CLIP model used as two towers, so only the image tower stays loaded.

A zero-shot scorer needs the prompts' text embeddings once and the image tower for every frame.
Loading the whole ``CLIPModel`` keeps both towers resident while frames are scored (ViT-B/32 in
fp32: ~350 MB image tower + ~250 MB text tower, measured as peak RSS once both were used). Here the
text tower (``CLIPTextModelWithProjection``) is loaded alone, embeds the prompts and is released;
its embeddings and the trained ``logit_scale`` (read from the safetensors file, not the model) are
kept per process, keyed by the model's weights file and the prompts; then the image tower
(``CLIPVisionModelWithProjection``) is loaded alone. Both read the same CLIPModel checkpoint (the
other tower's weights are simply not loaded; transformers' report of them is silenced).

Consumes a model directory; produces :class:`TextEmbeddings` and the loading arguments of the image
tower. Used only for ``model_type: clip`` checkpoints in safetensors (``split_towers``); anything
else loads whole, as before.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.errors import ModelError
from detector.models.memory_release import return_memory

log = logging.getLogger(__name__)

IMAGE_TOWER = "CLIPVisionModelWithProjection"
TEXT_TOWER = "CLIPTextModelWithProjection"
WEIGHTS = "model.safetensors"

_lock = threading.Lock()
_cache: dict[tuple[str, int, tuple[str, ...]], TextEmbeddings] = {}


@dataclass(frozen=True, slots=True)
class TextEmbeddings:
    """The prompts' unit-length text embeddings (CPU, float32, ``len(prompts) × dim``) and the model's
    trained logit scale (already exponentiated: the factor on cosine similarities)."""

    prompts: tuple[str, ...]
    features: Any
    scale: float


def split_towers(path: Path) -> bool:
    """Whether ``path`` holds a CLIP checkpoint this module can load tower by tower."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return config.get("model_type") == "clip" and (path / WEIGHTS).is_file()


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' own warnings (the report listing the other tower's weights as unexpected) off."""
    import transformers

    previous = transformers.utils.logging.get_verbosity()
    transformers.utils.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.utils.logging.set_verbosity(previous)


def tower_config(path: Path, tower: str) -> Any:
    """The ``text`` or ``vision`` tower's config from the whole model's, with the whole model's
    ``projection_dim`` (a tower config read alone keeps its class default, 512)."""
    import transformers

    whole: Any = transformers.CLIPConfig.from_pretrained(path, local_files_only=True)
    config: Any = whole.text_config if tower == "text" else whole.vision_config
    config.projection_dim = whole.projection_dim
    return config


def _logit_scale(path: Path) -> float:
    from safetensors import safe_open

    with safe_open(str(path / WEIGHTS), framework="pt") as f:
        if "logit_scale" not in f.keys():
            raise ModelError(f"{path / WEIGHTS} holds no logit_scale: it is not a complete CLIP checkpoint.",
                             hint="Download the model again (highlights models download).")
        return float(f.get_tensor("logit_scale").float().exp().item())


def text_embeddings(path: Path, prompts: Sequence[str]) -> TextEmbeddings:
    """The prompts' embeddings by the text tower alone (loaded, used, released), cached per process."""
    key_prompts = tuple(prompts)
    weights = path / WEIGHTS
    key = (str(path.resolve()), weights.stat().st_mtime_ns, key_prompts)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            return hit
        import torch
        import transformers

        transformers.utils.logging.disable_progress_bar()
        try:
            with quiet_transformers():
                model = getattr(transformers, TEXT_TOWER).from_pretrained(
                    path, config=tower_config(path, "text"), local_files_only=True, dtype=torch.float32)
                tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelError(f"The text tower in {path} could not be loaded: {str(exc).strip().splitlines()[0]}.",
                             hint="Check the directory holds a complete Hugging Face model, or download it again.") from None
        try:
            model.eval()
            enc = tokenizer(list(key_prompts), padding=True, truncation=True, return_tensors="pt")
            inputs = {k: enc[k] for k in ("input_ids", "attention_mask") if k in enc}
            with torch.inference_mode():
                feats = model(**inputs).text_embeds.float()
            feats = torch.nn.functional.normalize(feats, dim=-1).clone()
        finally:
            del model
            return_memory()
        found = TextEmbeddings(key_prompts, feats, _logit_scale(path))
        _cache[key] = found
        log.debug("embedded %d prompts with the text tower of %s", len(key_prompts), path.name)
        return found


def forget() -> None:
    """Drop every cached embedding (tests)."""
    with _lock:
        _cache.clear()

"""Tiny random vision models built from a config at test time (nothing is downloaded).

Each builder writes a complete Hugging Face model directory — ``config.json``, safetensors weights,
a ``tokenizer.json`` made here with the ``tokenizers`` library, ``tokenizer_config.json`` and the
image processor's ``preprocessor_config.json`` — so the tests load them through exactly the code
path real models take (``detector.models.vision_models``, ``local_files_only=True``). Weights are random
but seeded, so scores are deterministic; captions are gibberish.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from detector.models.vision_catalog import PROMPT_TEXTS

HAS_VISION_PACKAGES = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers"))
"""Whether the ``vision`` extra is installed (tests that build or run models skip without it)."""

IMAGE_SIZE = 32
"""Input side of the tiny vision towers (pixels)."""
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
_CAPTION_WORDS = "a an the man woman person playing video game screen with of on in and at".split()


def _words(texts: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for text in texts:
        for w in re.findall(r"\w+|[^\w\s]", text.lower()):
            seen.setdefault(w, None)
    return list(seen)


def _save_tokenizer(out: Path, words: list[str], specials: dict[str, str], *, wrap: bool) -> dict[str, int]:
    """A word-level tokenizer over ``words``; ``wrap`` adds bos/eos around every text (CLIP style)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    names = list(dict.fromkeys(specials.values()))
    vocab = {tok: i for i, tok in enumerate(names + [w for w in words if w not in names])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=specials["unk_token"]))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece()
    if wrap:
        bos, eos = specials["bos_token"], specials["eos_token"]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A {eos}", special_tokens=[(bos, vocab[bos]), (eos, vocab[eos])])
    tok.save(str(out / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 32, **specials}
    (out / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return vocab


def _tower(**extra: int) -> dict[str, int]:
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, **extra)


def require_vision_packages() -> None:
    """Skip the calling test (or fixture) where the ``vision`` extra (torch, transformers) is not installed."""
    if not HAS_VISION_PACKAGES:
        pytest.skip("needs the vision extra (torch and transformers); CI installs it")


def build_tiny_clip(out: str | Path, *, seed: int = 0) -> Path:
    """A tiny random CLIPModel whose tokenizer knows every word of the detector's prompts."""
    require_vision_packages()
    import torch
    from transformers import CLIPConfig, CLIPModel

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specials = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<bos>", "eos_token": "<eos>"}
    vocab = _save_tokenizer(out, _words(list(PROMPT_TEXTS)), specials, wrap=True)
    config = CLIPConfig(
        text_config=_tower(vocab_size=len(vocab), max_position_embeddings=32, pad_token_id=vocab["<pad>"],
                           bos_token_id=vocab["<bos>"], eos_token_id=vocab["<eos>"]),
        vision_config=_tower(image_size=IMAGE_SIZE, patch_size=8),
        projection_dim=16)
    torch.manual_seed(seed)
    _quiet()
    CLIPModel(config).save_pretrained(out)
    _save_json(out / "preprocessor_config.json", {
        "image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": IMAGE_SIZE},
        "resample": 3, "do_center_crop": True, "crop_size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": CLIP_MEAN, "image_std": CLIP_STD})
    return out


def build_tiny_blip(out: str | Path, *, seed: int = 0) -> Path:
    """A tiny random BlipForConditionalGeneration (captioning) with a BERT-style word tokenizer."""
    require_vision_packages()
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specials = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                "bos_token": "[CLS]", "eos_token": "[SEP]"}
    vocab = _save_tokenizer(out, _CAPTION_WORDS, specials, wrap=False)
    config = BlipConfig(
        text_config=_tower(vocab_size=len(vocab), max_position_embeddings=64, encoder_hidden_size=32,
                           pad_token_id=vocab["[PAD]"], bos_token_id=vocab["[CLS]"], eos_token_id=vocab["[SEP]"],
                           sep_token_id=vocab["[SEP]"]),
        vision_config=_tower(image_size=IMAGE_SIZE, patch_size=8),
        projection_dim=16)
    torch.manual_seed(seed)
    _quiet()
    BlipForConditionalGeneration(config).save_pretrained(out)
    _save_json(out / "preprocessor_config.json", {
        "image_processor_type": "BlipImageProcessor", "do_resize": True,
        "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE}, "resample": 3, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": CLIP_MEAN, "image_std": CLIP_STD})
    return out


def _quiet() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _save_json(path: Path, data: dict[str, object]) -> None:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")

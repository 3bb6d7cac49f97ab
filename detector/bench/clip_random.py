"""Benchmark input: a random-weight image-text model with a real model's architecture.

Consumes a cache folder and a model name from ``detector.models.vision_catalog.MODEL_SPECS`` (only
``clip-vit-base-patch32``, the ``cpu`` profile's model, is built here: transformers' ``CLIPConfig()``
defaults *are* ViT-B/32 with a 224-pixel input); produces a complete model directory under
``<folder>/<name>`` that ``detector.models.vision_models`` loads exactly as it loads the downloaded model
(``config.json``, safetensors weights, a word-level ``tokenizer.json`` over the detector's prompts, the
tokenizer's config and the image processor's ``preprocessor_config.json``).

Where the real weights cannot be fetched (no network), this keeps the benchmark's vision timing
honest — same layers, same sizes, same input resolution, so the same arithmetic — while the scores
it produces mean nothing. A marker file records what was built, so later runs reuse the folder.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from detector.errors import ConfigError
from detector.models.vision_catalog import PROFILE_MODELS, PROMPT_TEXTS

log = logging.getLogger(__name__)

BUILDABLE = ("clip-vit-base-patch32",)
"""Models whose architecture this module can rebuild from a config alone."""
MARKER = "random-weights.json"
"""Written last into a built folder: says the weights are random (and lets a later run reuse it)."""
_VERSION = 1
_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
_SPECIALS = {"pad_token": "<|pad|>", "unk_token": "<|unk|>", "bos_token": "<|startoftext|>",
             "eos_token": "<|endoftext|>"}


def cpu_clip_name() -> str:
    """The image-text model the ``cpu`` profile wants."""
    name = PROFILE_MODELS["cpu"].clip
    if name is None:  # pragma: no cover - the catalogue always names one
        raise ConfigError("The cpu profile names no image-text model.")
    return name


def is_random(path: Path) -> bool:
    """True when ``path`` is a model folder this module built (random weights)."""
    return (path / MARKER).is_file()


def random_clip(folder: str | Path, name: str | None = None, *, seed: int = 0) -> Path:
    """``<folder>/<name>`` holding a random-weight model of ``name``'s architecture; built once, then reused.

    ``name`` defaults to the ``cpu`` profile's image-text model. A folder holding real weights (no
    marker but a complete model) is left as it is and returned.
    """
    from detector.models.vision_catalog import model_problem

    name = name or cpu_clip_name()
    if name not in BUILDABLE:
        raise ConfigError(f"No random-weight builder for the model {name!r}.", hint=f"Use one of {', '.join(BUILDABLE)}.")
    out = Path(folder) / name
    marker = out / MARKER
    if model_problem(out) is None:
        if not marker.is_file():
            log.info("using the real model in %s", out)
            return out
        try:
            if json.loads(marker.read_text(encoding="utf-8")).get("version") == _VERSION:
                return out
        except (OSError, ValueError):
            pass
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot create the model folder {out}: {exc.strerror or exc}.",
                          hint="Pass a folder you can write to.") from None
    marker.unlink(missing_ok=True)
    log.info("building a random-weight %s in %s", name, out)
    _build_vit_b32(out, seed)
    marker.write_text(json.dumps({"version": _VERSION, "model": name, "seed": seed,
                                  "note": "random weights with the real architecture: timing is real, scores are not"}),
                      encoding="utf-8")
    return out


def _prompt_words() -> list[str]:
    seen: dict[str, None] = {}
    for text in PROMPT_TEXTS:
        for word in re.findall(r"\w+|[^\w\s]", text.lower()):
            seen.setdefault(word, None)
    return list(seen)


def _write_tokenizer(out: Path, max_length: int) -> dict[str, int]:
    """A word-level tokenizer over the prompts' words that wraps every text in start/end tokens."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    specials = list(_SPECIALS.values())
    vocab = {tok: i for i, tok in enumerate(specials + _prompt_words())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=_SPECIALS["unk_token"]))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece()
    bos, eos = _SPECIALS["bos_token"], _SPECIALS["eos_token"]
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A {eos}",
                                                       special_tokens=[(bos, vocab[bos]), (eos, vocab[eos])])
    tok.save(str(out / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_length, **_SPECIALS}
    (out / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return vocab


def _build_vit_b32(out: Path, seed: int) -> None:
    import torch
    from transformers import CLIPConfig, CLIPModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    reference: Any = CLIPConfig()  # ViT-B/32: 12 × 768 vision layers, 32-pixel patches, 224-pixel input
    max_length = int(reference.text_config.max_position_embeddings)
    vocab = _write_tokenizer(out, max_length)
    ids = {"pad_token_id": vocab[_SPECIALS["pad_token"]], "bos_token_id": vocab[_SPECIALS["bos_token"]],
           "eos_token_id": vocab[_SPECIALS["eos_token"]]}
    config: Any = CLIPConfig(text_config={**reference.text_config.to_dict(), **ids},
                        vision_config=reference.vision_config.to_dict())
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(out)
    size = int(config.vision_config.image_size)
    preprocessor = {
        "image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": size},
        "resample": 3, "do_center_crop": True, "crop_size": {"height": size, "width": size},
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": _CLIP_MEAN, "image_std": _CLIP_STD}
    (out / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=1), encoding="utf-8")

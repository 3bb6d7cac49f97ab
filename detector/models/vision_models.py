"""Vision stage: loading the image models (local files only) for one use, and running them in batches.

Consumes a ``VisionModels`` choice (model names from ``detector.models.vision_catalog`` or directories, the
models directory, the device); produces a loaded :class:`ClipScorer` (zero-shot prompt
probabilities per frame) or :class:`Captioner` (one line per frame) inside a ``with`` block that
releases the model when it ends (``del`` + ``torch.cuda.empty_cache``), so a 4 GB card can load the
next model. Models load only from ``<models dir>/<name>`` with ``local_files_only=True``: a missing
model makes the vision signal unavailable with a reason naming ``highlights models download``.
CUDA (or ROCm) runs in fp16, the CPU in fp32; inference is batched, and a CUDA out-of-memory error
halves the batch, then moves the model to the CPU, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from detector.errors import DeviceError, ModelError
from detector.models.clip_towers import (
    IMAGE_TOWER,
    TextEmbeddings,
    quiet_transformers,
    split_towers,
    text_embeddings,
    tower_config,
)
from detector.models.memory_release import return_memory
from detector.models.vision_catalog import CAPTION_MAX_CHARS, CAPTION_MAX_TOKENS, PROMPT_TEXTS, VisionModels

__all__ = ["Captioner", "ClipScorer", "VisionModels", "captioner_model", "clean_caption", "clip_model",
           "pick_device", "run_in_batches"]
from detector.models.vision_transform import ImageTransform

log = logging.getLogger(__name__)

_JUNK_WORDS = frozenset({"arafed", "araffe", "arafly", "araffed"})
"""Nonsense words BLIP captioners are known to start captions with."""

T = TypeVar("T")
CPU_BATCH = 8
"""Largest batch on the CPU: a core gains nothing from more frames at once, and each 8 frames more of
ViT-B/32 in fp32 cost ~40 MB of peak memory (80 frames scored: 855 MB peak at 16, 816 at 8)."""


def pick_device(device: str = "auto") -> tuple[str, Any]:
    """(torch device, dtype): CUDA/ROCm in float16 when asked for or found, else the CPU in float32."""
    import torch

    if device == "cpu":
        return "cpu", torch.float32
    has_cuda = torch.cuda.is_available()
    if device.startswith("cuda") and not has_cuda:
        raise DeviceError("The vision models were asked to run on CUDA but torch sees no CUDA or ROCm device.",
                          hint="Use --device cpu, or install a CUDA/ROCm build of torch.")
    if has_cuda:
        return (device if device.startswith("cuda") else "cuda"), torch.float16
    return "cpu", torch.float32


class _Loaded:
    """A model with its tokenizer and image transform, on a device; movable to the CPU on OOM."""

    def __init__(self, path: Path, model: Any, tokenizer: Any, device: str, dtype: Any, batch_size: int) -> None:
        self.path, self.model, self.tokenizer = path, model, tokenizer
        self.transform = ImageTransform.from_dir(path)
        self.device, self.dtype, self.batch_size = device, dtype, max(1, int(batch_size))

    def to_cpu(self) -> bool:
        """Move to the CPU in float32; False when already there (nothing left to fall back to)."""
        import torch

        if self.device == "cpu":
            return False
        log.warning("%s does not fit in GPU memory even one frame at a time; running it on the CPU", self.path.name)
        self.model = self.model.to("cpu", torch.float32)
        self.device, self.dtype = "cpu", torch.float32
        _empty_cuda_cache()
        return True

    def batched(self, items: Sequence[Any], step: Callable[[Sequence[Any]], list[T]],
                done: Callable[[int], None] | None = None) -> list[T]:
        return run_in_batches(items, self.batch_size, step, fallback=self.to_cpu, done=done)

    def close(self) -> None:
        self.model = None
        self.tokenizer = None
        return_memory()


def run_in_batches(items: Sequence[Any], batch_size: int, step: Callable[[Sequence[Any]], list[T]], *,
                   fallback: Callable[[], bool], done: Callable[[int], None] | None = None) -> list[T]:
    """``step`` over ``items`` in batches; on CUDA out-of-memory halve the batch, then ``fallback()``."""
    import torch

    out: list[T] = []
    size, i = max(1, int(batch_size)), 0
    while i < len(items):
        chunk = items[i:i + size]
        try:
            out.extend(step(chunk))
        except torch.cuda.OutOfMemoryError:
            _empty_cuda_cache()
            if size > 1:
                size //= 2
                log.warning("GPU out of memory: retrying with batches of %d frames", size)
                continue
            if fallback():
                size = max(1, int(batch_size))
                continue
            raise ModelError("Out of memory running a vision model even one frame at a time.",
                             hint="Close other GPU programs, or use --device cpu.") from None
        i += len(chunk)
        if done is not None:
            done(i)
    return out


def _empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _load(path: Path, auto_class: str, models: VisionModels) -> _Loaded:
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    device, dtype = pick_device(models.device)
    cls = getattr(transformers, auto_class)
    try:
        with quiet_transformers() if auto_class == IMAGE_TOWER else _nothing():
            extra = {"config": tower_config(path, "vision")} if auto_class == IMAGE_TOWER else {}
            model = cls.from_pretrained(path, local_files_only=True, dtype=dtype, **extra)
        # The image tower alone needs no tokenizer (its prompts were embedded by the text tower).
        tokenizer = None if auto_class == IMAGE_TOWER else transformers.AutoTokenizer.from_pretrained(
            path, local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"The model in {path} could not be loaded: {str(exc).strip().splitlines()[0]}.",
                         hint="Check the directory holds a complete Hugging Face model, or download it again.") from None
    model.eval()
    try:
        model = model.to(device)
    except torch.cuda.OutOfMemoryError:
        log.warning("%s does not fit in GPU memory; running it on the CPU", path.name)
        device, dtype = "cpu", torch.float32
        model = model.to(device, dtype)
        _empty_cuda_cache()
    log.info("loaded %s on %s (%s)", path, device, str(dtype).removeprefix("torch."))
    batch = min(models.batch_size, CPU_BATCH) if device == "cpu" else models.batch_size
    return _Loaded(path, model, tokenizer, device, dtype, batch)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


class ClipScorer:
    """Zero-shot scoring: the probability of each prompt for each frame (softmax over the prompts).

    Either a whole CLIP-style model, or (``towers``) the image tower alone with the prompts' text
    embeddings made beforehand by the text tower (``detector.models.clip_towers``)."""

    def __init__(self, loaded: _Loaded, towers: bool = False) -> None:
        self._m = loaded
        self._towers = towers
        self._text: dict[tuple[tuple[str, ...], str], Any] = {}
        if towers:
            return
        if not (hasattr(loaded.model, "get_image_features") and hasattr(loaded.model, "get_text_features")):
            raise ModelError(f"{loaded.path} is not an image-text (CLIP-style) model.",
                             hint="Choose a CLIP model, e.g. clip-vit-base-patch32.")

    @property
    def transform(self) -> ImageTransform:
        return self._m.transform

    @property
    def device(self) -> str:
        return self._m.device

    def _text_features(self, prompts: tuple[str, ...]) -> tuple[Any, Any]:
        """(unit text embeddings on the model's device, the logit scale) for ``prompts``."""
        import torch

        if self._towers:
            found: TextEmbeddings = text_embeddings(self._m.path, prompts)
            return found.features.to(self._m.device), found.scale
        key = (prompts, self._m.device)
        if key not in self._text:
            enc = self._m.tokenizer(list(prompts), padding=True, truncation=True, return_tensors="pt")
            inputs = {k: enc[k].to(self._m.device) for k in ("input_ids", "attention_mask") if k in enc}
            with torch.inference_mode():
                feats = _pooled(self._m.model.get_text_features(**inputs))
            self._text[key] = torch.nn.functional.normalize(feats.float(), dim=-1)
        return self._text[key], self._m.model.logit_scale.exp().float()

    def _image_features(self, pixels: Any) -> Any:
        if self._towers:
            return self._m.model(pixel_values=pixels).image_embeds
        return _pooled(self._m.model.get_image_features(pixel_values=pixels))

    def probabilities(self, images: Sequence[np.ndarray], prompts: Sequence[str],
                      done: Callable[[int], None] | None = None) -> np.ndarray:
        """``len(images) × len(prompts)`` float32 probabilities (each row sums to 1)."""
        import torch

        prompts_t = tuple(prompts)

        def step(chunk: Sequence[np.ndarray]) -> list[np.ndarray]:
            m = self._m
            pixels = m.transform(chunk, m.device, m.dtype)
            with torch.inference_mode():
                feats = torch.nn.functional.normalize(self._image_features(pixels).float(), dim=-1)
                text, scale = self._text_features(prompts_t)
                logits = scale * feats @ text.T
                probs = logits.softmax(dim=-1).cpu().numpy().astype(np.float32)
            return list(probs)

        rows = self._m.batched(images, step, done)
        return np.stack(rows) if rows else np.zeros((0, len(prompts_t)), np.float32)


class Captioner:
    """One short line of text per frame, from an image-to-text model (BLIP / GIT style)."""

    def __init__(self, loaded: _Loaded) -> None:
        self._m = loaded

    @property
    def transform(self) -> ImageTransform:
        return self._m.transform

    def captions(self, images: Sequence[np.ndarray], max_tokens: int = CAPTION_MAX_TOKENS) -> list[str]:
        import torch

        def step(chunk: Sequence[np.ndarray]) -> list[str]:
            m = self._m
            pixels = m.transform(chunk, m.device, m.dtype)
            with torch.inference_mode():
                ids = m.model.generate(pixel_values=pixels, max_new_tokens=max_tokens, do_sample=False, num_beams=1)
            return [clean_caption(t) for t in m.tokenizer.batch_decode(ids, skip_special_tokens=True)]

        return self._m.batched(images, step)


def clean_caption(text: str, max_chars: int = CAPTION_MAX_CHARS) -> str:
    """One line, known junk words dropped, at most ``max_chars`` (cut at a word boundary)."""
    words = [w for w in " ".join(text.split()).split(" ") if w and w.lower() not in _JUNK_WORDS]
    line = " ".join(words)
    if len(line) > max_chars:
        cut = line[:max_chars + 1]
        line = cut.rsplit(" ", 1)[0] if " " in cut else line[:max_chars]
    return line


def _pooled(out: Any) -> Any:
    """transformers 5 returns a model output whose ``pooler_output`` is the projected embedding."""
    return getattr(out, "pooler_output", out)


@contextmanager
def _model(path: Path, auto_class: str, models: VisionModels, wrap: Callable[[_Loaded], T]) -> Iterator[T]:
    """A model loaded for the ``with`` block (wrapped) and released after it, so the next one has room."""
    loaded = _load(path, auto_class, models)
    try:
        yield wrap(loaded)
    finally:
        loaded.close()


@contextmanager
def clip_model(models: VisionModels, prompts: Sequence[str] = PROMPT_TEXTS) -> Iterator[ClipScorer]:
    """The image-text model, loaded for the ``with`` block and released after it.

    A CLIP checkpoint loads as two towers: ``prompts`` are embedded first by the text tower alone
    (then released), and only the image tower is resident while frames are scored."""
    reason = models.unavailable_reason()
    if reason:
        raise ModelError(f"The vision signal cannot run: {reason}.")
    assert models.clip is not None
    path = models.path(models.clip)
    if split_towers(path):
        text_embeddings(path, prompts)
        with _model(path, IMAGE_TOWER, models, lambda loaded: ClipScorer(loaded, towers=True)) as scorer:
            yield scorer
        return
    with _model(path, "AutoModel", models, ClipScorer) as scorer:
        yield scorer


@contextmanager
def captioner_model(models: VisionModels) -> Iterator[Captioner]:
    """The captioning model, loaded for the ``with`` block and released after it."""
    reason = models.captioner_reason()
    if reason:
        raise ModelError(f"Captions cannot be written: {reason}.")
    assert models.captioner is not None
    with _model(models.path(models.captioner), "AutoModelForImageTextToText", models, Captioner) as captioner:
        yield captioner

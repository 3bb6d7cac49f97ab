"""Vision stage: frames (``uint8`` arrays) → the pixel tensor an image model expects.

Consumes a model directory's ``preprocessor_config.json`` (the Hugging Face image-processor fields
``do_resize``/``size``, ``do_center_crop``/``crop_size``, ``do_rescale``/``rescale_factor``,
``do_normalize``/``image_mean``/``image_std``, ``resample``) and frames from
``detector.sources.frames``; produces a float tensor ``N×3×H×W`` on the model's device and dtype.
Done with torch ops on whole batches (on the GPU when the model is there), so neither Pillow nor
torchvision is needed; grey frames are repeated to three channels.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detector.errors import ModelError
from detector.models.vision_catalog import PREPROCESSOR_FILE

_BICUBIC = 3


@dataclass(frozen=True, slots=True)
class ImageTransform:
    """Resize (shortest edge, or to an exact size), centre-crop, rescale and normalise."""

    shortest_edge: int | None = None
    exact: tuple[int, int] | None = None
    """(height, width) to resize to, aspect not kept (BLIP style); exclusive with ``shortest_edge``."""
    crop: tuple[int, int] | None = None
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    bicubic: bool = True

    @classmethod
    def from_dir(cls, model_dir: Path) -> ImageTransform:
        path = Path(model_dir) / PREPROCESSOR_FILE
        try:
            cfg: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path} cannot be read: {exc}.",
                                       hint="The model directory is incomplete; download it again.") from None
        return cls.from_config(cfg)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ImageTransform:
        crop = _hw(cfg.get("crop_size")) if cfg.get("do_center_crop", False) else None
        shortest = exact = None
        size = cfg.get("size")
        if cfg.get("do_resize", True) and size is not None:
            if isinstance(size, dict) and "shortest_edge" in size:
                shortest = int(size["shortest_edge"])
            elif isinstance(size, int | float):
                # An old-style bare number is the shortest edge when a crop follows, else a square.
                shortest, exact = (int(size), None) if crop else (None, (int(size), int(size)))
            else:
                exact = _hw(size)
        if shortest is None and exact is None and crop is None:
            raise ModelError(f"The image-processor config gives no image size: {cfg!r}.",
                                       hint="The model directory is incomplete; download it again.")
        mean = tuple(cfg.get("image_mean", (0.0, 0.0, 0.0))) if cfg.get("do_normalize", True) else (0.0, 0.0, 0.0)
        std = tuple(cfg.get("image_std", (1.0, 1.0, 1.0))) if cfg.get("do_normalize", True) else (1.0, 1.0, 1.0)
        scale = float(cfg.get("rescale_factor", 1.0 / 255.0)) if cfg.get("do_rescale", True) else 1.0
        return cls(shortest, exact, crop, scale, _triple(mean), _triple(std), int(cfg.get("resample", _BICUBIC)) == _BICUBIC)

    def short_side(self) -> int:
        """The smallest decoded short side (pixels) that needs no upscaling for this model."""
        sizes = [self.shortest_edge or 0, *(self.exact or ()), *(self.crop or ())]
        return max(sizes)

    def __call__(self, images: Sequence[np.ndarray], device: Any = "cpu", dtype: Any = None) -> Any:
        """``N×3×H×W`` tensor on ``device`` in ``dtype`` (float32 when None)."""
        import torch
        import torch.nn.functional as F

        out = []
        for image in images:
            x = torch.from_numpy(np.array(image, dtype=np.uint8)).to(device)  # a copy: frames are read-only
            x = x.unsqueeze(-1).expand(*x.shape, 3) if x.ndim == 2 else x[..., :3]
            x = x.permute(2, 0, 1).unsqueeze(0).float()
            h, w = x.shape[-2:]
            target = self.exact
            if self.shortest_edge is not None:
                k = self.shortest_edge / min(h, w)
                target = (max(1, int(round(h * k))), max(1, int(round(w * k))))
            if target is not None and tuple(target) != (h, w):
                mode = "bicubic" if self.bicubic else "bilinear"
                x = F.interpolate(x, size=target, mode=mode, align_corners=False, antialias=True).clamp_(0.0, 255.0)
            if self.crop is not None:
                x = _center_crop(x, self.crop)
            out.append(x)
        batch = torch.cat(out) * self.scale
        mean = torch.tensor(self.mean, device=batch.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=batch.device).view(1, 3, 1, 1)
        batch = (batch - mean) / std
        return batch.to(dtype or torch.float32)


def _center_crop(x: Any, crop: tuple[int, int]) -> Any:
    import torch.nn.functional as F

    ch, cw = crop
    h, w = x.shape[-2:]
    if h < ch or w < cw:  # pad like the Hugging Face processors do, centred, with zeros
        ph, pw = max(ch - h, 0), max(cw - w, 0)
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        h, w = x.shape[-2:]
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top:top + ch, left:left + cw]


def _hw(value: Any) -> tuple[int, int]:
    if isinstance(value, int | float):
        return int(value), int(value)
    if isinstance(value, dict) and "height" in value and "width" in value:
        return int(value["height"]), int(value["width"])
    raise ModelError(f"Unknown image size {value!r} in the image-processor config.",
                               hint="Give a model whose preprocessor_config.json has height/width or shortest_edge.")


def _triple(values: tuple[Any, ...]) -> tuple[float, float, float]:
    vals = [float(v) for v in values] or [0.0]
    vals = (vals * 3)[:3] if len(vals) < 3 else vals[:3]
    if any(not math.isfinite(v) for v in vals):
        raise ModelError(f"Non-finite normalisation values {values!r}.", hint="Download the model again.")
    return vals[0], vals[1], vals[2]

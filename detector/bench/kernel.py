"""Benchmark kernel: RMS + robust z + peaks on decoded audio held in memory.

Consumes a media file (decoded once, at most an hour, into one float32 array: 230 MB for an hour
at 16 kHz, acceptable for this measurement only; the detector itself streams) and an array
backend; produces the kernel's time per repetition and its median scaled to one hour of audio.
One repetition follows the detector's own path: ``backend.frame_rms`` over all samples
(``audio_frame_s`` frames), frame energy pooled into the common timebase (``HOP_S``), conversion to
dB, :func:`detector.signals.baseline.robust_z` against ``audio_baseline_s``, and
:func:`detector.fusion.candidates.pick_peaks`.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from detector.params import Settings


def decode_into_memory(media: Path, rate: int, max_s: float) -> np.ndarray:
    """The first ``max_s`` seconds of ``media``'s audio as one mono float32 array."""
    from detector.sources.audio_stream import iter_audio_chunks

    limit = int(max_s * rate)
    buf = np.empty(limit, dtype=np.float32)
    filled = 0
    chunks = iter_audio_chunks(media, rate=rate)
    try:
        for chunk in chunks:
            take = min(len(chunk), limit - filled)
            buf[filled:filled + take] = chunk[:take]
            filled += take
            if filled >= limit:
                break
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # stops ffmpeg when we break early
    return buf[:filled]


def kernel_once(samples: np.ndarray, rate: int, backend: Any, settings: Settings) -> list[int]:
    from detector.fusion.candidates import pick_peaks
    from detector.signals.base import HOP_S
    from detector.signals.baseline import robust_z

    frame = max(round(settings["audio_frame_s"] * rate), 16)
    rms = backend.frame_rms(samples, frame)
    per_bin = max(round(HOP_S * rate / frame), 1)
    usable = len(rms) // per_bin * per_bin
    energy = (rms[:usable] * rms[:usable]).reshape(-1, per_bin).mean(axis=1)
    level = 10.0 * np.log10(energy + 1e-10)
    z, _ = robust_z(level, HOP_S, settings["audio_baseline_s"], min_scale=1.0)
    return pick_peaks(z, HOP_S, settings["threshold"], settings["min_gap_s"], int(settings["top_k"]))


def time_kernel(samples: np.ndarray, rate: int, backend: Any, settings: Settings, repeats: int
                ) -> dict[str, Any]:
    """Time ``repeats`` runs of the kernel (after one untimed warm-up run)."""
    audio_s = len(samples) / rate
    if audio_s <= 0:
        return {"audio_s": 0.0, "runs_ms": [], "median_ms": None, "ms_per_hour": None, "peaks": 0}
    peaks = kernel_once(samples, rate, backend, settings)
    runs: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        kernel_once(samples, rate, backend, settings)
        runs.append((time.perf_counter() - t0) * 1000.0)
    median = statistics.median(runs)
    return {"audio_s": audio_s, "runs_ms": [round(r, 3) for r in runs], "median_ms": round(median, 3),
            "ms_per_hour": round(median * 3600.0 / audio_s, 3), "peaks": len(peaks)}

"""Benchmark stage bodies: what each ``highlights bench`` row runs, split into setup and work.

Consumes a :class:`StageJob` (the synthetic VOD's files, the device, a work folder for hand-offs);
produces, per stage, a :class:`StageRun` whose ``work`` is the part that is timed and whose
``after`` saves what a later stage needs (the parsed chat, the signal tracks) untimed. Setup
(probing the file, importing and warming the array backend, loading hand-offs) is never timed.
Each stage runs in its own child process (:mod:`detector.bench.stage`).
"""

from __future__ import annotations

import pickle
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detector.errors import MediaError
from detector.params import Settings

RATE = 16000
FLOOR_TIMEOUT_S = 3600.0
KERNEL_MAX_S = 3600.0
"""The kernel timing decodes at most one hour into memory (230 MB of float32)."""


@dataclass(frozen=True)
class StageJob:
    """What a stage child is given (from its command line)."""

    media: Path
    chat: Path
    work: Path
    """Folder for hand-offs between stages (``chat.pkl``, ``audio.pkl``, ``chat_track.pkl``)."""
    device: str = "cpu"
    top_k: int = 10
    duration_s: float = 0.0
    repeats: int = 7
    """Kernel stage: how many timed repetitions."""

    def settings(self) -> Settings:
        return Settings({"top_k": self.top_k})


@dataclass
class StageRun:
    work: Callable[[], dict[str, Any]]
    """The timed part; returns facts for the report."""
    after: Callable[[], None] | None = None
    """Untimed: save hand-offs for later stages."""
    own_rss: bool = True
    """False for the floor: the child's own RSS is a wrapper's, only ffmpeg's counts."""
    facts: dict[str, Any] = field(default_factory=dict)
    """Untimed facts found during setup (e.g. the kernel's audio length)."""


def _save(path: Path, obj: object) -> None:
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def _load(path: Path) -> Any:
    if not path.is_file():
        raise MediaError(f"{path} is missing: run the stage that writes it first.")
    with path.open("rb") as f:
        return pickle.load(f)


def _backend(device: str):
    """The array backend, imported and warmed up (torch import, CUDA context) before timing."""
    from detector.compute import select_backend

    backend = select_backend(device)
    backend.frame_rms(np.zeros(4 * 800, dtype=np.float32), 800)
    backend.moving_average(np.zeros(64, dtype=np.float32), 5)
    return backend


def _context(job: StageJob, backend):
    from detector.signals.base import SignalContext

    return SignalContext(settings=job.settings(), backend=backend)


def floor(job: StageJob) -> StageRun:
    from detector.sources.audio_stream import decode_floor_argv

    argv = decode_floor_argv(job.media, RATE)

    def work() -> dict[str, Any]:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=FLOOR_TIMEOUT_S, check=False)
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace").strip()[-500:]
            raise MediaError(f"ffmpeg could not decode {job.media} (exit {proc.returncode}): {tail}")
        return {}

    return StageRun(work, own_rss=False)


def decode(job: StageJob) -> StageRun:
    from detector.sources.audio_stream import iter_audio_chunks

    def work() -> dict[str, Any]:
        samples = 0
        for chunk in iter_audio_chunks(job.media, rate=RATE):
            samples += len(chunk)
        return {"audio_s": samples / RATE}

    return StageRun(work)


def audio(job: StageJob) -> StageRun:
    from detector.signals.audio import AudioSignal
    from detector.signals.base import SignalInputs
    from detector.sources.media import probe

    media = probe(job.media)
    ctx = _context(job, _backend(job.device))
    inputs = SignalInputs(duration_s=max(media.duration_s, job.duration_s), media=media)
    out: dict[str, Any] = {}

    def work() -> dict[str, Any]:
        out["track"] = AudioSignal().compute(inputs, ctx)
        return {"bins": len(out["track"].values), "frames": out["track"].meta.get("frames")}

    return StageRun(work, after=lambda: _save(job.work / "audio.pkl", {"track": out["track"], "media": media}))


def chat_parse(job: StageJob) -> StageRun:
    from detector.sources.chat import load_chat

    out: dict[str, Any] = {}

    def work() -> dict[str, Any]:
        out["chat"] = load_chat(job.chat)
        return {"messages": len(out["chat"].messages), "format": out["chat"].format}

    return StageRun(work, after=lambda: _save(job.work / "chat.pkl", out["chat"]))


def chat_signal(job: StageJob) -> StageRun:
    from detector.signals.base import SignalInputs
    from detector.signals.chat import ChatSignal

    chat = _load(job.work / "chat.pkl")
    ctx = _context(job, _backend(job.device))
    inputs = SignalInputs(duration_s=max(job.duration_s, chat.duration_s), chat=chat)
    out: dict[str, Any] = {}

    def work() -> dict[str, Any]:
        out["track"] = ChatSignal().compute(inputs, ctx)
        return {"bins": len(out["track"].values)}

    return StageRun(work, after=lambda: _save(job.work / "chat_track.pkl", out["track"]))


def fusion(job: StageJob) -> StageRun:
    """Lag estimate, alignment, fusion, peaks and explanations: the pipeline's steps after signals."""
    from detector.pipeline import rank

    saved = _load(job.work / "audio.pkl")
    chat = _load(job.work / "chat.pkl")
    tracks = {"chat": _load(job.work / "chat_track.pkl"), "audio": saved["track"]}
    settings = job.settings()
    duration = max(saved["media"].duration_s, chat.duration_s)

    def work() -> dict[str, Any]:
        ranked = rank(tracks, chat, settings, duration)
        return {"candidates": len(ranked.candidates), "chat_lag_s": ranked.lag.lag_s if ranked.lag else None}

    return StageRun(work)


def detect(job: StageJob) -> StageRun:
    from detector.pipeline import DetectRequest
    from detector.pipeline import detect as run_detect

    _backend(job.device)
    req = DetectRequest(media=job.media, chat=job.chat, settings=job.settings(), device=job.device)

    def work() -> dict[str, Any]:
        result = run_detect(req)
        meta = result.meta
        return {
            "candidates": [[c.start_s, c.end_s, c.peak_s, c.score] for c in result.candidates],
            "chat_lag_s": meta.get("chat_lag_s"), "chat_lag_source": meta.get("chat_lag_source"),
            "chat_lag_correlation": meta.get("chat_lag_correlation"), "mode": meta.get("mode"),
            "device": meta.get("device"), "timings": meta.get("timings"),
        }

    return StageRun(work)


def kernel(job: StageJob) -> StageRun:
    """RMS + robust z + peak picking on up to an hour of audio decoded once into memory."""
    from detector.bench.kernel import decode_into_memory, time_kernel

    samples = decode_into_memory(job.media, RATE, KERNEL_MAX_S)
    backend = _backend(job.device)
    settings = job.settings()

    def work() -> dict[str, Any]:
        return time_kernel(samples, RATE, backend, settings, max(job.repeats, 1))

    return StageRun(work, facts={"audio_s": len(samples) / RATE})


STAGES: dict[str, Callable[[StageJob], StageRun]] = {
    "floor": floor, "decode": decode, "audio": audio, "chat_parse": chat_parse,
    "chat_signal": chat_signal, "fusion": fusion, "detect": detect, "kernel": kernel,
}
"""Stage names in the order the runner runs them (later stages read earlier hand-offs)."""

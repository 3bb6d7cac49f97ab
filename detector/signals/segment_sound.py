"""Signals stage, segment features from the sound: ``speech`` share and ``loudness_db`` per step.

Consumes the whole VOD's audio (16 kHz mono, streamed by ``detector.sources.audio_stream``);
produces one value per step of each feature (their meaning and units:
``detector.signals.segment_features``) and facts about the pass (which speech detector ran, the
seconds of audio read and spent in it). Speech is faster-whisper's bundled Silero VAD when it
loads, else a voice-band energy ratio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from detector.records import AbortCheck, MediaInfo, ProgressCallback
from detector.signals.segment_steps import step_count

log = logging.getLogger(__name__)

STAGE_SOUND = "segments: sound"
"""Stage name passed to progress callbacks (seconds of the VOD done, of its duration)."""
SPEECH_PROB = 0.5
RATE = 16000
VAD_WINDOW = 512
"""Samples per Silero VAD decision (32 ms at 16 kHz)."""
VAD_EVERY = 8
"""The VAD decides on one 32 ms window in this many (every 256 ms): a 2 s step still gets ~8
decisions, enough for a speech *share* over a ``segment_min_s`` label, and the VAD — with the decode,
the dearest part of the segmenter's sound pass — costs an eighth. The decimated windows go to Silero as
one batch, as faster-whisper batches whole files (each window is scored on its own there too)."""


def speech_detector(every: int = VAD_EVERY) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """A function giving one speech probability per ``every``-th 32 ms window (the first of each
    ``every``), and its name.

    faster-whisper's bundled Silero VAD when it loads; otherwise a voice-band energy ratio."""
    try:
        from faster_whisper.vad import get_vad_model

        model = get_vad_model()
    except (ImportError, RuntimeError, OSError) as exc:
        log.info("Silero VAD unavailable (%s); speech share from the voice-band energy ratio", exc)
        return (lambda chunk: _voice_band(chunk, every)), "voice-band"

    def silero(chunk: np.ndarray) -> np.ndarray:
        picked = _every(chunk, every)
        if len(picked) == 0:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(model(picked.reshape(-1)), dtype=np.float32).reshape(-1)

    return silero, "silero-vad"


def _every(chunk: np.ndarray, every: int) -> np.ndarray:
    """The chunk's 32 ms windows (the last one zero-padded), every ``every``-th: ``(n, VAD_WINDOW)``."""
    pad = (-len(chunk)) % VAD_WINDOW
    windows = (np.pad(chunk, (0, pad)) if pad else chunk).reshape(-1, VAD_WINDOW)
    return np.ascontiguousarray(windows[::max(int(every), 1)], dtype=np.float32)


def _voice_band(chunk: np.ndarray, every: int = VAD_EVERY) -> np.ndarray:
    """Fallback: a window is 'speech' in proportion to its 300–3400 Hz energy share, when audible."""
    if len(chunk) == 0:
        return np.zeros(0, dtype=np.float32)
    frames = _every(chunk, every) * np.hanning(VAD_WINDOW)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(VAD_WINDOW, 1.0 / RATE)
    band = power[:, (freqs >= 300) & (freqs <= 3400)].sum(axis=1)
    ratio = band / np.maximum(power.sum(axis=1), 1e-12)
    audible = frames.std(axis=1) > 10 ** (-45 / 20)
    return np.clip((ratio - 0.5) / 0.4, 0, 1).astype(np.float32) * audible


def _add_energy(chunk: np.ndarray, done: int, step_samples: int, energy: np.ndarray, samples: np.ndarray) -> None:
    """Add the chunk's squared samples and sample counts to the steps they fall in (a chunk starts on a
    step boundary, so whole steps are a reshape; anything past the last step counts in it)."""
    n = len(energy)
    first = done // step_samples
    whole = len(chunk) // step_samples
    if whole:
        body = chunk[: whole * step_samples].reshape(whole, step_samples)
        sums = np.einsum("ij,ij->i", body, body, dtype=np.float64)
        idx = np.minimum(np.arange(first, first + whole), n - 1)
        np.add.at(energy, idx, sums)
        np.add.at(samples, idx, step_samples)
    rest = chunk[whole * step_samples:]
    if len(rest):
        i = min(first + whole, n - 1)
        energy[i] += float(np.dot(rest.astype(np.float64), rest))
        samples[i] += len(rest)


def audio_features(media: MediaInfo, step_s: float, duration_s: float, *, abort: AbortCheck | None = None,
                   progress: ProgressCallback | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``speech`` and ``loudness_db`` per step, from the whole VOD's audio."""
    from detector.sources.audio_stream import iter_audio_chunks

    detect, method = speech_detector()
    n = step_count(duration_s, step_s)
    step_samples = int(round(step_s * RATE))
    chunk_steps = max(1, int(round(30.0 / step_s)))
    speech_sum = np.zeros(n)
    speech_cnt = np.zeros(n)
    energy = np.zeros(n)
    samples = np.zeros(n)
    done = 0
    vad_s = 0.0
    for chunk in iter_audio_chunks(media.path, rate=RATE, chunk_s=chunk_steps * step_s, abort=abort):
        _add_energy(chunk, done, step_samples, energy, samples)
        t0 = time.perf_counter()
        probs = detect(chunk)
        vad_s += time.perf_counter() - t0
        centres = done + (np.arange(len(probs)) * VAD_EVERY + 0.5) * VAD_WINDOW
        keep = centres < done + len(chunk)
        widx = np.minimum((centres[keep] // step_samples).astype(np.int64), n - 1)
        speech_sum += np.bincount(widx, weights=(probs[keep] >= SPEECH_PROB).astype(np.float64), minlength=n)[:n]
        speech_cnt += np.bincount(widx, minlength=n)[:n]
        done += len(chunk)
        if progress is not None:
            progress(STAGE_SOUND, done / RATE, duration_s)
    speech = np.where(speech_cnt > 0, speech_sum / np.maximum(speech_cnt, 1), 0.0)
    rms = np.sqrt(energy / np.maximum(samples, 1))
    loud = np.where(samples > 0, 20 * np.log10(np.maximum(rms, 10 ** (-90 / 20))), -90.0)
    meta = {"speech_method": method, "audio_s": round(done / RATE, 3), "vad_s": round(vad_s, 3)}
    return {"speech": speech.astype(np.float32), "loudness_db": loud.astype(np.float32)}, meta

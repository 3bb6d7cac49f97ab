"""Signals stage, segment features from the sound: ``speech`` share and ``loudness_db`` per step.

Consumes the whole VOD's audio (16 kHz mono, streamed by ``detector.sources.audio_stream``);
produces one value per step of each feature (their meaning and units:
``detector.signals.segment_features``) and facts about the pass (which speech detector ran, the
seconds of audio read and spent in it). Speech is faster-whisper's bundled Silero VAD when it
loads, else a voice-band energy ratio. :class:`SoundSteps` accumulates the features from chunks of
any length, so the pipeline can feed it the audio signal's own decode (a tap) instead of decoding
the VOD's sound a second time: on a 4-hour VOD that second decode alone cost about as much as the
decode floor (~25–45 s on two cores).
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


VAD_BLOCK_S = 30.0
"""Seconds of sound the VAD scores per call (its recurrent state starts afresh at each block)."""


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
    """Add the chunk's squared samples and sample counts to the steps they fall in (the chunk may start
    anywhere; anything past the last step counts in it)."""
    if len(chunk) == 0:
        return
    n = len(energy)
    head = (-done) % step_samples  # samples before the first step boundary inside the chunk
    cuts = np.arange(head, len(chunk), step_samples)
    bounds = cuts if head == 0 else np.concatenate([[0], cuts])
    sums = np.add.reduceat(np.square(chunk, dtype=np.float64), bounds)
    counts = np.diff(np.append(bounds, len(chunk)))
    idx = np.minimum((done + bounds) // step_samples, n - 1)
    np.add.at(energy, idx, sums)
    np.add.at(samples, idx, counts)


class SoundSteps:
    """The sound features accumulated chunk by chunk, from any stream of the VOD's 16 kHz mono audio
    (its own decode in :func:`audio_features`, or the audio signal's decode shared through a tap, so
    the VOD's sound is decoded once per job). Chunks may have any length; :meth:`result` gives the
    features per step and facts about the pass."""

    def __init__(self, step_s: float, duration_s: float) -> None:
        self.step_s, self.duration_s = float(step_s), float(duration_s)
        self._detect, self.method = speech_detector()
        self.n = step_count(duration_s, step_s)
        self._step_samples = int(round(step_s * RATE))
        self._speech_sum = np.zeros(self.n)
        self._speech_cnt = np.zeros(self.n)
        self._energy = np.zeros(self.n)
        self._samples = np.zeros(self.n)
        self.done = 0
        self._block = int(round(VAD_BLOCK_S * RATE))
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self._vad_done = 0
        self.vad_s = 0.0
        self.busy_s = 0.0
        """Seconds spent in :meth:`feed` (the whole cost of the features beside the decode)."""

    def feed(self, chunk: np.ndarray) -> None:
        """Add the next samples (any length). The VAD runs on whole ``VAD_BLOCK_S`` blocks counted from
        the start (Silero carries its state through a block), so the result does not depend on how
        the stream was cut into chunks."""
        t_in = time.perf_counter()
        _add_energy(chunk, self.done, self._step_samples, self._energy, self._samples)
        self.done += len(chunk)
        self._pending.append(np.asarray(chunk, dtype=np.float32))
        self._pending_n += len(chunk)
        if self._pending_n >= self._block:
            joined = np.concatenate(self._pending)
            whole = len(joined) // self._block * self._block
            for start in range(0, whole, self._block):
                self._vad(joined[start:start + self._block])
            rest = joined[whole:]
            self._pending, self._pending_n = ([rest] if len(rest) else []), len(rest)
        self.busy_s += time.perf_counter() - t_in

    def _vad(self, block: np.ndarray) -> None:
        n, first = self.n, self._vad_done
        t0 = time.perf_counter()
        probs = self._detect(block)
        self.vad_s += time.perf_counter() - t0
        centres = first + (np.arange(len(probs)) * VAD_EVERY + 0.5) * VAD_WINDOW
        keep = centres < first + len(block)
        widx = np.minimum((centres[keep] // self._step_samples).astype(np.int64), n - 1)
        self._speech_sum += np.bincount(widx, weights=(probs[keep] >= SPEECH_PROB).astype(np.float64), minlength=n)[:n]
        self._speech_cnt += np.bincount(widx, minlength=n)[:n]
        self._vad_done = first + len(block)

    def result(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if self._pending_n:
            t0 = time.perf_counter()
            self._vad(np.concatenate(self._pending))
            self._pending, self._pending_n = [], 0
            self.busy_s += time.perf_counter() - t0
        speech = np.where(self._speech_cnt > 0, self._speech_sum / np.maximum(self._speech_cnt, 1), 0.0)
        rms = np.sqrt(self._energy / np.maximum(self._samples, 1))
        loud = np.where(self._samples > 0, 20 * np.log10(np.maximum(rms, 10 ** (-90 / 20))), -90.0)
        meta = {"speech_method": self.method, "audio_s": round(self.done / RATE, 3), "vad_s": round(self.vad_s, 3)}
        return {"speech": speech.astype(np.float32), "loudness_db": loud.astype(np.float32)}, meta


def audio_features(media: MediaInfo, step_s: float, duration_s: float, *, abort: AbortCheck | None = None,
                   progress: ProgressCallback | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``speech`` and ``loudness_db`` per step, from the whole VOD's audio (decoded here)."""
    from detector.sources.audio_stream import iter_audio_chunks

    steps = SoundSteps(step_s, duration_s)
    for chunk in iter_audio_chunks(media.path, rate=RATE, chunk_s=VAD_BLOCK_S, abort=abort):
        steps.feed(chunk)
        if progress is not None:
            progress(STAGE_SOUND, steps.done / RATE, duration_s)
    return steps.result()


def fit_steps(values: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Per-step features made for another length of the same VOD (the audio file's, where the
    segmenter reads a picture-only overview) cut or held at the end to ``n`` steps."""
    out = {}
    for name, v in values.items():
        if len(v) >= n or len(v) == 0:
            out[name] = v[:n] if len(v) else np.zeros(n, np.float32)
        else:
            out[name] = np.concatenate([v, np.full(n - len(v), v[-1], dtype=v.dtype)])
    return out

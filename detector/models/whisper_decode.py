"""Whisper decoding and VAD settings, shared by both transcript backends.

Consumed by the faster-whisper path of ``detector.signals.transcript`` (as ``transcribe()``
arguments and ``vad_parameters``) and by ``detector.models.transcribe_hf`` (its own windowing and
retries); the defaults are tuned so that silence and noise cost little and the result is the same on
every run: VAD first, greedy decoding at temperature 0 with no sampling retry, at most 224 new tokens
per 30 s window (the reference implementation's limit), and looping
(high compression ratio) or silent windows dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """Whisper decoding and VAD settings shared by both backends (defaults tuned for speed on noise)."""

    temperatures: tuple[float, ...] = (0.0,)
    """Temperatures tried in turn when a window's output loops or is unlikely. Whisper's own list has
    six, and noise that the VAD lets through loops at every one of them: each retry costs a full
    decode (measured on babble: the retry at 0.5 made the transcript 1.5x dearer), and a retry above 0
    *samples*, so the same noise gave 0 words on one run and 2 on the next. So none: greedy decoding is
    deterministic, and a window that loops at 0 is dropped (``hallucinated``)."""
    compression_ratio_threshold: float = 2.4
    """A window whose text compresses better than this is a loop: retried, and dropped if every try loops."""
    log_prob_threshold: float = -1.0
    """Mean token log-probability under which a window is retried (or is silence, see below)."""
    no_speech_threshold: float = 0.6
    """A window with this no-speech probability and a log-probability under ``log_prob_threshold`` is silence."""
    max_new_tokens: int = 224
    """Tokens decoded per 30 s window at most (fast speech needs about 150; a loop would run to 448)."""
    vad_threshold: float = 0.5
    """Silero VAD speech probability, 0–1, above which a 32 ms frame is speech."""
    vad_min_speech_ms: int = 250
    """Shorter speech runs are dropped (clicks, single syllables of noise), ms."""
    vad_min_silence_ms: int = 2000
    """Silence must last this long to end a speech run, ms."""
    vad_speech_pad_ms: int = 400
    """Audio kept on each side of a speech run, ms."""

    def vad_parameters(self, max_speech_s: float = math.inf) -> dict[str, Any]:
        """faster-whisper's ``VadOptions`` fields."""
        return {"threshold": self.vad_threshold, "min_speech_duration_ms": self.vad_min_speech_ms,
                "min_silence_duration_ms": self.vad_min_silence_ms, "speech_pad_ms": self.vad_speech_pad_ms,
                "max_speech_duration_s": max_speech_s}

    def hallucinated(self, compression_ratio: float, no_speech_prob: float, avg_logprob: float) -> bool:
        """Whether a decoded window is to be dropped: a loop, or silence decoded into words."""
        silent = no_speech_prob > self.no_speech_threshold and avg_logprob < self.log_prob_threshold
        return compression_ratio > self.compression_ratio_threshold or silent

"""Synthetic VODs, the sound: background rumble, hiss and a babbling voice, and loud planted bursts.

Consumes the VOD's length, the sample rate, the planted event times and burst lengths, and a seed;
produces float32 mono chunks of ``CHUNK_S`` seconds (deterministic from the seed), so that
``detector.synthetic.vod`` can pipe them into ffmpeg without memory growing with the VOD's length.
See ``detector.synthetic.vod`` for what is planted and why.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

CHUNK_S = 10.0
BURST_DB = 15.0
"""Planted audio bursts, in dB over the mean background power."""
_NOISE_RMS, _VOICE_RMS = 0.02, 0.035
_BG_RMS = float(np.sqrt(_NOISE_RMS**2 + 0.6 * _VOICE_RMS**2))  # the voice speaks ~60 % of the time
_CROWD_RMS, _SHOUT_RMS = 0.6, 0.75  # shares of the burst's RMS (powers add to ~1)
_TWO_PI = 2.0 * np.pi


def _ramp(control: np.ndarray, step: int, n: int) -> np.ndarray:
    """Linearly interpolate control points spaced ``step`` samples apart to ``n`` samples (float32)."""
    frac = np.tile(np.arange(step, dtype=np.float32) / step, len(control) - 1)[:n]
    base = np.repeat(control[:-1].astype(np.float32), step)[:n]
    slope = np.repeat(np.diff(control).astype(np.float32), step)[:n]
    return base + slope * frac


def _background(first: int, n: int, rate: int, rng: np.random.Generator, phases: np.ndarray) -> np.ndarray:
    """Samples ``first … first+n`` of the background. Slow parts are computed at a control rate
    of ~3 kHz and interpolated, which keeps an hour of 48 kHz audio to a few seconds of numpy."""
    step = max(1, rate // 3000)
    tc = (first + step * np.arange(n // step + 2)) / rate  # control times, float64
    hiss = (rng.random(n, dtype=np.float32) - np.float32(0.5)) * np.float32(np.sqrt(12.0) * 0.35)
    rumble = _ramp(rng.standard_normal(len(tc)), step, n) * np.float32(0.94 * np.sqrt(1.5))
    # Voice: a gliding fundamental (150 Hz ± 25 Hz) with 4 harmonics via sin(k x) recurrences.
    phase_c = _TWO_PI * 150.0 * tc - (25.0 / 0.31) * np.cos(_TWO_PI * 0.31 * tc + phases[0])
    wrapped = np.mod(phase_c, _TWO_PI)
    wrapped[1:] = wrapped[:-1] + np.diff(phase_c)  # local unwrap so each segment interpolates correctly
    phase = _ramp(wrapped, step, n)
    s, c = np.sin(phase), np.cos(phase)
    s2, c2 = 2 * s * c, 1 - 2 * s * s
    tone = s + np.float32(0.6) * s2 + np.float32(0.35) * (s2 * c + c2 * s) + np.float32(0.4) * (s2 * c2)
    syllable = (0.5 + 0.5 * np.sin(_TWO_PI * 4.3 * tc + 1.3 * np.sin(_TWO_PI * 0.7 * tc))) ** 2
    phrase = np.sin(_TWO_PI * tc / 9.1 + phases[1]) + 0.6 * np.sin(_TWO_PI * tc / 4.3 + phases[2]) + 0.3
    drift = 10.0 ** ((2.0 * np.sin(_TWO_PI * tc / 173.0 + phases[3])
                      + np.sin(_TWO_PI * tc / 61.0 + phases[4])) / 20.0)
    voice_env = syllable * np.clip(phrase * 3.0, 0.0, 1.0) * drift * (_VOICE_RMS / 0.456)
    noise = (hiss + rumble) * _ramp(drift * _NOISE_RMS, step, n)
    return noise + tone * _ramp(voice_env, step, n)


def _burst(t: np.ndarray, start: float, length: float, rng: np.random.Generator) -> np.ndarray:
    u = t - start
    envelope = np.clip(u / 0.05, 0.0, 1.0) * np.clip((length - u) / 0.4, 0.0, 1.0)
    crowd = rng.standard_normal(len(t)) * (1.0 + 0.3 * np.sin(_TWO_PI * 7.0 * u))
    phase = _TWO_PI * (320.0 * u + 60.0 * u * u / length) + 0.4 * np.sin(_TWO_PI * 5.5 * u)
    shout = sum(np.sin(k * phase) / k for k in range(1, 6)) / 0.855  # RMS of sum(sin(kx)/k), k ≤ 5
    level = _BG_RMS * 10.0 ** (BURST_DB / 20.0)
    return (envelope * level * (_CROWD_RMS * crowd + _SHOUT_RMS * shout)).astype(np.float32)


def make_audio_chunks(duration_s: float, rate: int, events: Sequence[float], bursts: Sequence[float],
                      seed: int) -> Iterator[np.ndarray]:
    """The VOD's sound in ``CHUNK_S`` chunks: background everywhere, a burst at each event."""
    rng = np.random.default_rng([seed, 1])
    phases = rng.uniform(0.0, _TWO_PI, 5)
    total = round(duration_s * rate)
    step = int(CHUNK_S * rate)
    for first in range(0, total, step):
        n = min(step, total - first)
        t = (first + np.arange(n)) / rate
        chunk = _background(first, n, rate, rng, phases)
        for start, length in zip(events, bursts):
            lo, hi = max(first, int(start * rate)), min(first + n, int((start + length) * rate) + 1)
            if lo < hi:
                chunk[lo - first:hi - first] += _burst(t[lo - first:hi - first], start, length, rng)
        yield np.clip(chunk, -1.0, 1.0, out=chunk)

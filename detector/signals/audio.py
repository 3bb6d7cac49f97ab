"""Audio signal: how loud and how excited the VOD sounds, second by second.

Consumes the media file (decoded streaming to 16 kHz mono float32 in chunks, so memory does not
grow with VOD length); produces a ``SignalTrack`` named ``audio`` on the VOD timeline. Per analysis
frame (``audio_frame_s``): RMS loudness (``unfold`` on the GPU, a reshape on the CPU), voice-band
(300–3400 Hz) energy and spectral flux (onsets: crowd noise, shouting, explosions). Frames are pooled
into the common timebase, converted to dB, smoothed, and each becomes a robust z-score against a
``audio_baseline_s`` local baseline. Features: ``rms``, ``voice``, ``flux``. Every chunk also goes to
``SignalInputs.audio_taps`` (the segmenter's sound features), so the sound is decoded once per job;
the taps' seconds are in ``meta["taps_s"]``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from detector.records import SignalTrack
from detector.signals.base import HOP_S, Signal, SignalContext, SignalInputs
from detector.signals.baseline import robust_z

RATE = 16000
VOICE_BAND_HZ = (300.0, 3400.0)
MIN_SCALE_DB = 1.0
"""A feature's z-score scale never drops below 1 dB, so near-silent stretches are not spikes."""
Z_FLOOR = -3.0


class AudioSignal(Signal):
    NAME = "audio"
    version = "1"
    needs = ("audio",)

    def compute(self, inputs: SignalInputs, ctx: SignalContext) -> SignalTrack:
        assert inputs.media is not None
        from detector.sources.audio_stream import iter_audio_chunks
        from detector.sources.prefetch import prefetch

        chunks = iter_audio_chunks(inputs.media.path, rate=RATE, abort=ctx.abort, progress=ctx.progress,
                                   total_s=inputs.media.duration_s or None)
        # Decode ahead in a thread: ffmpeg and the feature maths then overlap on two cores.
        tapped = _Tapped(prefetch(chunks), inputs.audio_taps)
        frames = accumulate_frames(tapped, ctx)
        track = frames_to_track(frames, inputs.duration_s, ctx)
        track.meta["taps_s"] = round(tapped.seconds, 4)
        return track


class _Tapped:
    """The chunk stream, each chunk handed to every tap before the signal reads it; ``seconds``: the
    time the taps took (their work, not the audio signal's)."""

    def __init__(self, chunks, taps) -> None:
        self._chunks, self._taps, self.seconds = chunks, tuple(taps), 0.0

    def __iter__(self):
        for chunk in self._chunks:
            if self._taps:
                t0 = time.perf_counter()
                for tap in self._taps:
                    tap(chunk)
                self.seconds += time.perf_counter() - t0
            yield chunk


def accumulate_frames(chunks, ctx: SignalContext) -> dict[str, np.ndarray]:
    """Frame energy, voice-band energy and flux over a stream of sample chunks."""
    frame = max(int(round(ctx.settings["audio_frame_s"] * RATE)), 16)
    lo = int(VOICE_BAND_HZ[0] * frame / RATE)
    hi = int(VOICE_BAND_HZ[1] * frame / RATE) + 1
    parts: dict[str, list[np.ndarray]] = {"energy": [], "voice": [], "flux": []}
    carry = np.zeros(0, dtype=np.float32)
    prev = None
    for chunk in chunks:
        samples = np.concatenate([carry, chunk]) if len(carry) else chunk
        usable = len(samples) // frame * frame
        if usable:
            body = samples[:usable]
            rms = ctx.backend.frame_rms(body, frame)
            voice, flux, prev = ctx.backend.spectral(body, frame, (lo, hi), prev)
            parts["energy"].append(rms * rms)
            parts["voice"].append(voice / frame)
            parts["flux"].append(flux)
        carry = samples[usable:].copy()
    out = {k: (np.concatenate(v) if v else np.zeros(0, dtype=np.float32)) for k, v in parts.items()}
    out["frame_s"] = np.array([frame / RATE])
    return out


def frames_to_track(frames: dict[str, np.ndarray], duration_s: float, ctx: SignalContext) -> SignalTrack:
    """Pool frame features into the timebase, smooth them and score them against a local baseline."""
    settings = ctx.settings
    frame_s = float(frames["frame_s"][0])
    n_frames = len(frames["energy"])
    n_bins = max(int(math.ceil(max(duration_s, n_frames * frame_s) / HOP_S)), 1)
    bin_of = np.minimum((np.arange(n_frames) * frame_s / HOP_S).astype(np.int64), n_bins - 1)
    per_bin = np.maximum(np.bincount(bin_of, minlength=n_bins), 1)
    smooth = max(int(round(settings["audio_smooth_s"] / HOP_S)), 1)
    features: dict[str, np.ndarray] = {}
    raw: dict[str, np.ndarray] = {}
    for name, key, to_db in (("rms", "energy", True), ("voice", "voice", True), ("flux", "flux", False)):
        pooled = np.bincount(bin_of, weights=frames[key], minlength=n_bins) / per_bin
        # Smooth in the linear domain: zero padding at the VOD's edges then reads as silence.
        pooled = ctx.backend.moving_average(pooled.astype(np.float32), smooth)
        level = 10.0 * np.log10(np.maximum(pooled, 0.0) + 1e-10) if to_db else pooled * 100.0
        z, _base = robust_z(level, HOP_S, settings["audio_baseline_s"],
                            min_scale=MIN_SCALE_DB if to_db else 0.05)
        features[name] = np.maximum(z, Z_FLOOR)
        raw[name] = level.astype(np.float32)
    weights = {f: settings[f"w_audio_{f}"] for f in features}
    total = sum(weights.values()) or 1.0
    values = sum(weights[f] * features[f] for f in features) / total
    return SignalTrack(name="audio", hop_s=HOP_S, values=np.asarray(values, dtype=np.float32),
                       features=features, meta={"raw": raw, "frames": n_frames, "frame_s": frame_s,
                                                "timeline": "vod"})

"""Synthetic VODs with known answers, for tests and benchmarks.

Consumes a seed and a description (length, planted event times, chat lag); produces a media file
(AAC 48 kHz stereo in .mp4 with a tiny H.264 video, or an audio-only .m4a) and a chat log whose
highlights are known exactly. Everything is deterministic from the seed.

What is planted:

* **Audio.** Background = low rumble plus hiss whose loudness drifts slowly (±3 dB), and a
  "babbling" harmonic voice (gliding pitch, syllable-rate amplitude modulation, phrases and pauses)
  standing in for speech. At each event a 3–4 s burst starts *at the event time*: broadband
  crowd-like noise plus a shouting-like harmonic tone, about +15 dB over the background.
* **Chat.** Background messages are a Poisson process at 1–2 msg/s (slowly varying) of ordinary
  text from a pool of authors, with an occasional emote. At each ``event + chat_lag_s`` a burst of
  8–12 s at 5–10× the rate carries hype tokens and emotes (KEKW, LUL, PogChamp, OMEGALUL, CLIP IT,
  LMAO, ?????, caps). *Decoys* (times in ``SyntheticVod.decoys``) are chat-only bursts of plain
  command spam (``!drop``, ``!points``…) at ~4× the rate with no hype and no audio change: a detector
  should not rank them.

Audio (``detector.synthetic.audio``) is generated in 10 s chunks piped into ffmpeg, so memory does
not grow with the VOD's length; the chat log comes from ``detector.synthetic.chat``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.ffmpeg import feed_ffmpeg, ffmpeg_path, run_ffmpeg
from detector.synthetic.audio import make_audio_chunks
from detector.synthetic.chat import CHAT_FORMATS, chat_messages, write_chat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyntheticVod:
    """A generated sample and its known answers (all times on the VOD timeline, seconds)."""

    media_path: Path | None
    chat_path: Path | None
    duration_s: float
    events: tuple[float, ...]
    """Planted moments: each audio burst starts here; the chat burst starts ``chat_lag_s`` later."""
    chat_lag_s: float
    burst_s: tuple[float, ...] = ()
    """Length of each event's audio burst (same order as ``events``)."""
    decoys: tuple[float, ...] = ()
    """Starts of chat-only decoy bursts (plain spam, no audio): not highlights."""


def default_events(duration_s: float, rng: np.random.Generator) -> tuple[float, ...]:
    """About one event per 5 minutes, spread evenly with jitter, ≥ 60 s apart and from the ends."""
    margin = min(60.0, duration_s / 4.0)
    count = max(1, round(duration_s / 300.0))
    span = (duration_s - 2 * margin) / count
    jitter = max(0.0, min(span * 0.25, (span - 60.0) / 2.0))
    return tuple(round(margin + span * (i + 0.5) + rng.uniform(-jitter, jitter), 2) for i in range(count))


def _decoy_times(duration_s: float, avoid: Sequence[float], count: int,
                 rng: np.random.Generator) -> tuple[float, ...]:
    found: list[float] = []
    for _ in range(50 * max(count, 1)):
        if len(found) >= count or duration_s < 120.0:
            break
        t = float(rng.uniform(30.0, duration_s - 30.0))
        if all(abs(t - a) > 45.0 for a in [*avoid, *found]):
            found.append(round(t, 2))
    return tuple(sorted(found))


def _encode(out: Path, duration_s: float, *, audio_chunks: Iterable[np.ndarray] | None, video: bool, width: int, height: int,
            fps: int, audio_rate: int) -> None:
    argv = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    if video:
        argv += ["-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:r={fps}:d={duration_s:.3f}"]
    if audio_chunks is not None:
        argv += ["-f", "f32le", "-ar", str(audio_rate), "-ac", "1", "-i", "pipe:0"]
    if video:
        argv += ["-map", "0:v", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "32", "-pix_fmt", "yuv420p",
                 "-g", str(fps * 5)]
    if audio_chunks is not None:
        argv += ["-map", f"{1 if video else 0}:a", "-c:a", "aac", "-aac_coder", "fast", "-b:a", "128k",
                 "-ac", "2", "-ar", str(audio_rate)]
    argv += ["-t", f"{duration_s:.3f}", str(out)]
    chunks = (chunk.data.cast("B") for chunk in audio_chunks) if audio_chunks is not None else None
    feed_ffmpeg(argv, chunks, timeout_s=max(600.0, duration_s), what=f"writing {out}")


def make_vod(out_dir: str | Path, *, minutes: float = 3, events: Sequence[float] | None = None,
             chat_lag_s: float = 18.0, video: bool = True, audio: bool = True, chat: bool = True,
             chat_format: str = "jsonl", seed: int = 0, width: int = 320, height: int = 180,
             fps: int = 10, audio_rate: int = 48000, decoys: int | None = None,
             name: str = "vod") -> SyntheticVod:
    """Generate a VOD under ``out_dir`` (``<name>.mp4``/``.m4a``, ``<name>.chat.jsonl``/``.json``).

    ``events`` default to :func:`default_events`; explicit ones must leave room for their burst
    (and, with chat, for the chat burst) before the end. ``decoys`` is the number of chat-only decoy
    bursts (default: one per two events where there is room; never in the audio).
    """
    if chat_format not in CHAT_FORMATS:
        raise ValueError(f"unknown chat format {chat_format!r}; expected one of {CHAT_FORMATS}")
    duration = float(minutes) * 60.0
    if duration <= 0:
        raise ValueError("minutes must be positive")
    rng = np.random.default_rng([seed, 0])
    planted = tuple(sorted(float(e) for e in events)) if events is not None else default_events(duration, rng)
    bursts = tuple(round(float(b), 2) for b in rng.uniform(3.0, 4.0, len(planted)))
    for t, b in zip(planted, bursts):
        if t < 0 or t + b > duration or (chat and t + chat_lag_s >= duration):
            raise ValueError(f"event at {t} s does not fit in a {duration:.0f} s VOD")
    avoid = [*planted, *(t + chat_lag_s + 6.0 for t in planted)]
    n_decoys = len(planted) // 2 if decoys is None else decoys
    decoy_times = _decoy_times(duration, avoid, n_decoys, rng) if chat else ()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    media_path = None
    if video or audio:
        media_path = out / f"{name}.{'mp4' if video else 'm4a'}"
        chunks = make_audio_chunks(duration, audio_rate, planted, bursts, seed) if audio else None
        _encode(media_path, duration, audio_chunks=chunks, video=video, width=width, height=height,
                fps=fps, audio_rate=audio_rate)
    chat_path = None
    if chat:
        chat_path = out / f"{name}.chat.{'jsonl' if chat_format == 'jsonl' else 'json'}"
        write_chat(chat_path, chat_messages(duration, planted, chat_lag_s, decoy_times, seed), chat_format, duration)
    log.debug("synthetic VOD %s: events %s, decoys %s", media_path or chat_path, planted, decoy_times)
    return SyntheticVod(media_path, chat_path, duration, planted, float(chat_lag_s), bursts, decoy_times)


def make_media_without_audio(path: str | Path, *, seconds: float = 5.0, width: int = 320,
                             height: int = 180, fps: int = 10) -> Path:
    """Write a video-only .mp4 (no audio stream) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _encode(path, seconds, audio_chunks=None, video=True, width=width, height=height, fps=fps,
            audio_rate=48000)
    return path


def make_corrupt_media(path: str | Path) -> Path:
    """Write an MP4 cut off before its index (as an interrupted download is) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        whole = Path(tmp) / "whole.mp4"
        run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=2", "-c:v", "libx264", "-preset",
                    "ultrafast", "-y", str(whole)], timeout_s=60.0, what="writing a sample MP4")
        data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path

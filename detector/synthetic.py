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

Audio is generated in 10 s chunks piped into ffmpeg, so memory does not grow with the VOD's length.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from detector.ffmpeg import feed_ffmpeg, ffmpeg_path, run_ffmpeg

log = logging.getLogger(__name__)

CHUNK_S = 10.0
BURST_DB = 15.0
"""Planted audio bursts, in dB over the mean background power."""
_NOISE_RMS, _VOICE_RMS = 0.02, 0.035
_BG_RMS = float(np.sqrt(_NOISE_RMS**2 + 0.6 * _VOICE_RMS**2))  # the voice speaks ~60 % of the time
_CROWD_RMS, _SHOUT_RMS = 0.6, 0.75  # shares of the burst's RMS (powers add to ~1)
_TWO_PI = 2.0 * np.pi

CHAT_FORMATS = ("jsonl", "twitchdownloader")
_ORDINARY = (
    "hi chat", "what rank is he", "this song is nice", "how long has he been live", "gg",
    "anyone know the build", "first time here", "hello from germany", "what game is next",
    "he should go left", "chat is quiet today", "nice shot", "is this ranked", "why is he muted",
    "that was close", "love the stream", "what keyboard is that", "brb", "back", "can we get a song",
    "which server", "wait what happened", "he is tilted", "ok that was clean", "hydrate",
    "what time is it there", "lets see", "mods?", "good morning", "is that a new setup",
)
_BACKGROUND_EMOTES = ("Kappa", "LUL", "KEKW", "monkaS")
_HYPE = ("KEKW", "LUL", "PogChamp", "OMEGALUL", "CLIP IT", "LMAO", "?????", "POGGERS", "NO WAY",
         "LETS GOOO", "WHAT", "OMG", "HOLY")
_DECOY = ("!drop", "!points", "!giveaway", "!discord", "1", "!uptime")
_EMOTE_IDS = {"Kappa": "25", "LUL": "425618", "PogChamp": "305954156"}
"""First-party Twitch emotes: marked as fragments in TwitchDownloader logs (3rd-party ones are not)."""


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


# --- audio -------------------------------------------------------------------------------------

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


def _audio_chunks(duration_s: float, rate: int, events: Sequence[float], bursts: Sequence[float],
                  seed: int) -> Iterator[np.ndarray]:
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


# --- chat --------------------------------------------------------------------------------------

def _authors(rng: np.random.Generator, count: int = 400) -> list[str]:
    first = ("shadow", "pixel", "lazy", "turbo", "salty", "happy", "night", "frost", "cyber", "mega")
    second = ("fox", "gamer", "panda", "wolf", "potato", "ninja", "cat", "knight", "bean", "owl")
    return [f"{first[rng.integers(10)]}{second[rng.integers(10)]}{rng.integers(1, 9999)}" for _ in range(count)]


def _hype_text(rng: np.random.Generator) -> str:
    words = [str(w) for w in rng.choice(_HYPE, size=int(rng.integers(1, 4)))]
    if rng.random() < 0.3:
        words = [words[0]] * int(rng.integers(2, 5))
    text = " ".join(words)
    return text.upper() if rng.random() < 0.3 else text


def _chat(duration_s: float, events: Sequence[float], lag: float, decoys: Sequence[float],
          seed: int) -> list[tuple[float, str, str]]:
    rng = np.random.default_rng([seed, 2])
    authors = _authors(rng)
    phase = rng.uniform(0.0, _TWO_PI)
    messages: list[tuple[float, str, str]] = []

    def emit(count: int, lo: float, hi: float, make: Callable[[], str]) -> None:
        for offset in rng.uniform(lo, hi, count):
            if 0.0 <= offset < duration_s:
                messages.append((round(float(offset), 3), make(), str(authors[rng.integers(len(authors))])))

    def ordinary() -> str:
        text = str(_ORDINARY[rng.integers(len(_ORDINARY))])
        return f"{text} {_BACKGROUND_EMOTES[rng.integers(len(_BACKGROUND_EMOTES))]}" if rng.random() < 0.05 else text

    def background_rate(t: float) -> float:  # msg/s, drifting between 1 and 2
        return 1.5 + 0.5 * float(np.sin(_TWO_PI * t / 420.0 + phase))

    for second in range(int(np.ceil(duration_s))):
        emit(int(rng.poisson(background_rate(second))), second, second + 1.0, ordinary)
    for start in events:  # total rate factor × background, easing off over the last 30 %
        length, factor = rng.uniform(8.0, 12.0), rng.uniform(5.0, 10.0)
        for k in range(int(np.ceil(length))):
            t = start + lag + k
            shape = min(1.0, 0.4 + 2.0 * (1.0 - k / length))
            extra = max(0.0, factor * shape - 1.0) * background_rate(t)
            emit(int(rng.poisson(extra)), t, start + lag + min(k + 1.0, length), lambda: _hype_text(rng))
    for start in decoys:  # ~4x the background rate of plain command spam, 10 s
        for k in range(10):
            emit(int(rng.poisson(3.0 * background_rate(start + k))), start + k, start + k + 1.0,
                 lambda: str(rng.choice(_DECOY)))
    messages.sort()
    return messages


def _fragments(text: str) -> list[dict[str, object]]:
    """TwitchDownloader message fragments: runs of plain text, and first-party emotes on their own."""
    frags: list[dict[str, object]] = []
    pending = ""
    for i, word in enumerate(text.split(" ")):
        pending += " " if i else ""
        if word in _EMOTE_IDS:
            if pending:
                frags.append({"text": pending, "emoticon": None})
            frags.append({"text": word, "emoticon": {"emoticon_id": _EMOTE_IDS[word]}})
            pending = ""
        else:
            pending += word
    if pending:
        frags.append({"text": pending, "emoticon": None})
    return frags


def write_chat(path: Path, messages: Sequence[tuple[float, str, str]], fmt: str, duration_s: float) -> None:
    """Write ``(offset, text, author)`` messages as ``jsonl`` or a TwitchDownloader JSON file."""
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as f:
            for offset, text, author in messages:
                f.write(json.dumps({"offset": offset, "message": text, "author": author}) + "\n")
        return
    if fmt != "twitchdownloader":
        raise ValueError(f"unknown chat format {fmt!r}; expected one of {CHAT_FORMATS}")
    created = datetime(2024, 1, 1, tzinfo=UTC)

    def stamp(seconds: float) -> str:
        return (created + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    comments = [{
        "_id": f"c{i:07d}", "created_at": stamp(offset), "channel_id": "1000", "content_type": "video",
        "content_id": "2000", "content_offset_seconds": offset,
        "commenter": {"display_name": author, "_id": str(10000 + sum(map(ord, author))), "name": author.lower(),
                      "bio": None, "created_at": stamp(-86400.0), "updated_at": stamp(-86400.0), "logo": None},
        "message": {"body": text, "bits_spent": 0, "fragments": _fragments(text), "user_badges": [],
                    "user_color": "#1E90FF", "emoticons": []},
    } for i, (offset, text, author) in enumerate(messages)]
    doc = {
        "FileInfo": {"Version": {"Major": 1, "Minor": 3, "Patch": 1}, "CreatedAt": stamp(duration_s),
                     "UpdatedAt": stamp(duration_s)},
        "streamer": {"name": "synthetic", "id": 1000},
        "video": {"title": "synthetic VOD", "description": None, "id": "2000", "created_at": stamp(0.0),
                  "start": 0, "end": int(duration_s), "length": int(duration_s), "viewCount": 0,
                  "game": "Just Chatting", "chapters": []},
        "comments": comments,
        "embeddedData": None,
    }
    path.write_text(json.dumps(doc), encoding="utf-8")


# --- entry points ------------------------------------------------------------------------------

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
        chunks = _audio_chunks(duration, audio_rate, planted, bursts, seed) if audio else None
        _encode(media_path, duration, audio_chunks=chunks, video=video, width=width, height=height,
                fps=fps, audio_rate=audio_rate)
    chat_path = None
    if chat:
        chat_path = out / f"{name}.chat.{'jsonl' if chat_format == 'jsonl' else 'json'}"
        write_chat(chat_path, _chat(duration, planted, chat_lag_s, decoy_times, seed), chat_format, duration)
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

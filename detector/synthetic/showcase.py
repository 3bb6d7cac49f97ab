"""The demo's sample VOD: a 720p stream with a facecam, a talking stretch, real speech and a chat log.

Consumes a length, the planted event times and a seed; produces an MP4 (H.264 720p with a keyframe
every 2 s, as on Twitch, + AAC) and a JSONL chat log, deterministic from the seed, whose every
feature of the product has something to find:

* **Picture.** Gameplay is a colour-bar pattern scrolling fast (motion) whose colours jump every 25 s (hard scene cuts for
  edge snapping) with a small facecam in the bottom-right corner: a drawn face that OpenCV's
  bundled Haar cascade finds, so 9:16 clips stack the facecam over the gameplay. Around every
  third event (the 2nd, 5th…) the streamer is just talking: a large face drifting slowly in front
  of a backdrop (a talking stretch for the segmenter, a face-centred 9:16 crop).
* **Sound.** Game sound (a bass loop, beeps, shots) while playing, faint room noise while talking,
  and a loud burst (a roaring crowd and a shout) at each event; over them the streamer speaks for
  real: short English lines recorded once with espeak-ng and shipped in ``voice/`` (7 Opus files,
  62 kB), a calm line every ~20 s of gameplay, one after the other while talking, and an
  exclamation ("Oh my god! No way!…") right after each burst (the game sound ducks under the
  voice, as streamers' mixers do), so the
  transcript has words to score and the clips have captions to burn in. Made with::

      espeak-ng -v en-us -s 165 -a 200 -w hype-1.wav "Oh my god! No way! That was insane!"
      espeak-ng -v en-us -s 150 -a 140 -w calm-1.wav "Okay, let me check the map and the next objective."
      ffmpeg -i hype-1.wav -ac 1 -ar 16000 -c:a libopus -b:a 24k -application voip hype-1.opus

  (the lines are in ``LINES``; hype at speed 165–170, amplitude 200; calm at 150, amplitude 140).
* **Chat.** ``detector.synthetic.chat``: background chatter and a hype burst ``chat_lag_s`` after
  each event.

Needs OpenCV (the drawn faces); everything else is numpy and ffmpeg. Frames are made by ffmpeg's
own filters, so a 720p hour costs what its encoding costs.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.ffmpeg import feed_ffmpeg, ffmpeg_path
from detector.render.plan import Box
from detector.synthetic.chat import chat_messages, write_chat
from detector.synthetic.render_source import draw_face

log = logging.getLogger(__name__)

VOICE_DIR = Path(__file__).with_name("voice")
LINES = {
    "hype-1": "Oh my god! No way! That was insane!",
    "hype-2": "Let's go! Did you see that? Unbelievable!",
    "hype-3": "What! No way! That is crazy!",
    "calm-1": "Okay, let me check the map and the next objective.",
    "calm-2": "Alright chat, we farm a bit before the next fight.",
    "calm-3": "Thanks for the follow, and welcome to the stream.",
    "calm-4": "I think we should go left this time, and stay together.",
}
"""The recorded lines (file stem → what is said)."""
RATE = 16000
"""Sample rate of the generated sound (ffmpeg encodes it as 48 kHz stereo AAC)."""
SCENE_S = 25.0
"""The gameplay picture's colours jump this often (a hard cut)."""
TALK_BEFORE_S, TALK_AFTER_S = 15.0, 25.0
"""A talking stretch runs from this long before its event to this long after."""


@dataclass(frozen=True)
class ShowcaseVod:
    """The generated sample and what is known about it (seconds on the VOD timeline)."""

    media_path: Path
    chat_path: Path
    duration_s: float
    events: tuple[float, ...]
    """Planted moments: a burst, then an exclamation; chat reacts ``chat_lag_s`` later."""
    chat_lag_s: float
    talking: tuple[tuple[float, float], ...]
    """The talking stretches; everything else is gameplay with the facecam."""
    facecam: Box
    """The facecam panel in gameplay stretches, in source pixels."""
    speech: tuple[tuple[float, str], ...]
    """``(start_s, line)`` of every line spoken (keys of ``LINES``)."""


def talking_spans(duration_s: float, events: Sequence[float]) -> tuple[tuple[float, float], ...]:
    """A talking stretch around the 2nd, 5th, 8th… event."""
    return tuple((max(0.0, e - TALK_BEFORE_S), min(duration_s, e + TALK_AFTER_S))
                 for i, e in enumerate(events) if i % 3 == 1)


def speech_plan(duration_s: float, events: Sequence[float], bursts: Sequence[float],
                talking: Sequence[tuple[float, float]], lengths: dict[str, float]) -> list[tuple[float, str]]:
    """Where each line is spoken: an exclamation after each burst, calm lines elsewhere, never overlapping."""
    hype = [f"hype-{i % 3 + 1}" for i in range(len(events))]
    plan = [(round(e + b + 0.3, 2), name) for e, b, name in zip(events, bursts, hype)]
    busy = [(start - 1.0, start + lengths[name] + 1.0) for start, name in plan]
    calm = sorted(k for k in LINES if k.startswith("calm"))
    t, k = 6.0, 0
    while t < duration_s - 6.0:
        name = calm[k % len(calm)]
        end = t + lengths[name]
        clash = next((b for b in busy if t < b[1] and end > b[0]), None)
        if clash is not None:
            t = clash[1] + 0.5
            continue
        if end < duration_s:
            plan.append((round(t, 2), name))
            k += 1
        in_talk = any(a <= t < b for a, b in talking)
        t = end + (1.0 if in_talk else 16.0)
    return sorted(plan)


def _voice(name: str) -> np.ndarray:
    from detector.sources.audio_stream import iter_audio_chunks

    samples = np.concatenate(list(iter_audio_chunks(VOICE_DIR / f"{name}.opus", rate=RATE)))
    peak = float(np.max(np.abs(samples))) or 1.0
    return (samples / peak * (0.7 if name.startswith("hype") else 0.5)).astype(np.float32)


def _bed(label: str, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The background: game sound (a bass loop, beeps, shots) while playing, faint room noise while talking."""
    n = len(t)
    if label == "talking":
        return rng.normal(0.0, 0.003, n).astype(np.float32)
    bass = 0.02 * np.sign(np.sin(2 * np.pi * 55 * t)) * (np.sin(2 * np.pi * 2 * t) > 0)
    beep = 0.015 * np.sin(2 * np.pi * (600 + 400 * np.sin(2 * np.pi * 3 * t)) * t) * (np.sin(2 * np.pi * 0.5 * t) > 0.5)
    out = (bass + beep + rng.normal(0.0, 0.006, n)).astype(np.float32)
    k = int(rng.integers(0, RATE))
    while k < n:  # shots at random times
        m = min(int(0.12 * RATE), n - k)
        out[k:k + m] += (rng.normal(0.0, 0.05, m) * np.exp(-np.arange(m) / (0.03 * RATE))).astype(np.float32)
        k += int(rng.integers(int(0.3 * RATE), int(1.5 * RATE)))
    return out


def _burst(u: np.ndarray, length: float, rng: np.random.Generator) -> np.ndarray:
    """The crowd's roar and a shout, ``u`` seconds into a burst of ``length`` s (RMS about 0.3)."""
    envelope = np.clip(u / 0.05, 0.0, 1.0) * np.clip((length - u) / 0.4, 0.0, 1.0)
    crowd = rng.normal(0.0, 1.0, len(u)) * (1.0 + 0.3 * np.sin(2 * np.pi * 7.0 * u))
    phase = 2 * np.pi * (320.0 * u + 60.0 * u * u / length)
    shout = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (envelope * (0.2 * crowd + 0.2 * shout)).astype(np.float32)


def _sound(duration_s: float, events: Sequence[float], bursts: Sequence[float],
           talking: Sequence[tuple[float, float]], plan: Sequence[tuple[float, str]],
           voices: dict[str, np.ndarray], seed: int) -> Iterator[bytes]:
    """The stream's sound in 10 s chunks: the bed, a burst at each event, every line spoken."""
    rng = np.random.default_rng([seed, 4])
    total, step = int(round(duration_s * RATE)), 10 * RATE
    for first in range(0, total, step):
        n = min(step, total - first)
        t = (first + np.arange(n)) / RATE
        talk = np.zeros(n, bool)
        for a, b in talking:
            talk |= (t >= a) & (t < b)
        chunk = np.where(talk, _bed("talking", t, rng), _bed("gameplay", t, rng)).astype(np.float32)
        for start, length in zip(events, bursts):
            inside = (t >= start) & (t < start + length)
            if inside.any():
                chunk[inside] += _burst(t[inside] - start, length, rng)
        for start, name in plan:
            voice, s = voices[name], int(start * RATE)
            lo, hi = max(s, first), min(s + len(voice), first + n)
            if lo < hi:
                chunk[lo - first:hi - first] = chunk[lo - first:hi - first] * 0.4 + voice[lo - s:hi - s]
        yield np.clip(chunk, -1.0, 1.0).astype(np.float32).tobytes()


def _when(spans: Sequence[tuple[float, float]]) -> str:
    return "+".join(f"between(t,{a:.2f},{b:.2f})" for a, b in spans) or "0"


def make_showcase_vod(out_dir: str | Path, *, minutes: float = 4.0, events: Sequence[float] | None = None,
                      chat_lag_s: float = 18.0, seed: int = 7, width: int = 1280, height: int = 720,
                      fps: int = 15, name: str = "vod") -> ShowcaseVod:
    """Write ``<name>.mp4`` and ``<name>.chat.jsonl`` under ``out_dir`` (see the module docstring).

    ``events`` default to one every 75 s from 35 s, leaving room at the end for chat to react.
    """
    import cv2

    duration = float(minutes) * 60.0
    if events is None:
        events = [round(float(t), 1) for t in np.arange(35.0, duration - 45.0, 75.0)]
    events = tuple(sorted(float(e) for e in events))
    if not events or events[0] < 5.0 or events[-1] + chat_lag_s + 15.0 > duration:
        raise ValueError(f"events {events} do not fit in a {duration:.0f} s VOD")
    rng = np.random.default_rng([seed, 3])
    bursts = tuple(round(float(b), 2) for b in rng.uniform(3.0, 4.0, len(events)))
    talking = talking_spans(duration, events)
    voices = {k: _voice(k) for k in LINES}
    plan = speech_plan(duration, events, bursts, talking, {k: len(v) / RATE for k, v in voices.items()})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    media = out / f"{name}.mp4"
    cw, ch = width // 4 // 2 * 2, height * 5 // 16 // 2 * 2
    cam = Box(width - cw - width // 32, height - ch - height // 24, cw, ch)
    with tempfile.TemporaryDirectory() as tmp:
        small, _ = draw_face(cw, ch, face_share=0.5)
        big, _ = draw_face(int(width * 0.6) // 2 * 2, height, face_share=0.62)
        inputs: list[str] = []
        for key, img in (("cam", small), ("face", big)):
            png = Path(tmp) / f"{key}.png"
            cv2.imwrite(str(png), img)
            inputs += ["-i", str(png)]
        talk = _when(talking)
        # Each picture is decoded once and repeated by the loop filter (an image input re-decodes every frame).
        graph = (f"[1:v]format=yuv420p,loop=loop=-1:size=1:start=0[cam];"
                 f"[2:v]format=yuv420p,loop=loop=-1:size=1:start=0[face];"
                 f"[0:v]scroll=horizontal=0.004:vertical=0.001,hue=H='2*PI*0.37*floor(t/{SCENE_S:g})'[game];"
                 f"[game][cam]overlay=x={cam.x}:y={cam.y}:enable='not({talk})':shortest=1,"
                 f"drawbox=0:0:iw:ih:color=0x465064:t=fill:enable='{talk}',"
                 f"drawbox=0:0:iw/3:ih:color=0x5a4637:t=fill:enable='{talk}'[room];"
                 f"[room][face]overlay=x='(W-w)/2+W*0.08*sin(2*PI*t/17)':y=0:enable='{talk}':shortest=1[v]")
        g = fps * 2
        argv = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", f"smptehdbars=s={width}x{height}:r={fps}:d={duration:.3f}", *inputs,
                "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", "pipe:0",
                "-filter_complex", graph, "-map", "[v]", "-map", "3:a",
                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "33", "-pix_fmt", "yuv420p",
                "-x264-params", f"keyint={g}:min-keyint={g}:scenecut=0",
                "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000",
                "-movflags", "+faststart", "-t", f"{duration:.3f}", str(media)]
        feed_ffmpeg(argv, _sound(duration, events, bursts, talking, plan, voices, seed),
                    timeout_s=max(600.0, duration * 2), what=f"writing {media}")
    chat = out / f"{name}.chat.jsonl"
    write_chat(chat, chat_messages(duration, events, chat_lag_s, (), seed), "jsonl", duration)
    log.debug("showcase VOD %s: events %s, talking %s", media, events, talking)
    return ShowcaseVod(media, chat, duration, events, float(chat_lag_s), talking, cam, tuple(plan))

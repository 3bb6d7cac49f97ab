"""Synthetic VODs with known gameplay / talking / menu stretches, for the segmenter's tests and bench.

Consumes a plan — a sequence of ``(label, seconds)`` — and optionally a speech recording to loop;
produces an MP4 (H.264 + AAC; ``video=False``: audio-only .m4a; ``audio=False``: video-only .mp4)
whose every second has a known label. Keyframes fall every 2 s, as on Twitch. What each label looks
and sounds like:

* **gameplay** — a textured world panning fast under a static HUD, with coloured shapes bouncing
  around quickly; game-like audio (a bass loop, noise shots, explosions, chirping beeps). Gameplay
  stretches after the first carry a small facecam in a corner (a face too small to count as
  talking), and every second one has the streamer's commentary (the speech) mixed under the game.
* **talking** — a large drawn face (one OpenCV's bundled Haar cascade finds) drifting slowly in
  front of a backdrop; the speech, looped, over faint room noise.
* **menu** — a static menu screen (title, buttons, a small loading spinner); quiet soft chords, or
  silence in every second menu stretch.

Frames are drawn with OpenCV and piped into ffmpeg; audio is generated in chunks into a temporary
raw file first, so memory stays small at any length. Deterministic from ``seed``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.ffmpeg import feed_ffmpeg, ffmpeg_path
from detector.synthetic.render_source import draw_face

log = logging.getLogger(__name__)

RATE = 16000
"""Sample rate the audio is generated at (ffmpeg encodes it as 48 kHz stereo AAC)."""
KEYFRAME_S = 2
DEFAULT_PLAN: tuple[tuple[str, float], ...] = (
    ("gameplay", 40.0), ("talking", 35.0), ("menu", 25.0), ("gameplay", 45.0),
    ("talking", 30.0), ("menu", 25.0), ("gameplay", 30.0),
)
"""Seven stretches, 230 s in all."""
KNOWN = ("gameplay", "talking", "menu")


@dataclass(frozen=True)
class SegmentedVod:
    """A generated sample and its ground truth (seconds on the VOD timeline)."""

    path: Path
    duration_s: float
    truth: tuple[tuple[float, float, str], ...]
    """``(start_s, end_s, label)`` of every stretch, in order, covering the whole VOD."""
    has_video: bool = True
    has_audio: bool = True

    def label_at(self, t: float) -> str:
        for start, end, label in self.truth:
            if start <= t < end:
                return label
        return self.truth[-1][2]


# --- pictures ----------------------------------------------------------------------------------

class _Painter:
    """Draws the frame at any time of one stretch."""

    def __init__(self, label: str, index: int, count: int, width: int, height: int, seed: int) -> None:
        import cv2

        self.cv2, self.label, self.w, self.h = cv2, label, width, height
        rng = np.random.default_rng([seed, index, 1])
        if label == "gameplay":
            cells = rng.integers(0, 256, size=(height // 8 + 2, width // 8 + 2, 3), dtype=np.uint8)
            blocks = cv2.resize(cells, None, fx=16, fy=16, interpolation=cv2.INTER_NEAREST)
            self.world = cv2.GaussianBlur(blocks, (0, 0), 3.0)
            self.velocity = rng.uniform(60, 140, 2) * rng.choice([-1, 1], 2)
            n = 8
            self.pos = rng.uniform(0, 1, (n, 2)) * (width, height)
            self.vel = rng.uniform(150, 400, (n, 2)) * rng.choice([-1, 1], (n, 2))
            self.colours = [tuple(int(c) for c in rng.integers(40, 256, 3)) for _ in range(n)]
            self.cam = None
            if count > 0:  # later gameplay stretches show a small facecam in a corner
                cw, ch = width // 5 // 2 * 2, height // 4 // 2 * 2
                self.cam, _ = draw_face(cw, ch, face_share=0.55)
        elif label == "talking":
            cw, ch = int(width * 0.6) // 2 * 2, height
            self.face, _ = draw_face(cw, ch, face_share=0.62)
            self.backdrop = np.full((height, width, 3), (70, 80, 95), np.uint8)
            self.backdrop[:, : width // 3] = (90, 70, 60)
            self.period = rng.uniform(14, 22)
        else:
            base = np.zeros((height, width, 3), np.uint8)
            base[:] = np.linspace(30, 70, height, dtype=np.uint8)[:, None, None]
            cv2.putText(base, "MAIN MENU", (width // 10, height // 6), cv2.FONT_HERSHEY_SIMPLEX, height / 300,
                        (230, 230, 230), 2, cv2.LINE_AA)
            for i, name in enumerate(("PLAY", "LOADOUT", "SETTINGS", "QUIT")):
                y = height // 4 + i * height // 7
                cv2.rectangle(base, (width // 10, y), (width // 10 + width // 3, y + height // 10), (90, 60, 40), -1)
                cv2.putText(base, name, (width // 10 + 8, y + height // 14), cv2.FONT_HERSHEY_SIMPLEX,
                            height / 500, (255, 255, 255), 1, cv2.LINE_AA)
            self.menu = base

    def frame(self, t: float) -> np.ndarray:
        cv2, w, h = self.cv2, self.w, self.h
        if self.label == "gameplay":
            wh, ww = self.world.shape[:2]
            x0 = int(t * self.velocity[0]) % (ww - w)
            y0 = int(t * self.velocity[1]) % (wh - h)
            img = self.world[y0: y0 + h, x0: x0 + w].copy()
            span = np.array([w, h], dtype=np.float64)
            p = np.abs((self.pos + self.vel * t) % (2 * span) - span)  # bounce off the edges
            for (x, y), colour, k in zip(p, self.colours, range(len(p))):
                r = max(4, h // 14)
                if k % 2:
                    cv2.circle(img, (int(x), int(y)), r, colour, -1)
                else:
                    cv2.rectangle(img, (int(x) - r, int(y) - r), (int(x) + r, int(y) + r), colour, -1)
            cv2.rectangle(img, (0, h - h // 12), (w, h), (20, 20, 20), -1)
            cv2.rectangle(img, (w // 40, h - h // 16), (w // 3, h - h // 40), (40, 40, 200), -1)
            if self.cam is not None:
                ch, cw = self.cam.shape[:2]
                img[h - ch - h // 12 - 2: h - h // 12 - 2, w - cw - 4: w - 4] = self.cam
            return img
        if self.label == "talking":
            img = self.backdrop.copy()
            fw = self.face.shape[1]
            x = int((w - fw) / 2 + w * 0.08 * np.sin(2 * np.pi * t / self.period))
            img[:, x: x + fw] = self.face
            return img
        img = self.menu.copy()
        angle = 2 * np.pi * t
        cx, cy, r = w - w // 8, h - h // 6, max(4, h // 30)
        cv2.circle(img, (int(cx + r * np.cos(angle)), int(cy + r * np.sin(angle))), max(2, r // 3),
                   (255, 255, 255), -1)
        return img


# --- sounds ------------------------------------------------------------------------------------

def _speech_loop(path: Path | None) -> np.ndarray:
    if path is not None:
        from detector.sources.audio_stream import iter_audio_chunks

        speech = np.concatenate(list(iter_audio_chunks(path, rate=RATE)))
        peak = float(np.max(np.abs(speech))) or 1.0
        return (speech / peak * 0.7).astype(np.float32)
    # No recording: a babbling harmonic voice (gliding pitch, syllables, pauses); weaker than real speech.
    t = np.arange(RATE * 6) / RATE
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) * (np.sin(2 * np.pi * 0.4 * t) > -0.3)
    return (0.3 * voice * envelope).astype(np.float32)


def _stretch_audio(label: str, index: int, count: int, n: int, t0: float, speech: np.ndarray,
                   seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, index, 2])
    t = t0 + np.arange(n) / RATE
    if label == "talking":
        start = rng.integers(0, len(speech))
        voice = np.take(speech, np.arange(start, start + n), mode="wrap")
        return voice + rng.normal(0, 0.003, n).astype(np.float32)
    if label == "menu":
        if count % 2:
            return rng.normal(0, 0.0005, n).astype(np.float32)
        chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
        return (0.015 * chord * (0.75 + 0.25 * np.sin(2 * np.pi * 0.25 * t))).astype(np.float32)
    bass = 0.08 * np.sign(np.sin(2 * np.pi * 55 * t)) * (np.sin(2 * np.pi * 2 * t) > 0)
    chirp = 0.05 * np.sin(2 * np.pi * (600 + 400 * np.sin(2 * np.pi * 3 * t)) * t) * (np.sin(2 * np.pi * 0.5 * t) > 0.5)
    out = (bass + chirp + rng.normal(0, 0.01, n)).astype(np.float32)
    k = 0
    while True:  # shots (short) and explosions (long), at random times
        k += int(rng.integers(int(0.2 * RATE), int(1.2 * RATE)))
        if k >= n:
            break
        length = int(RATE * (0.9 if rng.random() < 0.15 else 0.12))
        m = min(length, n - k)
        decay = np.exp(-np.arange(m) / (length / 4))
        out[k: k + m] += (rng.normal(0, 0.35, m) * decay).astype(np.float32)
    if count % 2:  # commentary over every second gameplay stretch
        start = rng.integers(0, len(speech))
        out += 0.6 * np.take(speech, np.arange(start, start + n), mode="wrap")
    return out


def _audio_chunks(plan: Sequence[tuple[str, float]], speech: np.ndarray, seed: int) -> Iterator[np.ndarray]:
    seen: dict[str, int] = {}
    t0 = 0.0
    for index, (label, seconds) in enumerate(plan):
        count = seen.get(label, 0)
        seen[label] = count + 1
        n_total = int(round(seconds * RATE))
        for first in range(0, n_total, RATE * 10):
            n = min(RATE * 10, n_total - first)
            chunk = _stretch_audio(label, index * 10_000 + first // RATE, count, n, t0 + first / RATE, speech, seed)
            yield np.clip(chunk, -1.0, 1.0).astype(np.float32)
        t0 += n_total / RATE


# --- entry point -------------------------------------------------------------------------------

def make_segmented_vod(out_dir: str | Path, plan: Sequence[tuple[str, float]] = DEFAULT_PLAN, *,
                       speech_path: str | Path | None = None, video: bool = True, audio: bool = True,
                       width: int = 480, height: int = 270, fps: int = 10, seed: int = 0,
                       name: str = "segmented") -> SegmentedVod:
    """Write ``<name>.mp4`` (or ``.m4a`` without video) under ``out_dir``; see the module docstring.

    ``speech_path`` is a recording looped for the talking (and commentary) audio; without one a
    babbling harmonic voice stands in. Needs OpenCV for the pictures.
    """
    if not video and not audio:
        raise ValueError("a segmented VOD needs video, audio or both")
    for label, seconds in plan:
        if label not in KNOWN or seconds <= 0:
            raise ValueError(f"bad plan entry ({label!r}, {seconds}); labels are {KNOWN}, lengths positive")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.{'mp4' if video else 'm4a'}"
    truth: list[tuple[float, float, str]] = []
    t = 0.0
    for label, seconds in plan:
        truth.append((t, t + float(seconds), label))
        t += float(seconds)
    duration = t
    with tempfile.TemporaryDirectory() as tmp:
        argv = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        if video:
            argv += ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0"]
        if audio:
            raw = Path(tmp) / "audio.f32"
            with raw.open("wb") as fh:
                for chunk in _audio_chunks(plan, _speech_loop(Path(speech_path) if speech_path else None), seed):
                    fh.write(chunk.tobytes())
            argv += ["-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", str(raw)]
        if video:
            g = fps * KEYFRAME_S
            argv += ["-map", "0:v", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28", "-pix_fmt", "yuv420p",
                     "-x264-params", f"keyint={g}:min-keyint={g}:scenecut=0"]
        if audio:
            argv += ["-map", f"{1 if video else 0}:a", "-c:a", "aac", "-aac_coder", "fast", "-b:a", "96k", "-ac", "2", "-ar", "48000"]
        argv += ["-t", f"{duration:.3f}", str(path)]
        _encode(argv, plan, width, height, fps, seed, video, duration)
    log.debug("segmented VOD %s: %s", path, truth)
    return SegmentedVod(path, duration, tuple(truth), has_video=video, has_audio=audio)


def _encode(argv: list[str], plan: Sequence[tuple[str, float]], width: int, height: int, fps: int, seed: int,
            video: bool, duration: float) -> None:
    frames = _frames(plan, width, height, fps, seed) if video else None
    feed_ffmpeg(argv, frames, timeout_s=max(600.0, duration), what="writing a segmented VOD")


def _frames(plan: Sequence[tuple[str, float]], width: int, height: int, fps: int,
            seed: int) -> Iterator[bytes]:
    seen: dict[str, int] = {}
    frame_index = 0
    t0 = 0.0
    for index, (label, seconds) in enumerate(plan):
        count = seen.get(label, 0)
        seen[label] = count + 1
        painter = _Painter(label, index, count, width, height, seed)
        end = t0 + float(seconds)
        while frame_index / fps < end - 1e-9:
            t = frame_index / fps
            yield painter.frame(t - t0).tobytes()
            frame_index += 1
        t0 = end

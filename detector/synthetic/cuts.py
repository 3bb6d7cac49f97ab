"""Synthetic video with known scene cuts (and optional speech-like sound with known silences).

Test and bench material for the scene signal (``detector.signals.scenes``) and boundary snapping
(``detector.fusion.snap``). Consumes a list of :class:`Shot` specs; produces an H.264 MP4 and a
:class:`CutVideo` saying exactly where every cut is (the time of the first frame of the new shot),
which cuts join two *similar* shots, where a gradual pan runs (which must not count as a cut), where
the keyframes are (a fixed GOP of ``keyint_s`` seconds, encoder scene-cut off, so the fast path's
resolution is known) and, with sound, where the planted silent gaps are.

Frames are drawn with numpy at ``width``×``height`` and piped raw to ffmpeg; ``out_size`` makes
ffmpeg upscale them (nearest neighbour) for large test sources such as 1080p benches, so the pipe
stays small. Every shot has moving content, so a detector cannot just look for a frozen frame.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.ffmpeg import feed_ffmpeg, ffmpeg_path

KINDS = ("blocks", "plaid", "pan")
AUDIO_RATE = 48000


@dataclass(frozen=True, slots=True)
class Shot:
    """One shot: what it shows and for how long (rounded to whole frames)."""

    kind: str
    """``blocks``: a solid background with a square and a bar moving over it; ``plaid``: a colour
    tinted sine plaid drifting slowly; ``pan``: a wide sine texture panned sideways (one long camera
    move, no cut inside)."""
    seconds: float
    colour: tuple[int, int, int]
    """RGB background (``blocks``) or tint (``plaid``, ``pan``)."""
    similar: bool = False
    """The cut into this shot joins two shots meant to look alike (documentation for tests)."""
    speed: float = 40.0
    """``pan``: pixels per second at ``width``; other kinds: how fast the content moves."""


DEFAULT_SHOTS: tuple[Shot, ...] = (
    Shot("blocks", 4.0, (170, 40, 40)),
    Shot("blocks", 3.5, (40, 150, 60)),
    Shot("plaid", 3.0, (40, 80, 220)),
    Shot("plaid", 2.7, (210, 60, 150), similar=True),
    Shot("pan", 8.0, (200, 170, 80), speed=30.0),
    Shot("blocks", 3.3, (40, 40, 160)),
    Shot("blocks", 2.5, (20, 160, 60), similar=True),
    Shot("plaid", 3.0, (210, 120, 30)),
)
"""30 s: seven cuts (two between similar shots) and an 8 s pan in the middle."""


@dataclass(frozen=True)
class CutVideo:
    """A generated video and what is known about it (all times in seconds)."""

    path: Path
    width: int
    height: int
    fps: int
    duration_s: float
    cuts: tuple[float, ...]
    """First frame of each new shot."""
    similar_cuts: tuple[float, ...]
    pans: tuple[tuple[float, float], ...]
    """``(start, end)`` of each pan shot."""
    keyint_s: float
    keyframes: tuple[float, ...]
    """Every keyframe (a fixed GOP from 0: ``0, keyint_s, 2*keyint_s...``)."""
    silences: tuple[tuple[float, float], ...] = ()
    """Planted silent gaps in the sound (empty without sound)."""

    @property
    def frame_s(self) -> float:
        return 1.0 / self.fps

    def first_keyframe_at_or_after(self, t: float) -> float:
        """Where the keyframes-only pass can first see a cut at ``t``."""
        later = [k for k in self.keyframes if k >= t - 1e-6]
        return later[0] if later else self.duration_s


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy, xx


def _plaid(yy: np.ndarray, xx: np.ndarray, w: int, colour: tuple[int, int, int], shift: float) -> np.ndarray:
    """A smooth two-frequency plaid tinted by ``colour``; ``shift`` moves it sideways (pixels)."""
    x = (xx + shift) * (2 * np.pi / w)
    y = yy * (2 * np.pi / w)
    wave = 0.5 + 0.25 * np.sin(3.0 * x + 1.3 * y) + 0.25 * np.sin(1.7 * x - 2.1 * y + 1.0)
    tint = np.asarray(colour, np.float32) / 255.0
    img = 255.0 * (0.35 * tint + 0.65 * wave[..., None] * tint)
    return np.clip(img, 0, 255).astype(np.uint8)


def _blocks(h: int, w: int, colour: tuple[int, int, int], t: float, speed: float) -> np.ndarray:
    img = np.empty((h, w, 3), np.uint8)
    img[:] = colour
    side = max(h // 4, 4)
    span_x, span_y = max(w - side, 1), max(h - side, 1)
    x = int(abs((t * speed * w / 320.0) % (2 * span_x) - span_x))
    y = int(abs((t * speed * 0.6 * h / 180.0) % (2 * span_y) - span_y))
    inverse = tuple(255 - c for c in colour)
    img[y:y + side, x:x + side] = inverse
    bar = max(w // 40, 2)
    bx = int((t * speed * 1.5 * w / 320.0) % max(w - bar, 1))
    img[:, bx:bx + bar] = (235, 235, 235)
    return img


def draw_frame(shot: Shot, t: float, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """The RGB frame ``t`` seconds into ``shot``."""
    h, w = yy.shape
    if shot.kind == "blocks":
        return _blocks(h, w, shot.colour, t, shot.speed)
    if shot.kind == "plaid":
        return _plaid(yy, xx, w, shot.colour, t * shot.speed * 0.25 * w / 320.0)
    if shot.kind == "pan":
        return _plaid(yy, xx, w, shot.colour, t * shot.speed * w / 320.0)
    raise ValueError(f"unknown shot kind {shot.kind!r}; expected one of {KINDS}")


def speech_like(duration_s: float, silences: Sequence[tuple[float, float]], rate: int = AUDIO_RATE,
                seed: int = 0) -> np.ndarray:
    """Mono float32: a voiced, syllable-modulated tone everywhere except the ``silences``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(duration_s * rate)), dtype=np.float64) / rate
    pitch = 170.0 + 25.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(a * np.sin(k * phase) for k, a in ((1, 0.5), (2, 0.3), (3, 0.2), (5, 0.1)))
    envelope = 0.55 + 0.45 * np.abs(np.sin(2 * np.pi * 2.3 * t))
    out = 0.3 * voice * envelope + rng.normal(0.0, 1e-4, len(t))
    for a, b in silences:
        out[int(a * rate):int(b * rate)] = rng.normal(0.0, 1e-4, max(int(b * rate) - int(a * rate), 0))
    return out.astype(np.float32)


def make_cut_video(out_dir: str | Path, *, shots: Sequence[Shot] = DEFAULT_SHOTS, width: int = 320,
                   height: int = 180, fps: int = 30, keyint_s: float = 1.0,
                   out_size: tuple[int, int] | None = None, silences: Sequence[tuple[float, float]] | None = None,
                   name: str = "cuts", preset: str = "ultrafast", timeout_s: float | None = None) -> CutVideo:
    """Write ``<name>.mp4`` under ``out_dir`` and return what it holds (see the module docstring).

    ``silences``: None for a video without sound; a sequence (possibly empty) adds a speech-like
    AAC track that is silent exactly there.
    """
    if keyint_s * fps < 1 or abs(keyint_s * fps - round(keyint_s * fps)) > 1e-6:
        raise ValueError("keyint_s must be a whole number of frames")
    counts = [max(int(round(s.seconds * fps)), 1) for s in shots]
    starts = np.concatenate([[0], np.cumsum(counts)])
    total = int(starts[-1])
    duration = total / fps
    cuts = tuple(round(float(starts[i]) / fps, 6) for i in range(1, len(shots)))
    similar = tuple(c for c, s in zip(cuts, shots[1:]) if s.similar)
    pans = tuple((round(float(starts[i]) / fps, 6), round(float(starts[i + 1]) / fps, 6))
                 for i, s in enumerate(shots) if s.kind == "pan")
    keyint = int(round(keyint_s * fps))
    keyframes = tuple(round(i / fps, 6) for i in range(0, total, keyint))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.mp4"
    ow, oh = out_size or (width, height)
    with tempfile.TemporaryDirectory() as tmp:
        audio_in: list[str] = []
        if silences is not None:
            raw = Path(tmp) / "audio.f32"
            speech_like(duration, silences).tofile(raw)
            audio_in = ["-f", "f32le", "-ar", str(AUDIO_RATE), "-ac", "1", "-i", str(raw)]
        argv = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error",
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
                *audio_in, "-map", "0:v", *(["-map", "1:a", "-c:a", "aac", "-b:a", "96k"] if audio_in else []),
                *(["-vf", f"scale={ow}:{oh}:flags=neighbor"] if (ow, oh) != (width, height) else []),
                "-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p",
                "-x264-params", f"keyint={keyint}:min-keyint={keyint}:scenecut=0",
                "-t", f"{duration:.6f}", "-movflags", "+faststart", "-y", str(path)]
        _encode(argv, shots, counts, width, height, fps, timeout_s or max(120.0, duration * 10))
    return CutVideo(path, ow, oh, fps, duration, cuts, similar, pans, keyint / fps, keyframes,
                    tuple((float(a), float(b)) for a, b in (silences or ())))


def _encode(argv: list[str], shots: Sequence[Shot], counts: Sequence[int], width: int, height: int,
            fps: int, timeout_s: float) -> None:
    yy, xx = _grid(height, width)
    frames = (draw_frame(shot, i / fps, yy, xx).tobytes() for shot, n in zip(shots, counts) for i in range(n))
    feed_ffmpeg(argv, frames, timeout_s=timeout_s, what="writing a synthetic cut video")

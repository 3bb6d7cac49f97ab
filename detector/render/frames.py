"""Render stage, frame sampling: decoded frames of a media span as numpy arrays.

Consumes a media file, a span and a sampling rate; produces ``(times, frames)`` where ``frames``
is ``(N, H, W)`` grey or ``(N, H, W, 3)`` BGR ``uint8`` at an analysis size, decoded by ffmpeg to a
raw pipe. Face tracking, thumbnail choice and the render tests read frames through here.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from detector.errors import MediaError
from detector.ffmpeg import run_ffmpeg

log = logging.getLogger(__name__)


def even(value: float) -> int:
    """The nearest even whole number ≥ 2 (H.264 in 4:2:0 needs even sizes)."""
    return max(2, int(round(value / 2.0)) * 2)


def analysis_size(src_w: int, src_h: int, width: int) -> tuple[int, int]:
    """``width`` (never upscaling) and the height that keeps the source's aspect, both even."""
    w = even(min(width, src_w))
    return w, even(w * src_h / src_w)


def sample_frames(path: str | os.PathLike[str], start_s: float, duration_s: float, *, fps: float,
                  size: tuple[int, int], gray: bool = False,
                  timeout_s: float = 300.0) -> tuple[np.ndarray, np.ndarray]:
    """Frames of ``[start_s, start_s + duration_s)`` at ``fps``, scaled to ``size`` (w, h)."""
    w, h = size
    channels = 1 if gray else 3
    args = ["-ss", f"{max(0.0, start_s):.3f}", "-t", f"{max(duration_s, 0.001):.3f}", "-i", str(path),
            "-map", "0:v:0", "-an", "-sn", "-vf", f"fps={fps:g},scale={w}:{h}:flags=area",
            "-f", "rawvideo", "-pix_fmt", "gray" if gray else "bgr24", "-"]
    proc = run_ffmpeg(args, timeout_s=timeout_s, what=f"reading frames of {path}")
    frame_bytes = w * h * channels
    n = len(proc.stdout) // frame_bytes
    data = np.frombuffer(proc.stdout[: n * frame_bytes], dtype=np.uint8)
    frames = data.reshape((n, h, w) if gray else (n, h, w, 3))
    times = start_s + np.arange(n) / fps
    log.debug("sampled %d frames of %s from %.2f s", n, path, start_s)
    return times, frames


def frame_at(path: str | os.PathLike[str], t: float, size: tuple[int, int], *, gray: bool = False) -> np.ndarray:
    """The single frame shown at ``t`` seconds, scaled to ``size``."""
    w, h = size
    channels = 1 if gray else 3
    args = ["-ss", f"{max(0.0, t):.3f}", "-i", str(path), "-map", "0:v:0", "-frames:v", "1",
            "-vf", f"scale={w}:{h}:flags=area", "-f", "rawvideo", "-pix_fmt", "gray" if gray else "bgr24", "-"]
    proc = run_ffmpeg(args, timeout_s=60.0, what=f"reading a frame of {path}")
    need = w * h * channels
    if len(proc.stdout) < need:
        raise MediaError(f"{path} has no video frame at {t:.2f} s.")
    data = np.frombuffer(proc.stdout[:need], dtype=np.uint8)
    return data.reshape((h, w) if gray else (h, w, 3))

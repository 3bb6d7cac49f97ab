"""Render stage, facecam: find the streamer's face in a clip, track it and smooth its path.

Consumes a media file and a clip span; produces a ``FaceTrack``: the face box (source pixels) at
each sampled time, chosen frame to frame by nearness to the previous one, with outliers dropped.
Faces are found by ``detector.media.faces`` (OpenCV's bundled Haar cascade) on grey frames at an
analysis width; OpenCV is an optional dependency, so without it face tracking is unavailable with a
reason and the layouts that need a face fall back to a centre crop. :func:`smooth_path` turns the noisy
per-sample centres into a crop path with no jitter (median filter, dead zone, Gaussian smoothing).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from detector.media.faces import detect_faces
from detector.records import MediaInfo
from detector.render.frames import analysis_size, sample_frames
from detector.render.plan import Box

log = logging.getLogger(__name__)

SAMPLE_FPS = 2.0
"""Frames per second examined for faces (a facecam moves slowly)."""
ANALYSIS_WIDTH = 640
MIN_COVERAGE = 0.4
"""A face counts as present when found in at least this share of the sampled frames."""


@dataclass(frozen=True, slots=True)
class FaceTrack:
    """The face over a clip: one box per sampled time (None where no face was found)."""

    times: tuple[float, ...]
    """Seconds on the source timeline."""
    boxes: tuple[Box | None, ...]
    frame_w: int
    frame_h: int

    @property
    def coverage(self) -> float:
        return sum(b is not None for b in self.boxes) / len(self.boxes) if self.boxes else 0.0

    @property
    def present(self) -> bool:
        return self.coverage >= MIN_COVERAGE

    def median_box(self) -> Box | None:
        found = [b for b in self.boxes if b is not None]
        if not found:
            return None
        x, y, w, h = (int(round(float(np.median([getattr(b, k) for b in found])))) for k in "xywh")
        return Box(x, y, w, h)

    def height_share(self) -> float:
        """The median face height over the frame height (a large face suggests just talking)."""
        box = self.median_box()
        return box.h / self.frame_h if box else 0.0


def _nearest(boxes: list[tuple[int, int, int, int]], prev: tuple[int, int, int, int] | None):
    if not boxes:
        return None
    if prev is None:
        return boxes[0]
    px, py = prev[0] + prev[2] / 2, prev[1] + prev[3] / 2
    return min(boxes, key=lambda b: (b[0] + b[2] / 2 - px) ** 2 + (b[1] + b[3] / 2 - py) ** 2)


def _drop_outliers(chosen: list[tuple[int, int, int, int] | None]) -> list[tuple[int, int, int, int] | None]:
    """Forget boxes whose centre is far (> one median face width) from the median centre near them."""
    out = list(chosen)
    for i, b in enumerate(chosen):
        if b is None:
            continue
        near = [c for c in chosen[max(0, i - 3): i + 4] if c is not None]
        if len(near) < 3:
            continue
        mx = np.median([c[0] + c[2] / 2 for c in near])
        my = np.median([c[1] + c[3] / 2 for c in near])
        mw = np.median([c[2] for c in near])
        if abs(b[0] + b[2] / 2 - mx) > mw or abs(b[1] + b[3] / 2 - my) > mw:
            out[i] = None
    return out


def track_faces(path: str | os.PathLike[str], start_s: float, duration_s: float, media: MediaInfo, *,
                sample_fps: float = SAMPLE_FPS) -> FaceTrack:
    """Track the face through ``[start_s, start_s + duration_s)``; boxes in source pixels."""
    if not media.width or not media.height:
        return FaceTrack((), (), 0, 0)
    size = analysis_size(media.width, media.height, ANALYSIS_WIDTH)
    times, frames = sample_frames(path, start_s, duration_s, fps=sample_fps, size=size, gray=True)
    chosen: list[tuple[int, int, int, int] | None] = []
    prev = None
    for frame in frames:
        pick = _nearest(detect_faces(frame), prev)
        chosen.append(pick)
        prev = pick or prev
    chosen = _drop_outliers(chosen)
    sx, sy = media.width / size[0], media.height / size[1]
    boxes = tuple(Box(round(b[0] * sx), round(b[1] * sy), round(b[2] * sx), round(b[3] * sy)) if b else None
                  for b in chosen)
    track = FaceTrack(tuple(float(t) for t in times), boxes, media.width, media.height)
    log.info("face track %s %.1f–%.1f s: found in %.0f %% of %d frames", path, start_s, start_s + duration_s,
             100 * track.coverage, len(boxes))
    return track


def smooth_path(values: np.ndarray, *, sample_fps: float = SAMPLE_FPS, dead_zone: float,
                sigma_s: float = 0.75) -> np.ndarray:
    """A jitter-free path through noisy samples (NaN where missing).

    Gaps are filled by interpolation, a 5-sample median removes single-frame outliers, a dead zone
    holds the path still until the target moves more than ``dead_zone``, and a Gaussian of
    ``sigma_s`` seconds eases the moves that remain.
    """
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    if not ok.any():
        return np.full(len(v), np.nan)
    idx = np.arange(len(v))
    filled = np.interp(idx, idx[ok], v[ok])
    pad = np.pad(filled, 2, mode="edge")
    med = np.median(np.lib.stride_tricks.sliding_window_view(pad, 5), axis=1)
    held = np.empty_like(med)
    hold = med[0]
    for i, x in enumerate(med):
        if abs(x - hold) > dead_zone:
            hold = x - np.sign(x - hold) * dead_zone
        held[i] = hold
    sigma = max(sigma_s * sample_fps, 1e-6)
    radius = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    return np.convolve(np.pad(held, radius, mode="edge"), kernel, mode="valid")

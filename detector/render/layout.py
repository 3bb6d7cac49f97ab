"""Render stage, layout: which framing a clip gets and where its crops lie.

Consumes the requested layout (``--layout``), the clip's segment label (``gameplay``/``talking``,
when the detector knows it) and its ``FaceTrack``; produces the plan fields of a layout: output
size, crop boxes in source pixels, the facecam panel height and, for a face-centred crop, a
smoothed crop path. 9:16 layouts: ``split`` puts the facecam on top and the gameplay below, each
cropped to fill its panel; ``face`` follows the face (just-talking segments); ``center`` is a
centred crop when no face is found.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from detector.render.errors import RenderError
from detector.render.facecam import SAMPLE_FPS, FaceTrack, smooth_path
from detector.render.frames import even
from detector.render.plan import Box

log = logging.getLogger(__name__)

LAYOUT_CHOICES = ("auto", "16:9", "9:16", "9:16-split", "9:16-face", "9:16-center")
"""``auto``: 9:16 when a face is found (split for gameplay, face crop for talking), else 16:9;
``9:16``: vertical, the variant chosen per clip; the ``9:16-*`` names force one variant."""
TALKING_FACE_SHARE = 0.25
"""Without a label, a face at least this tall (share of the frame height) means just talking."""
TOP_SHARE = 0.40
"""Height of the facecam panel in a split layout, as a share of the output height."""
FACECAM_WIDTH_FACES = 2.6
"""The facecam crop is this many face widths wide (head, shoulders, some of the cam's frame)."""
FACE_CROP_SHARE = 0.30
"""A face crop is zoomed so the face is about this share of its height..."""
MAX_ZOOM = 2.0
"""...but never magnified more than this (a small facecam would turn to mush)."""
MAX_LONG_SIDE = 1920


@dataclass(frozen=True, slots=True)
class Geometry:
    """The layout part of a ``ClipPlan``."""

    layout: str
    width: int
    height: int
    crop: Box | None = None
    facecam: Box | None = None
    top_height: int = 0
    crop_path: tuple[tuple[float, int], ...] = ()


def segment_of(label: str | None, face: FaceTrack | None) -> str | None:
    """The segment kind: the detector's label when given, else guessed from the face's size."""
    if label in ("gameplay", "talking"):
        return label
    if face is None or not face.present:
        return None
    return "talking" if face.height_share() >= TALKING_FACE_SHARE else "gameplay"


def choose_layout(requested: str, *, label: str | None = None, face: FaceTrack | None = None) -> str:
    """One of ``source``, ``split``, ``face``, ``center`` for a clip."""
    if requested not in LAYOUT_CHOICES:
        raise RenderError(f"Unknown layout {requested!r}.", hint=f"Use one of {', '.join(LAYOUT_CHOICES)}.")
    if requested == "16:9":
        return "source"
    present = face is not None and face.present
    forced = {"9:16-split": "split", "9:16-face": "face", "9:16-center": "center"}.get(requested)
    if forced:
        if forced != "center" and not present:
            log.warning("layout %s asked for, but no face was found in the clip: using a centre crop", requested)
            return "center"
        return forced
    if present:
        return "face" if segment_of(label, face) == "talking" else "split"
    return "center" if requested == "9:16" else "source"


def output_size(layout: str, src_w: int, src_h: int) -> tuple[int, int]:
    """Output size: the source's (at most 1920 on the long side), or 9:16 no taller than the source allows."""
    if layout == "source":
        s = min(1.0, MAX_LONG_SIDE / max(src_w, src_h))
        return even(src_w * s), even(src_h * s)
    w = even(min(MAX_LONG_SIDE * 9 / 16, src_h))
    return w, even(w * 16 / 9)


def fill_crop(cx: float, cy: float, aspect: float, width: float, src_w: int, src_h: int) -> Box:
    """A crop of ``aspect`` (w/h) about ``width`` wide centred on (cx, cy), shrunk and moved to fit."""
    w = min(width, src_w, src_h * aspect)
    h = w / aspect
    w, h = max(2, int(w) // 2 * 2), max(2, int(h) // 2 * 2)
    x = int(round(min(max(cx - w / 2, 0), src_w - w)))
    y = int(round(min(max(cy - h / 2, 0), src_h - h)))
    return Box(x, y, w, h)


def _simplify(times: np.ndarray, xs: np.ndarray, tolerance: float = 1.5) -> tuple[tuple[float, int], ...]:
    """Keyframes whose straight-line interpolation stays within ``tolerance`` px of the path."""
    kept = [0]
    for i in range(2, len(xs)):
        a = kept[-1]
        seg = np.interp(times[a:i + 1], [times[a], times[i]], [xs[a], xs[i]])
        if np.max(np.abs(seg - xs[a:i + 1])) > tolerance:
            kept.append(i - 1)
    kept.append(len(xs) - 1)
    return tuple((round(float(times[k]), 3), int(round(xs[k]))) for k in dict.fromkeys(kept))


def face_crop_path(face: FaceTrack, clip_start_s: float, crop_w: int, src_w: int) -> tuple[tuple[float, int], ...]:
    """``(clip time, crop x)`` keyframes of a 9:16 crop following the face; empty when it can stay put."""
    centres = np.array([b.center[0] if b else np.nan for b in face.boxes])
    if len(centres) < 2:
        return ()
    smooth = smooth_path(centres, sample_fps=SAMPLE_FPS, dead_zone=0.04 * src_w)
    xs = np.clip(smooth - crop_w / 2, 0, src_w - crop_w)
    if np.ptp(xs) < 4:
        return ()
    times = np.asarray(face.times) - clip_start_s
    return _simplify(times, xs)


def geometry(layout: str, src_w: int, src_h: int, face: FaceTrack | None, clip_start_s: float) -> Geometry:
    """Sizes and crops for ``layout`` on a ``src_w``×``src_h`` source."""
    width, height = output_size(layout, src_w, src_h)
    if layout == "source":
        return Geometry(layout, width, height)
    box = face.median_box() if face is not None else None
    if layout == "center" or box is None:
        crop = fill_crop(src_w / 2, src_h / 2, width / height, src_w, src_w, src_h)
        return Geometry("center", width, height, crop=crop)
    if layout == "face":
        crop_h = min(max(box.h / FACE_CROP_SHARE, src_h / MAX_ZOOM), src_h)
        crop = fill_crop(box.center[0], box.center[1], width / height, crop_h * width / height, src_w, src_h)
        path = face_crop_path(face, clip_start_s, crop.w, src_w) if face is not None else ()
        return Geometry("face", width, height, crop=crop, crop_path=path)
    top = even(height * TOP_SHARE)
    cam = fill_crop(box.center[0], box.center[1] + 0.25 * box.h, width / top, FACECAM_WIDTH_FACES * box.w,
                    src_w, src_h)
    game = fill_crop(src_w / 2, src_h / 2, width / (height - top), src_w, src_w, src_h)
    return Geometry("split", width, height, crop=game, facecam=cam, top_height=top)

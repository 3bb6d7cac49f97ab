"""Render stage, thumbnails: the best frame near each clip's peak, and a contact sheet.

Consumes a rendered clip (so the thumbnail has the clip's framing) and its peak time; produces a
JPEG of the frame that is sharpest and most expressive within a window around the peak: frames are
sampled at a few per second and scored by sharpness (variance of the Laplacian, on a log scale),
a found face and a smile on it (OpenCV's bundled Haar cascades), with a small pull toward the peak.
The contact sheet tiles the thumbnails with their rank and VOD time. Needs OpenCV.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.media.faces import detect_faces, face_detection_unavailable
from detector.render.errors import RenderError
from detector.render.frames import analysis_size, sample_frames
from detector.render.runner import discard, run_to_file, temp_path_for
from detector.sources.media import probe

log = logging.getLogger(__name__)

WINDOW_S = 1.5
"""Frames within this many seconds of the peak are considered."""
SAMPLE_FPS = 4.0
FACE_BONUS, SMILE_BONUS, DISTANCE_COST = 1.0, 1.0, 0.3
"""Score = log-sharpness z-score + bonuses − ``DISTANCE_COST`` × seconds from the peak."""


@dataclass(frozen=True, slots=True)
class Thumbnail:
    path: Path
    time_s: float
    """Where the frame is in the clip (clip time)."""
    sharpness: float
    face: bool
    smile: bool


def _cv2():
    try:
        import cv2
    except ImportError:
        raise RenderError("Thumbnails need OpenCV, which is not installed.",
                          hint="pip install 'opencv-python<5' (or install the worker extra).") from None
    return cv2


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian: high for crisp edges, low for motion blur and fades."""
    return float(_cv2().Laplacian(gray, _cv2().CV_64F).var())


def _smiles(gray: np.ndarray, faces: Sequence[tuple[int, int, int, int]]) -> bool:
    cv2 = _cv2()
    cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_smile.xml"))
    for x, y, w, h in faces[:1]:
        mouth = gray[y + h // 2: y + h, x: x + w]
        if mouth.size and len(cascade.detectMultiScale(mouth, 1.3, 15, minSize=(max(8, w // 5), max(5, h // 10)))):
            return True
    return False


def best_frame(clip: str | os.PathLike[str], peak_s: float, duration_s: float) -> tuple[float, float, bool, bool]:
    """``(time, sharpness, face, smile)`` of the best frame within :data:`WINDOW_S` of ``peak_s`` (clip time)."""
    cv2 = _cv2()
    info = probe(Path(clip))
    if not (info.width and info.height):
        raise RenderError(f"{clip} has no video to take a thumbnail from.")
    start = max(0.0, min(peak_s, duration_s) - WINDOW_S)
    span = max(0.25, min(duration_s, peak_s + WINDOW_S) - start)
    times, frames = sample_frames(clip, start, span, fps=SAMPLE_FPS, size=analysis_size(info.width, info.height, 480))
    if not len(frames):
        return min(peak_s, duration_s / 2), 0.0, False, False
    faces_ok = face_detection_unavailable() is None
    grays = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    logs = np.log1p([sharpness(g) for g in grays])
    z = (logs - logs.mean()) / (logs.std() + 1e-9)
    best = (-math.inf, 0.0, 0.0, False, False)
    for t, g, s, sharp in zip(times, grays, z, np.expm1(logs)):
        faces = detect_faces(g) if faces_ok else []
        smile = bool(faces) and _smiles(g, faces)
        score = s + FACE_BONUS * bool(faces) + SMILE_BONUS * smile - DISTANCE_COST * abs(t - peak_s)
        if score > best[0]:
            best = (score, float(t), float(sharp), bool(faces), smile)
    return best[1], best[2], best[3], best[4]


def write_thumbnail(clip: str | os.PathLike[str], peak_s: float, duration_s: float,
                    out: str | os.PathLike[str]) -> Thumbnail:
    """Pick the frame and write it as a JPEG at the clip's size (atomically)."""
    t, sharp, face, smile = best_frame(clip, peak_s, duration_s)
    run_to_file(["-ss", f"{t:.3f}", "-i", str(clip), "-map", "0:v:0", "-frames:v", "1", "-q:v", "3",
                 "-update", "1"], out, total_s=None, stage="thumbnail", timeout_s=60.0, what=f"writing {out}")
    log.debug("thumbnail %s at %.2f s (sharpness %.0f, face %s, smile %s)", out, t, sharp, face, smile)
    return Thumbnail(Path(out), t, sharp, face, smile)


def contact_sheet(images: Sequence[tuple[str | os.PathLike[str], str]], out: str | os.PathLike[str], *,
                  columns: int = 4, tile_w: int = 320) -> Path:
    """Tile ``(image path, label)`` pairs into one JPEG with the label under each tile."""
    cv2 = _cv2()
    if not images:
        raise RenderError("No thumbnails to put on a contact sheet.")
    tiles = []
    for path, label in images:
        img = cv2.imread(str(path))
        if img is None:
            raise RenderError(f"Cannot read thumbnail {path}.")
        tiles.append((img, label))
    tile_h = max(round(tile_w * img.shape[0] / img.shape[1]) for img, _ in tiles)
    band = 28
    rows = math.ceil(len(tiles) / columns)
    cols = min(columns, len(tiles))
    sheet = np.full((rows * (tile_h + band), cols * tile_w, 3), 24, np.uint8)
    for i, (img, label) in enumerate(tiles):
        r, c = divmod(i, columns)
        h = round(tile_w * img.shape[0] / img.shape[1])
        y0, x0 = r * (tile_h + band), c * tile_w
        sheet[y0: y0 + h, x0: x0 + tile_w] = cv2.resize(img, (tile_w, h), interpolation=cv2.INTER_AREA)
        cv2.putText(sheet, label[:40], (x0 + 6, y0 + tile_h + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (235, 235, 235), 1,
                    cv2.LINE_AA)
    ok, data = cv2.imencode(".jpg", sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise RenderError(f"Could not encode the contact sheet {out}.")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(out)
    try:
        tmp.write_bytes(data.tobytes())
        os.replace(tmp, out)
    finally:
        discard(tmp)
    return out

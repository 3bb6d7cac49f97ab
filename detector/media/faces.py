"""Face detection in one grey frame, shared by the segmenter and the render stage's facecam tracking.

Consumes a grey frame (``uint8`` array, any size); produces face boxes ``(x, y, w, h)`` in that
frame's pixels, largest first. The detector is OpenCV's bundled Haar cascade (frontal faces),
loaded once per process; OpenCV is an optional dependency, so :func:`face_detection_unavailable`
says why faces cannot be looked for here instead of failing later.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

CASCADE = "haarcascade_frontalface_default.xml"
MIN_FACE_SHARE = 0.04
"""Smallest face looked for, as a share of the analysis frame's width."""


def face_detection_unavailable() -> str | None:
    """None when face detection works here, else the reason it does not."""
    try:
        _detector()
    except (ImportError, OSError) as exc:
        return str(exc)
    return None


@functools.lru_cache(maxsize=1)
def _detector() -> Any:
    try:
        import cv2
    except ImportError:
        raise ImportError("OpenCV is not installed (pip install 'opencv-python<5')") from None
    data = getattr(cv2, "data", None)
    path = os.path.join(data.haarcascades, CASCADE) if data is not None else ""
    if not path or not os.path.exists(path) or not hasattr(cv2, "CascadeClassifier"):
        raise OSError(f"this OpenCV ({cv2.__version__}) has no bundled {CASCADE}; use opencv-python<5")
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise OSError(f"OpenCV could not load {path}")
    return cascade


def detect_faces(gray: np.ndarray, scale_step: float = 1.1) -> list[tuple[int, int, int, int]]:
    """Face boxes ``(x, y, w, h)`` in one grey frame's pixels, largest first. ``scale_step``: how much
    larger each face size tried is than the last (1.1 finds more; 1.2 tries half as many sizes)."""
    min_side = max(20, int(gray.shape[1] * MIN_FACE_SHARE))
    found = _detector().detectMultiScale(gray, scaleFactor=scale_step, minNeighbors=5, minSize=(min_side, min_side))
    boxes = [(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in (found if len(found) else [])]
    return sorted(boxes, key=lambda b: -b[2] * b[3])

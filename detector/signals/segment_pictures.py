"""Signals stage, segment features from the pictures: ``motion``, ``detail``, ``cuts`` and ``face`` per step.

Consumes the keyframes of the whole VOD (``detector.sources.frames.keyframes``, grey,
``FRAME_WIDTH`` wide) and finds faces with ``detector.media.faces``; produces one value per step of
each feature (their meaning and units: ``detector.signals.segment_features``) and facts about the
pass (keyframes read, their spacing, frames searched for faces).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from detector.errors import MediaError
from detector.records import AbortCheck, MediaInfo, ProgressCallback
from detector.signals.segment_steps import on_steps, step_count

log = logging.getLogger(__name__)

STAGE_PICTURES = "segments: pictures"
"""Stage name passed to progress callbacks (seconds of the VOD done, of its duration)."""
FRAME_WIDTH = 192
"""Width (pixels) keyframes are decoded at for every picture feature (faces ≳ 2 % of the frame show)."""
EDGE_LEVEL = 24
"""Grey-level step between neighbouring pixels that counts as an edge."""
CUT_HIST = 0.4
"""Share of the grey histogram that must move between two keyframes for the change to be a cut."""
CUT_WINDOW_S = 10.0
FACE_EVERY_S = 8.0
"""Faces are looked for on at most one keyframe per this many seconds (the detector is the dearest part
of the picture pass; a label holds at least ``segment_min_s``, 20 s, so two or three looks per label
and the looks on both sides of every scene switch are enough)."""
FACE_SCALE_STEP = 1.2
"""Face sizes tried grow by this factor (OpenCV's ``scaleFactor``): the segmenter only asks whether a
face fills ~1–5 % of the frame, not where exactly it is, so half as many sizes as the render's tracker."""


def _picture_measures(gray: np.ndarray, prev: np.ndarray | None) -> tuple[float, float, float]:
    """(difference, detail, histogram change) of one keyframe against the previous one."""
    g = gray.astype(np.int16)
    edges = (np.abs(np.diff(g, axis=1))[:-1, :] + np.abs(np.diff(g, axis=0))[:, :-1]) > EDGE_LEVEL
    detail = float(edges.mean())
    if prev is None:
        return 0.0, detail, 0.0
    diff = float(np.abs(g - prev.astype(np.int16)).mean())
    h1 = np.bincount(gray.ravel() >> 4, minlength=16) / gray.size
    h0 = np.bincount(prev.ravel() >> 4, minlength=16) / prev.size
    return diff, detail, float(0.5 * np.abs(h1 - h0).sum())


def video_features(media: MediaInfo, step_s: float, duration_s: float, *, abort: AbortCheck | None = None,
                   progress: ProgressCallback | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``motion``, ``detail``, ``cuts`` and ``face`` per step, from the keyframes of the whole VOD.

    A keyframe's ``motion`` is the smaller of its differences to the previous and the next keyframe,
    so a single change (a scene switch) does not look like motion while steady movement does. Faces
    are looked for every ``FACE_EVERY_S`` and, after a scene switch, on both sides of it."""
    from detector.media.faces import detect_faces, face_detection_unavailable
    from detector.sources.frames import keyframes

    no_faces = face_detection_unavailable()
    times: list[float] = []
    rows: list[tuple[float, float, float]] = []
    faces: dict[int, float] = {}
    prev = None
    last_face = -np.inf

    def face_share(image: np.ndarray) -> float:
        boxes = detect_faces(image, FACE_SCALE_STEP)
        return boxes[0][2] * boxes[0][3] / image.size if boxes else 0.0

    for k, frame in enumerate(keyframes(media, width=FRAME_WIDTH, gray=True, abort=abort)):
        row = _picture_measures(frame.image, prev)
        rows.append(row)
        times.append(frame.t_s)
        if no_faces is None:
            switched = row[2] > CUT_HIST / 2
            if switched and prev is not None and k - 1 not in faces:
                faces[k - 1] = face_share(prev)
            if switched or frame.t_s - last_face >= FACE_EVERY_S - 1e-6:
                faces[k] = face_share(frame.image)
                last_face = frame.t_s
        prev = frame.image
        if progress is not None and k % 64 == 63:
            progress(STAGE_PICTURES, frame.t_s, duration_s)
    if not times:
        raise MediaError(f"{media.path}: no keyframe could be decoded.",
                         hint="Check that the file plays; segments fall back to the audio.")
    n = step_count(duration_s, step_s)
    t = np.asarray(times)
    arr = np.asarray(rows, dtype=np.float64)
    diff = arr[:, 0]
    if len(diff) > 1:
        to_next = np.append(diff[1:], diff[-1])
        to_prev = diff.copy()
        to_prev[0] = diff[1]
        motion = np.minimum(to_prev, to_next)
    else:
        motion = diff
    out = {
        "motion": on_steps(t, motion, n, step_s),
        "detail": on_steps(t, arr[:, 1], n, step_s),
        "cuts": _windowed_share(t[1:], (arr[1:, 2] > CUT_HIST).astype(np.float64),
                                (np.arange(n) + 0.5) * step_s, CUT_WINDOW_S),
    }
    if no_faces is None:
        keys = sorted(faces)
        out["face"] = on_steps(t[keys], _median3(np.asarray([faces[i] for i in keys])), n, step_s)
    gaps = np.diff(t)
    meta = {"keyframes": len(times), "keyframe_spacing_s": round(float(np.median(gaps)), 3) if len(gaps) else None,
            "face_frames": len(faces), "faces": no_faces or "haar"}
    if len(gaps) and np.median(gaps) > 4 * step_s:
        log.info("%s has a keyframe only every %.1f s; picture features hold between them",
                 media.path, float(np.median(gaps)))
    return {k: v.astype(np.float32) for k, v in out.items()}, meta


def _median3(x: np.ndarray) -> np.ndarray:
    if len(x) < 3:
        return x
    padded = np.pad(x, 1, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 3), axis=1)


def _windowed_share(t: np.ndarray, flags: np.ndarray, centres: np.ndarray, width_s: float) -> np.ndarray:
    """Mean of ``flags`` (at times ``t``) within ±width/2 of each centre (0 where none fall)."""
    if len(t) == 0:
        return np.zeros(len(centres))
    csum = np.concatenate([[0.0], np.cumsum(flags)])
    lo = np.searchsorted(t, centres - width_s / 2, side="left")
    hi = np.searchsorted(t, centres + width_s / 2, side="right")
    count = hi - lo
    return np.where(count > 0, (csum[hi] - csum[lo]) / np.maximum(count, 1), 0.0)

"""Render stage, keyframes: where the source's video keyframes lie near a clip's cut points.

Consumes a media file and times; produces the keyframe times around them. ffmpeg decodes only
keyframes (``-skip_frame nokey``) in a short window around each time and reports their
timestamps, so this costs a few decoded frames, not the whole clip. A clip can be stream-copied
(no decoding, no encoding, exact cuts) only when both its in and out points fall on keyframes.
"""

from __future__ import annotations

import logging
import os
import re

from detector.ffmpeg import run_ffmpeg

log = logging.getLogger(__name__)

WINDOW_S = 4.0
_PTS = re.compile(r"pts_time:\s*(-?\d+(?:\.\d+)?)")


def keyframes_near(path: str | os.PathLike[str], t: float, window_s: float = WINDOW_S) -> list[float]:
    """Keyframe times (seconds, the file's timeline from 0) within ``[t - window_s, t + window_s]``."""
    start = max(0.0, t - window_s)
    args = ["-ss", f"{start:.3f}", "-t", f"{2 * window_s:.3f}", "-skip_frame", "nokey", "-i", str(path),
            "-map", "0:v:0", "-an", "-sn", "-vf", "showinfo", "-f", "null", "-"]
    proc = run_ffmpeg(args, timeout_s=60.0, what=f"finding keyframes of {path}")
    return [round(start + float(v), 6) for v in _PTS.findall(proc.stderr.decode("utf-8", "replace"))]


def on_keyframe(path: str | os.PathLike[str], t: float, *, fps: float | None, media_duration_s: float) -> bool:
    """True when ``t`` is the start or the end of the media, or within half a frame of a keyframe."""
    tolerance = 0.5 / fps if fps else 0.01
    if t <= tolerance or abs(t - media_duration_s) <= tolerance:
        return True
    return any(abs(k - t) <= tolerance for k in keyframes_near(path, t, window_s=1.0))

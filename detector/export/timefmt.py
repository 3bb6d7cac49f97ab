"""Time formatting for the output stage: seconds on the VOD timeline → human and editor notations.

``hms`` gives ``H:MM:SS`` (what a viewer types into a VOD player); ``timecode`` gives the SMPTE
non-drop-frame ``HH:MM:SS:FF`` that EDL files use.
"""

from __future__ import annotations

import math


def hms(seconds: float | None) -> str:
    """``H:MM:SS`` for ``seconds`` (floored to the whole second; ``—`` when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    sign = "-" if seconds < 0 else ""
    total = math.floor(abs(seconds) + 1e-9)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}"


def seconds_to_frames(seconds: float, fps: int) -> int:
    """Nearest whole frame at ``fps`` frames per second (never negative)."""
    return max(0, round(seconds * fps))


def timecode(frames: int, fps: int) -> str:
    """Non-drop-frame SMPTE timecode ``HH:MM:SS:FF`` for a frame count at integer ``fps``."""
    if frames < 0:
        raise ValueError(f"timecode needs a non-negative frame count, got {frames}")
    ff = frames % fps
    total_s = frames // fps
    h, rem = divmod(total_s, 3600)
    m, s = divmod(rem, 60)
    if h > 99:
        raise ValueError(f"{frames} frames at {fps} fps is past 99 hours, which timecode cannot show")
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}"


def parse_timecode(text: str, fps: int) -> int:
    """Frame count of a non-drop-frame ``HH:MM:SS:FF`` timecode (``;`` separators accepted)."""
    parts = text.replace(";", ":").split(":")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a timecode: {text!r}")
    h, m, s, f = (int(p) for p in parts)
    if m >= 60 or s >= 60 or f >= fps:
        raise ValueError(f"timecode {text!r} is out of range at {fps} fps")
    return ((h * 60 + m) * 60 + s) * fps + f

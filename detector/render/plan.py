"""Render stage, the plan: one clip's complete render description, and its hash.

A ``ClipPlan`` sits between detection and ffmpeg: the source (with the size and modification
time that identify its content), the in/out points, the layout and its crop boxes, the caption
words, the loudness target, the encoder and the size limit. It holds everything the output depends
on, so :meth:`ClipPlan.key` (a SHA-256 over a canonical JSON form) keys the render cache: the same
plan is never encoded twice, and a changed source or option gives a new key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.errors import MediaError
from detector.records import Word

RENDER_VERSION = 2
"""Bump when the same plan would now render differently (filter graph, encoder settings)."""
LAYOUTS = ("source", "split", "face", "center")
"""``source``: the source framing (16:9); ``split``: 9:16 with the facecam on top and the gameplay
below; ``face``: a 9:16 crop that follows the face; ``center``: a centred 9:16 crop."""
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in source pixels."""

    x: int
    y: int
    w: int
    h: int

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2


@dataclass(frozen=True, slots=True)
class SourceRef:
    """The source file and what identifies its content for the cache (size, modification time)."""

    path: str
    size: int
    mtime_ns: int

    @staticmethod
    def of(path: str | os.PathLike[str]) -> SourceRef:
        p = Path(path)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise MediaError(f"Media file {p} does not exist.", hint="Check the --media path.") from None
        except OSError as exc:
            raise MediaError(f"Cannot read {p}: {exc.strerror or exc}.") from None
        if p.is_dir():
            raise MediaError(f"{p} is a directory, not a media file.", hint="Pass the VOD's video file.")
        return SourceRef(str(p.resolve()), st.st_size, st.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class ClipPlan:
    """Everything one rendered clip depends on. Times are seconds on the source's timeline."""

    source: SourceRef
    start_s: float
    end_s: float
    width: int
    """Output width in pixels (even)."""
    height: int
    layout: str = "source"
    """One of :data:`LAYOUTS`."""
    fps: float | None = None
    """Output frame rate; None keeps the source's."""
    crop: Box | None = None
    """``center``/``face``: the 9:16 crop; ``split``: the gameplay crop for the bottom panel."""
    facecam: Box | None = None
    """``split``: the facecam crop for the top panel."""
    top_height: int = 0
    """``split``: height of the facecam panel in output pixels."""
    crop_path: tuple[tuple[float, int], ...] = ()
    """``face``: ``(clip time s, crop x)`` keyframes of a crop that follows the face (empty: fixed)."""
    captions: tuple[Word, ...] = ()
    """Words in clip time (0 = the clip's start), burned in with the current word highlighted."""
    loudness_lufs: float | None = -14.0
    """Integrated loudness target (EBU R128), LUFS; None leaves the level alone."""
    fade_s: float = 0.05
    """Audio fade in and out at the edges, seconds (0: none)."""
    encoder: str = "libx264"
    preset: str | None = None
    """Encoder speed preset; None picks the encoder's default for clips."""
    size_limit_bytes: int | None = 10 * MIB
    """The output must not be larger; None: quality-based rate control, no limit."""
    audio_kbps: int = 128
    allow_copy: bool = True
    """Stream copy when the cuts fall on keyframes and nothing needs filtering, and a smart cut (only the
    edges re-encoded) when nothing needs filtering but the cuts fall between keyframes."""
    label: str | None = None
    """The segment label the layout came from (``gameplay``, ``talking``), for the record."""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def has_audio_filters(self) -> bool:
        return self.loudness_lufs is not None or self.fade_s > 0

    def needs_video_filters(self, src_width: int | None, src_height: int | None) -> bool:
        return (self.layout != "source" or bool(self.captions) or self.fps is not None
                or (self.width, self.height) != (src_width, src_height))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """SHA-256 (hex) of the canonical JSON form plus :data:`RENDER_VERSION`."""
        doc = {"version": RENDER_VERSION, "plan": _rounded(self.to_dict())}
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode("ascii")).hexdigest()


def _rounded(value: Any) -> Any:
    """Floats to 6 decimals so that equal plans built by different arithmetic hash alike."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value

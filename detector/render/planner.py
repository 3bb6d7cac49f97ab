"""Render stage, planning: a clip span plus options → a ``ClipPlan``.

Consumes the source (``SourceRef`` and its probed ``MediaInfo``), the span, the render options,
the clip's segment label, its face track and the transcript's words; produces the plan: layout
and crops from :mod:`layout`, the words inside the span in clip time, the loudness target, the
encoder (already resolved from ``auto``) and the size limit. Planning runs no encoder, so a plan
(and its cache key) is cheap to make.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from detector.records import MediaInfo, Word
from detector.render.captions import clip_words
from detector.render.errors import RenderError
from detector.render.facecam import FaceTrack
from detector.render.layout import LAYOUT_CHOICES, choose_layout, geometry
from detector.render.plan import MIB, ClipPlan, SourceRef

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How clips are rendered (the CLI flags and the worker's job options)."""

    layout: str = "auto"
    """One of ``auto``, ``16:9``, ``9:16``, ``9:16-split``, ``9:16-face``, ``9:16-center``."""
    encoder: str = "auto"
    """``auto`` (a working hardware encoder, else libx264) or an encoder name."""
    size_limit_bytes: int | None = 10 * MIB
    """Largest allowed output, bytes (Discord's bot upload limit by default); None: no limit."""
    loudness_lufs: float | None = -14.0
    """Loudness target, LUFS (EBU R128 integrated); None: leave the level alone."""
    fade_s: float = 0.05
    """Audio fade at each edge, seconds, 0–1."""
    preset: str | None = None
    """Encoder speed preset (libx264: ultrafast…veryslow); None: the encoder's clip default."""
    allow_copy: bool = True
    """Stream copy when the cuts fall on keyframes and no filter is needed."""
    fps: float | None = None
    """Output frame rate; None keeps the source's."""
    audio_kbps: int = 128

    def check(self) -> RenderOptions:
        if self.layout not in LAYOUT_CHOICES:
            raise RenderError(f"Unknown layout {self.layout!r}.", hint=f"Use one of {', '.join(LAYOUT_CHOICES)}.")
        if self.size_limit_bytes is not None and self.size_limit_bytes < 64 * 1024:
            raise RenderError(f"A size limit of {self.size_limit_bytes} bytes is too small for a video clip.",
                              hint="Use at least 0.1 MiB (--size-mib).")
        if not 0 <= self.fade_s <= 1:
            raise RenderError(f"Fade length {self.fade_s} s is outside 0–1 s.")
        if self.loudness_lufs is not None and not -40 <= self.loudness_lufs <= -5:
            raise RenderError(f"Loudness target {self.loudness_lufs} LUFS is outside −40…−5 LUFS.")
        return self


def wants_face(options: RenderOptions) -> bool:
    """Whether planning needs a face track (every layout but plain 16:9 and a forced centre crop)."""
    return options.layout not in ("16:9", "9:16-center")


def plan_clip(source: SourceRef, info: MediaInfo, start_s: float, end_s: float, options: RenderOptions, *,
              encoder: str, words: Sequence[Word] = (), label: str | None = None,
              face: FaceTrack | None = None) -> ClipPlan:
    """The plan for ``[start_s, end_s)`` of ``source``; ``encoder`` is a resolved encoder name."""
    options.check()
    if not (info.width and info.height):
        raise RenderError(f"The size of {source.path}'s video is unknown; cannot plan a clip from it.")
    layout = choose_layout(options.layout, label=label, face=face)
    geo = geometry(layout, info.width, info.height, face, start_s)
    return ClipPlan(
        source=source, start_s=round(start_s, 6), end_s=round(end_s, 6), width=geo.width, height=geo.height,
        layout=geo.layout, fps=options.fps, crop=geo.crop, facecam=geo.facecam, top_height=geo.top_height,
        crop_path=geo.crop_path, captions=clip_words(words, start_s, end_s),
        loudness_lufs=options.loudness_lufs, fade_s=options.fade_s, encoder=encoder, preset=options.preset,
        size_limit_bytes=options.size_limit_bytes, audio_kbps=options.audio_kbps, allow_copy=options.allow_copy,
        label=label)

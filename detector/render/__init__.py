"""Render stage: ranked candidates → clip files people can post.

Consumes the detector's ``Candidate`` records (or a ``detect`` JSON) and the VOD's media file;
produces, per clip, a ``ClipPlan`` (an IR: source, in/out, layout, captions, loudness, encoder,
size limit) and then an MP4 made by ffmpeg, plus thumbnails, a contact sheet, a compilation reel
and editor exports (EDL, OpenTimelineIO). ``batch.render_candidates`` is the entry point the CLI
and the worker share; OpenCV and OpenTimelineIO are imported lazily, only by the modules that
need them.
"""

from __future__ import annotations

from detector.render.errors import CaptionsFormatError, RenderError
from detector.render.plan import ClipPlan

__all__ = ["CaptionsFormatError", "ClipPlan", "RenderError"]

"""Render stage, editor exports: the candidate list as OpenTimelineIO and CMX 3600 EDL.

Consumes candidates (best first) and the media path; produces a ``.otio`` timeline (one video
track; each candidate a clip whose source range is its in/out on the VOD, laid end to end) and,
through ``detector.export.write_edl``, the same cut list as an EDL, so a person can finish the edit
in Resolve, Premiere or Kdenlive. Both quantise times to whole frames at one integer rate, so
their cut lists agree frame for frame; :func:`read_otio_cuts` and :func:`read_edl_cuts` read them
back. OpenTimelineIO is imported only here.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

from detector.export import write_edl
from detector.export.atomic import write_text_atomic
from detector.export.timefmt import parse_timecode, seconds_to_frames
from detector.records import Candidate
from detector.render.errors import RenderError
from detector.render.selection import as_result

log = logging.getLogger(__name__)

_EVENT = re.compile(r"^\d{3}\s+\S+\s+\S+\s+C\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$")


def _otio():
    try:
        import opentimelineio
    except ImportError:
        raise RenderError("OpenTimelineIO is not installed, so no .otio export.",
                          hint="pip install opentimelineio (or install the worker extra).") from None
    return opentimelineio


def cut_frames(c: Candidate, fps: int) -> tuple[int, int]:
    """A candidate's in and out as whole frames at ``fps`` (the EDL's rounding)."""
    src_in = seconds_to_frames(c.start_s, fps)
    return src_in, max(seconds_to_frames(c.end_s, fps), src_in + 1)


def build_timeline(candidates: Sequence[Candidate], media: str | os.PathLike[str], fps: int,
                   name: str = "HIGHLIGHTS"):
    otio = _otio()
    timeline = otio.schema.Timeline(name=name)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    url = Path(media).resolve().as_uri()
    for c in candidates:
        src_in, src_out = cut_frames(c, fps)
        clip = otio.schema.Clip(
            name=f"#{c.rank}",
            media_reference=otio.schema.ExternalReference(target_url=url),
            source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(src_in, fps),
                                                 otio.opentime.RationalTime(src_out - src_in, fps)))
        clip.metadata["highlights"] = {"rank": c.rank, "score": c.score if c.score == c.score else None,
                                       "peak_s": c.peak_s, "summary": c.explanation.summary}
        track.append(clip)
    return timeline


def write_otio(candidates: Sequence[Candidate], media: str | os.PathLike[str], path: str | os.PathLike[str], *,
               fps: int = 30) -> Path:
    """Write the candidates as an OpenTimelineIO JSON timeline (atomically) and return the path."""
    otio = _otio()
    text = otio.adapters.write_to_string(build_timeline(candidates, media, fps), "otio_json")
    return write_text_atomic(path, text)


def write_edl_for(candidates: Sequence[Candidate], media: str | os.PathLike[str], path: str | os.PathLike[str], *,
                  fps: int = 30) -> Path:
    """The same cut list as a CMX 3600 EDL, by ``detector.export.write_edl``."""
    return write_edl(as_result(candidates, Path(media)), path, fps=fps)


def read_otio_cuts(path: str | os.PathLike[str]) -> list[tuple[int, int]]:
    """``(in, out)`` frames of each clip on the first video track of an .otio file."""
    otio = _otio()
    timeline = otio.adapters.read_from_file(str(path))
    cuts = []
    for clip in timeline.video_tracks()[0].find_clips():
        r = clip.source_range
        start = round(r.start_time.value)
        cuts.append((start, start + round(r.duration.value)))
    return cuts


def read_edl_cuts(path: str | os.PathLike[str], fps: int) -> list[tuple[int, int]]:
    """``(source in, source out)`` frames of each cut event of a CMX 3600 EDL."""
    cuts = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        m = _EVENT.match(line)
        if m:
            cuts.append((parse_timecode(m.group(1), fps), parse_timecode(m.group(2), fps)))
    return cuts


def editor_fps(fps: float | None) -> int:
    """An integer timeline rate for the exports (the source's rate rounded; 30 when unknown)."""
    return max(1, min(120, round(fps))) if fps else 30

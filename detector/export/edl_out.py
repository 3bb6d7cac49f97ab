"""Output stage: a CMX 3600 edit decision list of the clips (for Resolve, Premiere, Avid...).

Consumes a ``DetectionResult``; produces an EDL with one cut event per clip, best first (or in
VOD order): the source in/out are the clip's times in the VOD, the record in/out lay the clips end
to end on a continuous timeline from ``00:00:00:00``. Timecode is non-drop-frame at an integer
frame rate. Layout per event::

    001  AX       V     C        00:12:30:00 00:13:00:00 00:00:00:00 00:00:30:00
    * FROM CLIP NAME: vod.mp4
    * COMMENT: #1 score 4.21 chat x4.2 over baseline (KEKW)
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path, PurePath

from detector.export.atomic import write_text_atomic
from detector.export.errors import ExportError
from detector.export.json_out import by_score
from detector.export.timefmt import seconds_to_frames, timecode
from detector.records import DetectionResult

log = logging.getLogger(__name__)

MAX_EVENTS = 999
CHANNELS = ("V", "A", "A2", "AA", "B", "A/V", "AA/V")
"""Channel fields the writer accepts: video, audio 1, audio 2, both audio, video + audio 1..."""
REEL = "AX"
"""Reel name for a source that is a file rather than a tape (CMX ``AX``, auxiliary source)."""

_UNSAFE = re.compile(r"[^\x20-\x7e]")
_ASCII_LOOKALIKES = str.maketrans(
    {"×": "x", "—": "-", "–": "-", "…": "...", "‘": "'", "’": "'", "“": '"', "”": '"', "\u00a0": " "}
)


def _one_line(text: str, limit: int) -> str:
    """Printable ASCII on one line: EDL readers are old and fussy about anything else."""
    flat = " ".join(str(text).split())
    return _UNSAFE.sub("?", flat.translate(_ASCII_LOOKALIKES))[:limit].rstrip()


def render_edl(
    result: DetectionResult,
    *,
    fps: int = 30,
    title: str = "HIGHLIGHTS",
    channel: str = "V",
    chronological: bool = False,
) -> str:
    """The EDL text. ``chronological`` lays the clips out in VOD order instead of best first."""
    if isinstance(fps, bool) or not isinstance(fps, int) or not 1 <= fps <= 120:
        raise ExportError(
            f"EDL frame rate must be a whole number of frames per second from 1 to 120, got {fps!r}.",
            hint="Use the project's timeline rate, e.g. 24, 25, 30 or 60 (non-drop-frame).",
        )
    if channel not in CHANNELS:
        raise ExportError(f"EDL channel must be one of {', '.join(CHANNELS)}, got {channel!r}.")
    clips = by_score(result)
    if chronological:
        clips.sort(key=lambda c: (c.start_s, c.rank))
    if len(clips) > MAX_EVENTS:
        raise ExportError(
            f"A CMX 3600 EDL holds at most {MAX_EVENTS} events; this result has {len(clips)} clips.",
            hint="Lower top_k, or export the JSON or CSV instead.",
        )
    media = result.meta.get("media")
    clip_name = _one_line(PurePath(str(media)).name, 60) if media else ""

    lines = [f"TITLE: {_one_line(title, 70) or 'HIGHLIGHTS'}", "FCM: NON-DROP FRAME", ""]
    record = 0
    for number, c in enumerate(clips, start=1):
        src_in = seconds_to_frames(c.start_s, fps)
        src_out = max(seconds_to_frames(c.end_s, fps), src_in + 1)
        rec_in, rec_out = record, record + (src_out - src_in)
        record = rec_out
        try:
            codes = [timecode(f, fps) for f in (src_in, src_out, rec_in, rec_out)]
        except ValueError as exc:
            raise ExportError(f"Clip #{c.rank} cannot be written to an EDL: {exc}.") from None
        lines.append(f"{number:03d}  {REEL:<8} {channel:<5} {'C':<4} {'':>3} {' '.join(codes)}")
        if clip_name:
            lines.append(f"* FROM CLIP NAME: {clip_name}")
        summary = _one_line(c.explanation.summary, 200)
        score = f"{c.score:.2f}" if math.isfinite(c.score) else "n/a"
        lines.append(f"* COMMENT: #{c.rank} score {score}" + (f" {summary}" if summary else ""))
        lines.append("")
    log.debug("EDL: %d events, %d frames at %d fps", len(clips), record, fps)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_edl(
    result: DetectionResult,
    path: str | os.PathLike[str],
    *,
    fps: int = 30,
    title: str = "HIGHLIGHTS",
    channel: str = "V",
    chronological: bool = False,
) -> Path:
    """Write the EDL to ``path`` (atomically) and return the path."""
    text = render_edl(result, fps=fps, title=title, channel=channel, chronological=chronological)
    return write_text_atomic(path, text)

"""Sources stage: small video frames for the vision, scene and segment signals.

Consumes a media file with a video stream (and its ``MediaInfo``); produces ``Frame``s — a time on
the VOD timeline and a small ``uint8`` picture (grey ``H×W`` or RGB ``H×W×3``). Two ways in:

- ``keyframes``: every keyframe of the whole VOD (or of a window), decoded with ffmpeg's
  ``-skip_frame nokey`` so only keyframes are decoded at all — the cheap whole-VOD pass (Twitch
  VODs carry a keyframe every 2 s). Times come from ffmpeg's ``showinfo`` lines.
- ``window_frames``: ``count`` frames spread evenly over ``[start_s, end_s)`` — candidate windows.

Frames are streamed (one ffmpeg process per call, raw pixels through a pipe), so memory stays at one
frame whatever the VOD's length; ffmpeg is killed when the consumer stops early or ``abort`` fires.

``SectionedVideo`` stands for a VOD whose picture exists only as downloaded sections (a Twitch job
fetches the audio whole and the video only around candidates): ``window_frames`` and ``keyframes``
read it like one file, on the VOD's timeline.
"""

from __future__ import annotations

import logging
import queue
import re
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

import numpy as np

from detector import children
from detector.errors import Cancelled, MediaError
from detector.ffmpeg import ffmpeg_path, stderr_tail
from detector.records import AbortCheck, MediaInfo

log = logging.getLogger(__name__)

_PTS_TIME = re.compile(rb"\bpts_time:\s*(-?[0-9.]+)")
EXIT_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class SectionedVideo(MediaInfo):
    """A VOD's video as section files, each ``(its probe, where it starts on the VOD timeline)``."""

    sections: tuple[tuple[MediaInfo, float], ...] = ()

    @classmethod
    def of(cls, sections: Sequence[tuple[MediaInfo, float]], duration_s: float) -> SectionedVideo:
        ordered = tuple(sorted(sections, key=lambda s: s[1]))
        first = ordered[0][0] if ordered else None
        return cls(path="<sections>", duration_s=float(duration_s), has_audio=False, has_video=bool(ordered),
                   video_codec=first.video_codec if first else None, fps=first.fps if first else None,
                   width=first.width if first else None, height=first.height if first else None, sections=ordered)

    def locate(self, start_s: float, end_s: float) -> tuple[MediaInfo, float] | None:
        """The section overlapping ``[start_s, end_s)`` most, and its offset (None: none overlaps)."""
        best, best_overlap = None, 0.0
        for info, offset in self.sections:
            overlap = min(end_s, offset + info.duration_s) - max(start_s, offset)
            if overlap > best_overlap:
                best, best_overlap = (info, offset), overlap
        return best


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture and where it sits on the VOD timeline (seconds)."""

    t_s: float
    image: np.ndarray


def frame_size(media: MediaInfo, width: int) -> tuple[int, int]:
    """(width, height) of a frame scaled to ``width`` pixels wide, aspect kept, both even."""
    if not media.has_video or not media.width or not media.height:
        raise MediaError(f"{media.path} has no video stream (or its size is unknown).",
                         hint="Vision, scenes and segments need a video file; give one, or leave those signals off.")
    w = max(2, int(width) // 2 * 2)
    h = max(2, int(round(w * media.height / media.width / 2.0)) * 2)
    return w, h


def keyframes(media: MediaInfo, *, width: int = 160, gray: bool = True, start_s: float | None = None,
              end_s: float | None = None, abort: AbortCheck | None = None) -> Iterator[Frame]:
    """Every keyframe of ``media`` (or of ``[start_s, end_s)``), small, in time order."""
    if isinstance(media, SectionedVideo):
        for info, offset in media.sections:
            lo, hi = max((start_s or 0.0) - offset, 0.0), (end_s - offset if end_s is not None else None)
            if hi is not None and hi <= 0 or lo >= info.duration_s:
                continue
            for f in keyframes(info, width=width, gray=gray, start_s=lo, end_s=hi, abort=abort):
                yield Frame(f.t_s + offset, f.image)
        return
    w, h = frame_size(media, width)
    seek = ["-ss", f"{start_s:.3f}"] if start_s else []
    until = ["-t", f"{max(end_s - (start_s or 0.0), 0.0):.3f}"] if end_s is not None else []
    offset = float(start_s or 0.0)
    args = ["-skip_frame", "nokey", *seek, "-i", media.path, *until, "-map", "0:v:0", "-an", "-sn",
            "-vf", f"scale={w}:{h}:flags=area,showinfo", "-fps_mode", "passthrough"]
    yield from _stream(args, media, w, h, gray, abort, offset, timed=True)


def window_frames(media: MediaInfo, start_s: float, end_s: float, count: int, *, width: int = 224,
                  gray: bool = False, abort: AbortCheck | None = None) -> list[Frame]:
    """``count`` frames spread evenly over ``[start_s, end_s)`` (the middle of each equal slice)."""
    if isinstance(media, SectionedVideo):
        located = media.locate(start_s, end_s)
        if located is None:
            return []
        info, offset = located
        lo, hi = max(start_s, offset), min(end_s, offset + info.duration_s)
        return [Frame(f.t_s + offset, f.image)
                for f in window_frames(info, lo - offset, hi - offset, count, width=width, gray=gray, abort=abort)]
    start = max(float(start_s), 0.0)
    end = min(float(end_s), media.duration_s) if media.duration_s else float(end_s)
    if end <= start or count <= 0:
        return []
    w, h = frame_size(media, width)
    span = end - start
    rate = count / span
    args = ["-ss", f"{start:.3f}", "-i", media.path, "-t", f"{span:.3f}", "-map", "0:v:0", "-an", "-sn",
            "-vf", f"fps={rate:.6f}:start_time=0:round=near,scale={w}:{h}:flags=area", "-frames:v", str(count)]
    frames = list(_stream(args, media, w, h, gray, abort, start, timed=False))
    step = span / count
    return [Frame(start + step * (i + 0.5), f.image) for i, f in enumerate(frames)]


def _stream(args: list[str], media: MediaInfo, w: int, h: int, gray: bool, abort: AbortCheck | None,
            offset: float, *, timed: bool) -> Iterator[Frame]:
    pix, depth = ("gray", 1) if gray else ("rgb24", 3)
    argv = [ffmpeg_path(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info" if timed else "error",
            *args, "-f", "rawvideo", "-pix_fmt", pix, "-"]
    frame_bytes = w * h * depth
    proc = children.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    times: queue.Queue[float] = queue.Queue()
    tail: list[bytes] = []
    reader = threading.Thread(target=_read_stderr, args=(proc.stderr, times, tail), daemon=True)
    reader.start()
    assert proc.stdout is not None
    finished = False
    try:
        index = 0
        while True:
            if abort is not None and abort():
                raise Cancelled("Stopped while decoding frames.")
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                break
            image = np.frombuffer(buf, dtype=np.uint8).reshape((h, w) if gray else (h, w, depth))
            t = offset + times.get(timeout=EXIT_TIMEOUT_S) if timed else offset
            yield Frame(t, image)
            index += 1
        proc.wait(timeout=EXIT_TIMEOUT_S)
        reader.join(5.0)
        finished = True
        if proc.returncode != 0:
            raise MediaError(f"Decoding frames of {media.path} failed: {stderr_tail(b''.join(tail))}",
                             hint="Check that the file plays; a damaged file can be remuxed with ffmpeg -c copy.")
    finally:
        if not finished:
            proc.kill()
            proc.wait()


def _read_stderr(stream: IO[bytes] | None, times: queue.Queue[float], tail: list[bytes]) -> None:
    if stream is None:
        return
    for line in iter(stream.readline, b""):
        match = _PTS_TIME.search(line) if b"showinfo" in line.lower() or b"Parsed_showinfo" in line else None
        if match:
            times.put(float(match.group(1)))
        elif line.strip():
            tail.append(line)
            del tail[:-20]

"""Scenes signal: where the picture cuts to a new shot.

Consumes a media file with a video stream (its ``MediaInfo``) and, for the exact path, VOD windows;
produces cut times in seconds on the VOD timeline (the time of the first frame that shows the new
shot), wrapped in a :class:`SceneCuts` record for the result's meta. Two paths:

- **fast** (whole VOD, cheap): ffmpeg decodes only the keyframes (``-skip_frame nokey``), scales
  them to ``FAST_WIDTH`` px RGB and scores each against the previous one with the ``select``
  filter's scene score (0..1); a score above ``scene_fast_threshold`` is a cut, reported at the
  first keyframe that shows the new shot, so its resolution is the keyframe interval (2 s on
  Twitch). Measured on a 10-minute 1080p30 H.264 synthetic source (2 s GOP) on two busy cores:
  keyframes-only 0.9 s, the same with ``scdet`` 1.2 s (both at the keyframe-decode floor), a 2 fps
  low-resolution decode 15 s (every frame must still be decoded). RGB rather than YUV because the
  YUV score barely separates cuts between shots of similar brightness. Known limit: ffmpeg's score
  is the frame difference *minus the previous one*, so a cut in the keyframe interval right after
  another cut's interval is masked (on that source: 119 of 159 cuts found, no false ones). When
  keyframes are sparser than ``MAX_KEYFRAME_GAP_S`` the pass is redone on a ``FALLBACK_FPS`` decode.
- **exact** (candidate windows): PySceneDetect's ``ContentDetector`` (threshold
  ``scene_exact_threshold``) over every frame of each window — frame-accurate. Without
  scenedetect or OpenCV it falls back to the fast pass inside the windows and says why.
"""

from __future__ import annotations

import logging
import math
import queue
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import IO, Any

import numpy as np

from detector import children
from detector.errors import Cancelled, MediaError
from detector.ffmpeg import ffmpeg_path, stderr_tail
from detector.params import Settings
from detector.records import AbortCheck, MediaInfo, ProgressCallback
from detector.spans import merge_spans

log = logging.getLogger(__name__)

STAGE = "scenes"
FAST_WIDTH = 160
MAX_KEYFRAME_GAP_S = 5.0
"""Keyframes further apart than this (median) make the fast pass decode at ``FALLBACK_FPS``."""
FALLBACK_FPS = 2.0
EXACT_CHUNK_S = 20.0
"""The exact path checks the abort flag at least this often (seconds of video)."""
FAST_METHOD = "ffmpeg-scene-keyframes"
EXACT_METHOD = "pyscenedetect-content"

_PTS_TIME = re.compile(r"\bpts_time:\s*(-?[0-9.]+)")
_SCORE = re.compile(r"lavfi\.scene_score=([0-9.]+)")

Window = tuple[float, float]


@dataclass(frozen=True, slots=True)
class SceneCuts:
    """Cuts found in (part of) a VOD, and how."""

    times: np.ndarray
    """Sorted cut times, seconds on the VOD timeline (first frame of the new shot)."""
    method: str
    """``FAST_METHOD``, ``EXACT_METHOD`` or ``FAST_METHOD`` ``(fallback)``."""
    windows: tuple[Window, ...]
    """The spans that were looked at (the whole VOD is one span)."""
    resolution_s: float
    """Largest error of a reported time: one frame (exact) or the sampling interval (fast)."""
    reason: str | None = None
    """Why the exact path fell back to the fast one (None when it did not)."""

    def to_meta(self) -> dict[str, Any]:
        return {"method": self.method, "cuts": [round(float(t), 3) for t in self.times],
                "windows": [[round(a, 3), round(b, 3)] for a, b in self.windows],
                "resolution_s": round(self.resolution_s, 4), "reason": self.reason}


def no_video_reason(media: MediaInfo) -> str | None:
    """Why scene cuts cannot be found in ``media`` (no video stream), or None."""
    if not media.has_video:
        return f"{media.path} has no video stream, so it has no scene cuts"
    return None


def exact_unavailable_reason() -> str | None:
    """Why the exact path cannot run here (scenedetect or OpenCV missing), or None."""
    try:
        import cv2  # noqa: F401
        import scenedetect  # noqa: F401
    except ImportError as exc:
        return f"exact scene cuts need scenedetect and opencv-python ({exc.name or exc} is not installed)"
    return None


def _require_video(media: MediaInfo) -> None:
    reason = no_video_reason(media)
    if reason:
        raise MediaError(f"{reason}.", hint="Give a video file, or leave scene snapping off for audio-only files.")


def merge_windows(windows: Sequence[Window], duration_s: float) -> list[Window]:
    """Windows clipped to the VOD, sorted, overlapping ones merged."""
    return merge_spans(windows, duration_s)


# --- fast path: ffmpeg's scene score on keyframes -----------------------------------------------

def fast_scan(media: MediaInfo, settings: Settings, *, windows: Sequence[Window] | None = None,
              abort: AbortCheck | None = None, progress: ProgressCallback | None = None) -> SceneCuts:
    """Keyframe scene scores over the whole VOD (or only ``windows``) → cuts above the threshold."""
    _require_video(media)
    whole = windows is None
    spans = [(0.0, math.inf)] if whole else merge_windows(windows or (), media.duration_s)
    threshold = float(settings["scene_fast_threshold"])
    found: list[np.ndarray] = []
    gaps: list[np.ndarray] = []
    for a, b in spans:
        end = None if whole else b
        times, scores = _scan(media, a, end, None, abort, progress)
        if len(times) > 2 and float(np.median(np.diff(times))) > MAX_KEYFRAME_GAP_S:
            log.info("%s: keyframes every %.1f s are too sparse for cuts; decoding at %g fps instead",
                     media.path, float(np.median(np.diff(times))), FALLBACK_FPS)
            times, scores = _scan(media, a, end, FALLBACK_FPS, abort, progress)
        # -t is not exact with -skip_frame: a keyframe just past the window may come through.
        inside = (times >= a - 1e-6) & (times <= b + 1e-6)
        times, scores = times[inside], scores[inside]
        found.append(times[scores > threshold])
        if len(times) > 1:
            gaps.append(np.diff(times))
    cuts = np.unique(np.concatenate(found)) if found else np.zeros(0)
    resolution = float(np.median(np.concatenate(gaps))) if gaps else 0.0
    log.debug("fast scene pass on %s: %d cuts, resolution %.2f s", media.path, len(cuts), resolution)
    looked = ((0.0, media.duration_s),) if whole else tuple(spans)
    return SceneCuts(cuts, FAST_METHOD, looked, resolution)


def fast_cuts(media: MediaInfo, settings: Settings, *, abort: AbortCheck | None = None,
              progress: ProgressCallback | None = None, windows: Sequence[Window] | None = None) -> np.ndarray:
    """Cut times (s) of the whole VOD (or of ``windows``) from the keyframes-only pass."""
    return fast_scan(media, settings, windows=windows, abort=abort, progress=progress).times


def _scan(media: MediaInfo, start_s: float, end_s: float | None, fps: float | None, abort: AbortCheck | None,
          progress: ProgressCallback | None) -> tuple[np.ndarray, np.ndarray]:
    """(sample times, scene scores) of one ffmpeg pass: keyframes only, or ``fps`` samples a second."""
    seek = ["-ss", f"{start_s:.3f}"] if start_s > 0 else []
    until = ["-t", f"{end_s - start_s:.3f}"] if end_s is not None else []
    sample = ["-skip_frame", "nokey"] if fps is None else []
    rate = f"fps={fps:g}:round=up," if fps is not None else ""
    graph = (f"{rate}scale={FAST_WIDTH}:-2:flags=area,format=rgb24,"
             "select='gte(scene\\,0)',metadata=print:key=lavfi.scene_score")
    argv = [ffmpeg_path(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", *sample, *seek,
            "-i", media.path, *until, "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", graph,
            "-fps_mode", "passthrough", "-f", "null", "-"]
    total = (end_s if end_s is not None else media.duration_s) - start_s
    deadline = time.monotonic() + 300.0 + max(total, 0.0)
    proc = children.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stderr, lines), daemon=True).start()
    times: list[float] = []
    scores: list[float] = []
    tail: list[str] = []
    t = None
    try:
        while True:
            if abort is not None and abort():
                raise Cancelled("Stopped while looking for scene cuts.")
            if time.monotonic() > deadline:
                raise MediaError(f"Looking for scene cuts in {media.path} took too long and was stopped.")
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            if (m := _PTS_TIME.search(line)) and "metadata" in line:
                t = start_s + float(m.group(1))
            elif (m := _SCORE.search(line)) and t is not None:
                times.append(t)
                scores.append(float(m.group(1)))
                t = None
                if progress is not None and len(times) % 50 == 0:
                    progress(STAGE, times[-1], media.duration_s or None)
            elif line.strip():
                tail = [*tail[-19:], line]
        proc.wait(timeout=30.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise MediaError(f"Looking for scene cuts in {media.path} failed: {stderr_tail(''.join(tail))}",
                         hint="Check that the file plays; a damaged file can be remuxed with ffmpeg -c copy.")
    return np.asarray(times, dtype=np.float64), np.asarray(scores, dtype=np.float64)


def _pump(stream: IO[bytes] | None, lines: queue.Queue[str | None]) -> None:
    if stream is not None:
        for raw in iter(stream.readline, b""):
            lines.put(raw.decode("utf-8", "replace"))
    lines.put(None)


# --- exact path: PySceneDetect on candidate windows --------------------------------------------

def exact_scan(media: MediaInfo, windows: Sequence[Window], settings: Settings, *,
               abort: AbortCheck | None = None, progress: ProgressCallback | None = None) -> SceneCuts:
    """Frame-accurate cuts inside ``windows`` (falls back to the fast pass there, with a reason)."""
    _require_video(media)
    spans = merge_windows(windows, media.duration_s)
    reason = exact_unavailable_reason()
    if reason:
        log.warning("%s; using the keyframe pass inside the windows instead", reason)
        fast = fast_scan(media, settings, windows=spans, abort=abort, progress=progress)
        return replace(fast, method=f"{FAST_METHOD} (fallback)", reason=reason)
    from scenedetect import ContentDetector, SceneManager, open_video

    logging.getLogger("pyscenedetect").setLevel(logging.WARNING)  # it logs a line per chunk otherwise

    try:
        video = open_video(media.path, backend="opencv")
    except Exception as exc:  # scenedetect raises OSError or its own errors on unreadable files
        raise MediaError(f"PySceneDetect could not open {media.path}: {exc}") from None
    fps = float(video.frame_rate)
    threshold = float(settings["scene_exact_threshold"])
    cuts: list[float] = []
    done = 0.0
    for a, b in spans:
        manager = SceneManager()
        manager.add_detector(ContentDetector(threshold=threshold))
        video.seek(a)
        position = a
        while position < b - 0.5 / fps:
            if abort is not None and abort():
                raise Cancelled("Stopped while looking for exact scene cuts.")
            position = min(position + EXACT_CHUNK_S, b)
            if manager.detect_scenes(video=video, end_time=position) == 0:
                break
        scenes = manager.get_scene_list()
        cuts.extend(float(start.seconds) for start, _end in scenes[1:])
        done += b - a
        if progress is not None:
            progress(STAGE, done, sum(y - x for x, y in spans))
    times = np.unique(np.asarray([c for c in cuts if any(a < c < b for a, b in spans)], dtype=np.float64))
    log.debug("exact scene pass on %s: %d cuts in %d windows", media.path, len(times), len(spans))
    return SceneCuts(times, EXACT_METHOD, tuple(spans), 1.0 / fps if fps > 0 else 0.0)


def exact_cuts(media: MediaInfo, windows: Sequence[Window], settings: Settings, *,
               abort: AbortCheck | None = None) -> np.ndarray:
    """Frame-accurate cut times (s, VOD timeline) inside ``windows``."""
    return exact_scan(media, windows, settings, abort=abort).times

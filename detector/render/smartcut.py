"""Render stage, smart cut: frame-exact cuts that re-encode only the GOPs at the edges.

Consumes a ``ClipPlan`` whose picture needs no filter (16:9 source framing, no captions, no
scaling) from an H.264 source, and the probed media; produces the clip with its video made of three
parts joined by ffmpeg's concat demuxer:

- the head, from the in-point to the first keyframe after it, re-encoded with libx264 at the
  source's profile, level, pixel format, size and time base;
- the middle, whole GOPs from that keyframe to the last keyframe before the out-point,
  stream-copied (untouched packets);
- the tail, from that last keyframe to the out-point, re-encoded like the head.

Every part's parameter sets travel in band (the concat demuxer's ``h264_mp4toannexb``), decode
timestamps are renumbered on one grid (``setts``) so that parts with different B-frame delays join
with monotonic timestamps, and the sound is trimmed, loudness-normalised and re-encoded exactly as
for any other clip. The result is checked by :mod:`detector.render.smartcut_check`; a plan it
does not apply to returns None, a result that fails a check raises ``SmartCutFailed`` and the
caller re-encodes the whole clip.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from detector.records import AbortCheck, MediaInfo, ProgressCallback
from detector.render.audio import Loudness, audio_chain
from detector.render.bitstream import (
    first_packet_annexb,
    nal_types,
    packet_list,
    reorder_delay,
    seek_arg,
)
from detector.render.encode import SIZE_MARGIN, audio_args
from detector.render.errors import SmartCutFailed
from detector.render.plan import ClipPlan
from detector.render.runner import run_to_file
from detector.render.smartcut_geometry import CutGeometry, smart_cut_geometry
from detector.scratch import scratch_dir

log = logging.getLogger(__name__)

EDGE_CRF = 18
"""libx264 quality of the re-encoded edges: close to the source, so the joins do not show."""
EDGE_PRESET = "veryfast"
EDGE_SIZE_FACTOR = 1.5
"""The edges are expected to cost this many times the copied middle's bitrate (they start with an IDR)."""


@dataclass(frozen=True, slots=True)
class SmartCutResult:
    size_bytes: int
    head_frames: int
    middle_frames: int
    tail_frames: int


def _edge_args(geo: CutGeometry, source: str, seek_ticks: int, frames: int, kbps: int) -> list[str]:
    p = geo.params
    args = [*seek_arg(seek_ticks, p), "-i", source, "-map", "0:v:0", "-an", "-sn", "-dn", "-frames:v", str(frames),
            "-fps_mode", "passthrough", "-c:v", "libx264", "-preset", EDGE_PRESET, "-crf", str(EDGE_CRF),
            "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k"]
    if p.pix_fmt:
        args += ["-pix_fmt", p.pix_fmt]
    if p.x264_profile:
        args += ["-profile:v", p.x264_profile]
    if p.x264_level:
        args += ["-level:v", p.x264_level]
    return [*args, "-video_track_timescale", str(p.tb)]


def _concat_list(parts: list[tuple[Path, float]]) -> str:
    lines = ["ffconcat version 1.0"]
    for path, seconds in parts:
        quoted = str(path).replace("'", "'\\''")
        lines += [f"file '{quoted}'", f"duration {seconds:.6f}"]
    return "\n".join(lines) + "\n"


def smart_cut(plan: ClipPlan, info: MediaInfo, scratch: Path, loudness: Loudness | None, *, stage: str = "render",
              progress: ProgressCallback | None = None, abort: AbortCheck | None = None,
              timeout_s: float = 600.0) -> SmartCutResult | None:
    """Write the smart cut of ``plan`` to ``scratch``; None when it does not apply (see the module docstring).

    Raises ``SmartCutFailed`` when the output fails a check; ``Cancelled`` on abort.
    """
    from detector.render.smartcut_check import verify_smart_cut

    geo, why = smart_cut_geometry(plan, info)
    if geo is None:
        log.info("no smart cut for %.2f–%.2f s: %s", plan.start_s, plan.end_s, why)
        return None
    src, p = plan.source.path, geo.params
    with scratch_dir("smartcut") as tmp:
        middle = Path(tmp) / "middle.mp4"
        run_to_file([*seek_arg(geo.k_in, p), "-i", src, "-map", "0:v:0", "-an", "-sn", "-dn", "-c:v", "copy",
                     "-frames:v", str(geo.middle_frames), "-video_track_timescale", str(p.tb)],
                    middle, total_s=None, abort=abort, timeout_s=timeout_s, what="copying the middle GOPs")
        tb, packets = packet_list(middle)
        why = _middle_problem(geo, tb, packets, first_packet_annexb(middle))
        if why:
            log.info("no smart cut for %.2f–%.2f s: %s", plan.start_s, plan.end_s, why)
            return None
        mid_bytes = sum(pk.size for pk in packets)
        mid_kbps = max(300, round(mid_bytes * 8 / 1000 / geo.seconds(geo.middle_frames)))
        if plan.size_limit_bytes is not None:
            edges_s = geo.seconds(geo.head_frames + geo.tail_frames)
            estimate = mid_bytes + EDGE_SIZE_FACTOR * mid_kbps * 125 * edges_s \
                + (plan.audio_kbps + 8) * 125 * plan.duration_s
            if estimate > SIZE_MARGIN * plan.size_limit_bytes:
                log.info("no smart cut for %.2f–%.2f s: the copied %d kb/s would make about %.1f MiB, over the "
                         "%.1f MiB limit", plan.start_s, plan.end_s, mid_kbps, estimate / 1048576,
                         plan.size_limit_bytes / 1048576)
                return None
        parts: list[tuple[Path, float]] = []
        delays = [reorder_delay(packets, geo.step)]
        edge_kbps = 2 * mid_kbps
        for name, seek, frames in (("head", geo.first_ticks - geo.step // 2, geo.head_frames),
                                   ("tail", geo.k_out, geo.tail_frames)):
            if frames == 0:
                continue
            path = Path(tmp) / f"{name}.mp4"
            run_to_file(_edge_args(geo, src, seek, frames, edge_kbps), path, total_s=None, abort=abort,
                        timeout_s=timeout_s, what=f"re-encoding the {name} of a smart cut")
            etb, edge = packet_list(path)
            if etb != p.tb or len(edge) != frames:
                raise SmartCutFailed(f"the {name} came out as {len(edge)} frames in 1/{etb} s, "
                                     f"not {frames} in 1/{p.tb} s")
            delays.append(reorder_delay(edge, geo.step))
            parts.append((path, geo.seconds(frames)))
        parts.insert(1 if geo.head_frames else 0, (middle, geo.seconds(geo.middle_frames)))
        listing = Path(tmp) / "parts.ffconcat"
        listing.write_text(_concat_list(parts), encoding="utf-8")
        run_to_file(_join_args(plan, info, listing, geo, max(delays), loudness), scratch, total_s=plan.duration_s,
                    stage=stage, progress=progress, abort=abort, timeout_s=timeout_s,
                    what=f"joining the smart cut of {scratch.name}")
    verify_smart_cut(scratch, plan, geo)
    size = os.path.getsize(scratch)
    log.info("smart cut %.2f–%.2f s: %d + %d + %d frames (re-encoded, copied, re-encoded), %d bytes", plan.start_s,
             plan.end_s, geo.head_frames, geo.middle_frames, geo.tail_frames, size)
    return SmartCutResult(size, geo.head_frames, geo.middle_frames, geo.tail_frames)


def _middle_problem(geo: CutGeometry, tb: int | None, packets: list, first: bytes) -> str:
    """Why the copied middle cannot be used as is ('' when it can)."""
    if tb != geo.params.tb or len(packets) != geo.middle_frames:
        return f"the copy holds {len(packets)} packets in 1/{tb} s, not {geo.middle_frames} in 1/{geo.params.tb} s"
    if not packets[0].key or 5 not in nal_types(first):
        return "the keyframe after the in-point is not an IDR frame (open GOP)"
    pts = sorted(pk.pts for pk in packets)
    if any(b - a != geo.step for a, b in zip(pts, pts[1:])):
        return "the copied GOPs are not closed or their frames are not evenly spaced"
    return ""


def _join_args(plan: ClipPlan, info: MediaInfo, listing: Path, geo: CutGeometry, delay: int,
               loudness: Loudness | None) -> list[str]:
    args = ["-f", "concat", "-safe", "0", "-i", str(listing)]
    maps = ["-map", "0:v:0", "-c:v", "copy", "-bsf:v", f"setts=pts=PTS:dts=(N-{delay})*{geo.step}",
            "-video_track_timescale", str(geo.params.tb)]
    if info.has_audio:
        args += ["-ss", f"{plan.start_s:.6f}", "-t", f"{plan.duration_s:.6f}", "-i", plan.source.path]
        chain = audio_chain(duration_s=plan.duration_s, target_lufs=plan.loudness_lufs, measured=loudness,
                            fade_s=plan.fade_s)
        maps += ["-map", "1:a:0", "-af", chain, *audio_args(plan.audio_kbps)]
    return [*args, *maps, "-movflags", "+faststart"]

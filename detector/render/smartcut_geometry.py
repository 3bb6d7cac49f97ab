"""Render stage, smart-cut geometry: whether a clip can be smart-cut and where its three parts lie.

Consumes a ``ClipPlan`` and the probed media (and the source's stream parameters and keyframes,
read with ffprobe through ``detector.render.bitstream``); produces a :class:`CutGeometry` (the
head to re-encode, the whole GOPs to copy, the tail to re-encode, in the stream's ticks) or the
reason a smart cut does not apply. ``detector.render.smartcut`` makes the cut from it and
``detector.render.smartcut_check`` checks the result against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from detector.records import MediaInfo
from detector.render.bitstream import StreamParams, keyframe_ticks, stream_params
from detector.render.encode import listed_encoders
from detector.render.plan import ClipPlan


@dataclass(frozen=True, slots=True)
class CutGeometry:
    """Where the three parts of a smart cut lie; times in the source stream's ticks (absolute)."""

    params: StreamParams
    step: int
    """Ticks per frame."""
    k_in: int
    """The first keyframe at or after the in-point: the middle's first frame."""
    k_out: int
    """The last keyframe at or before the out-point: the tail's first frame."""
    head_frames: int
    tail_frames: int

    @property
    def middle_frames(self) -> int:
        return (self.k_out - self.k_in) // self.step

    @property
    def total_frames(self) -> int:
        return self.head_frames + self.middle_frames + self.tail_frames

    @property
    def first_ticks(self) -> int:
        return self.k_in - self.head_frames * self.step

    @property
    def last_ticks(self) -> int:
        return self.k_out + (self.tail_frames - 1) * self.step

    def seconds(self, frames: int) -> float:
        return frames * self.step / self.params.tb


def smart_cut_geometry(plan: ClipPlan, info: MediaInfo) -> tuple[CutGeometry | None, str]:
    """The parts of a smart cut of ``plan``, or None and why it does not apply."""
    if not plan.allow_copy:
        return None, "stream copy is turned off"
    if plan.needs_video_filters(info.width, info.height):
        return None, "the picture needs filtering"
    if info.video_codec != "h264" or not info.fps:
        return None, f"the source's video is {info.video_codec or 'unknown'}, not H.264 at a known frame rate"
    if "libx264" not in listed_encoders():
        return None, "this ffmpeg has no libx264 to re-encode the edges"
    params = stream_params(plan.source.path)
    if params is None or params.interlaced or (params.width, params.height) != (info.width, info.height):
        return None, "the source's stream parameters are unknown or interlaced"
    exact = params.tb / info.fps
    step = round(exact)
    if step < 1 or abs(exact - step) > 0.005 * step:
        return None, f"frames do not fall on whole ticks of the {params.tb} Hz time base"
    keys = keyframe_ticks(plan.source.path, plan.start_s, plan.end_s, params)
    s_abs = (plan.start_s + params.start_us / 1e6) * params.tb
    e_abs = (plan.end_s + params.start_us / 1e6) * params.tb
    inside = [k for k in keys if s_abs - step / 2 <= k <= e_abs + step / 2]
    if len(inside) < 2:
        return None, "fewer than two keyframes inside the clip: no whole GOP to copy"
    k_in, k_out = inside[0], inside[-1]
    if (k_out - k_in) % step:
        return None, "the keyframes are not on the frame grid"
    head = max(0, math.floor((k_in - s_abs) / step + 1e-3))
    tail = max(0, math.ceil((e_abs - k_out) / step - 1e-3))
    geo = CutGeometry(params, step, k_in, k_out, head, tail)
    planned = round(plan.duration_s * info.fps)
    if abs(geo.total_frames - planned) > 1:
        return None, f"the parts add up to {geo.total_frames} frames, not the planned {planned}"
    return geo, ""

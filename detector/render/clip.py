"""Render stage, one clip: a ``ClipPlan`` → a verified MP4.

Consumes a plan; produces the output file and a ``RenderedClip`` saying how it was made. Order:
the render cache (a hit is handed out without touching ffmpeg), a probe of the source (a corrupt
or missing file, or a plan past its end, fails here with a clear error), then stream copy when the
cuts fall on keyframes and the picture needs no filter (the sound is always re-encoded); when the
picture needs no filter but the cuts fall between keyframes, a smart cut (:mod:`smartcut`: only the
GOPs at the edges re-encoded, the middle copied, the result checked) if the copied bitrate fits the
size limit; else, or when a smart cut fails a check, a re-encode with frame-exact cuts (input
seek, decoded and trimmed), two-pass loudness normalisation, fades, layout and captions. With a
size limit the bitrate is derived from it; an output over the limit is made again at a lower
resolution and bitrate, and the size is checked again. Every attempt writes a scratch file beside
the output that only a successful, verified attempt renames over it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from detector.errors import MediaError
from detector.records import AbortCheck, MediaInfo, ProgressCallback
from detector.render.audio import Loudness, audio_chain, measure_loudness
from detector.render.cache import RenderCache
from detector.render.captions import captions_ass
from detector.render.encode import audio_args, global_args, target_video_kbps, upload_filter, video_args
from detector.render.errors import RenderError
from detector.render.graph import scaled_size, video_graph
from detector.render.keyframes import on_keyframe
from detector.render.plan import ClipPlan
from detector.render.runner import discard, run_to_file, temp_path_for
from detector.render.smartcut import smart_cut
from detector.scratch import scratch_dir
from detector.sources.media import probe

log = logging.getLogger(__name__)

ATTEMPTS = ((1.0, 0.92), (0.75, 0.80))
"""(output scale, share of the size limit aimed at) of the first and the second, smaller attempt."""


@dataclass(frozen=True, slots=True)
class RenderedClip:
    """A finished clip and how it was made."""

    path: Path
    plan_key: str
    mode: str
    """``copy`` (stream copy), ``smartcut`` (edges re-encoded, middle copied), ``encode`` or ``cache`` (an
    earlier render of the same plan)."""
    duration_s: float
    size_bytes: int
    attempts: int = 0
    """Whole-clip encodes run for this output (0 for copy, smart cut and cache)."""
    scale: float = 1.0
    """Output scale of the attempt that was kept (below 1 after a size overshoot)."""
    seconds: float = 0.0
    """Wall time spent."""


def check_plan(plan: ClipPlan, info: MediaInfo) -> None:
    """Raise ``RenderError`` when the plan cannot be cut from this media."""
    if not info.has_video:
        raise RenderError(f"{plan.source.path} has no video stream to render clips from.",
                          hint="Pass the VOD's video file with --media.")
    if not (0 <= plan.start_s < plan.end_s):
        raise RenderError(f"Clip {plan.start_s:.3f}–{plan.end_s:.3f} s is empty or starts before 0.")
    slack = 1.0 / info.fps if info.fps else 0.05
    if info.duration_s > 0 and plan.end_s > info.duration_s + slack:
        raise RenderError(
            f"Clip {plan.start_s:.2f}–{plan.end_s:.2f} s ends after the media, which is {info.duration_s:.2f} s long.",
            hint="Check that --media is the VOD the detect JSON was made from.")
    if plan.layout != "source" and not (info.width and info.height):
        raise RenderError(f"The size of {plan.source.path}'s video is unknown; cannot lay out a {plan.layout} crop.")


def can_copy(plan: ClipPlan, info: MediaInfo) -> bool:
    """Whether the video can be stream-copied: no video filter, an MP4-friendly codec, cuts on keyframes."""
    if not plan.allow_copy or plan.needs_video_filters(info.width, info.height):
        return False
    if info.video_codec not in ("h264", "hevc", "av1"):
        return False
    return all(on_keyframe(plan.source.path, t, fps=info.fps, media_duration_s=info.duration_s)
               for t in (plan.start_s, plan.end_s))


def copy_args(plan: ClipPlan, info: MediaInfo, loudness: Loudness | None) -> list[str]:
    """Video stream-copied; audio decoded, trimmed to the exact span, normalised and faded, re-encoded.

    Audio packets do not line up with video frames, so copying them too would overhang the cut by
    up to a packet at each end; re-encoding sound costs little and keeps loudness and fades. The
    video is limited by frame count: between keyframes of closed GOPs the first N packets in
    decode order are exactly the N frames of the span.
    """
    args = ["-ss", f"{plan.start_s:.6f}", "-t", f"{plan.duration_s:.6f}", "-i", plan.source.path,
            "-map", "0:v:0", "-c:v", "copy"]
    if info.fps:  # with B-frames a time limit lets reordered frames past the cut; a count does not
        args += ["-frames:v", str(round(plan.duration_s * info.fps))]
    if info.has_audio:
        chain = audio_chain(duration_s=plan.duration_s, target_lufs=plan.loudness_lufs, measured=loudness,
                            fade_s=plan.fade_s)
        args += ["-map", "0:a:0", "-af", chain, *audio_args(plan.audio_kbps)]
    return [*args, "-t", f"{plan.duration_s:.6f}", "-movflags", "+faststart"]


def encode_args(plan: ClipPlan, info: MediaInfo, *, scale: float, kbps: int | None, ass_file: str | None,
                loudness: Loudness | None) -> list[str]:
    src_w, src_h = info.width or plan.width, info.height or plan.height
    graph = video_graph(plan, src_w, src_h, scale=scale, ass_file=ass_file, upload=upload_filter(plan.encoder))
    maps = ["-map", "[v]"]
    if info.has_audio:
        chain = audio_chain(duration_s=plan.duration_s, target_lufs=plan.loudness_lufs, measured=loudness,
                            fade_s=plan.fade_s)
        graph += f";[0:a:0]{chain}[a]"
        maps += ["-map", "[a]"]
    return [*global_args(plan.encoder), "-reinit_filter", "0",
            "-ss", f"{plan.start_s:.6f}", "-t", f"{plan.duration_s:.6f}", "-i", plan.source.path,
            "-filter_complex", graph, *maps,
            *video_args(plan.encoder, kbps=kbps, fps=plan.fps or info.fps, preset=plan.preset),
            *(audio_args(plan.audio_kbps) if info.has_audio else []),
            "-t", f"{plan.duration_s:.6f}", "-movflags", "+faststart"]


def render_clip(plan: ClipPlan, out: str | os.PathLike[str], *, cache: RenderCache | None = None,
                progress: ProgressCallback | None = None, abort: AbortCheck | None = None,
                stage: str = "render", timeout_s: float | None = None,
                attempts: Sequence[tuple[float, float]] = ATTEMPTS) -> RenderedClip:
    """Render ``plan`` to ``out`` (MP4) and return what was made; see the module docstring.

    ``attempts`` is the size schedule, ``(output scale, share of the limit aimed at)`` per try.
    """
    began = time.monotonic()
    out = Path(out)
    key = plan.key()
    if cache is not None and cache.fetch(key, out) is not None:
        log.info("render cache hit for %s (%s)", out.name, key[:12])
        return RenderedClip(out, key, "cache", plan.duration_s, out.stat().st_size, seconds=time.monotonic() - began)
    info = probe(plan.source.path)
    check_plan(plan, info)
    timeout = timeout_s or max(600.0, 30.0 * plan.duration_s)
    scratch = temp_path_for(out)
    try:
        result = None
        loudness = _loudness(plan, info)
        copyable = can_copy(plan, info)
        if copyable:
            run_to_file(copy_args(plan, info, loudness), scratch, total_s=plan.duration_s, stage=stage, progress=progress,
                        abort=abort, timeout_s=timeout, what=f"copying {out.name}")
            size = scratch.stat().st_size
            if plan.size_limit_bytes is None or size <= plan.size_limit_bytes:
                result = RenderedClip(out, key, "copy", plan.duration_s, size)
            else:
                log.info("stream copy of %s is %d bytes, over the %d limit; re-encoding", out.name, size,
                         plan.size_limit_bytes)
        if result is None and not copyable and plan.allow_copy and not plan.needs_video_filters(info.width,
                                                                                                info.height):
            result = _smart_cut(plan, info, scratch, out, key, loudness, stage=stage, progress=progress, abort=abort,
                                timeout_s=timeout)
        if result is None:
            result = _encode(plan, info, scratch, out, key, loudness, attempts, stage=stage, progress=progress,
                             abort=abort, timeout_s=timeout)
        _check_duration(scratch, plan, info.fps)
        os.replace(scratch, out)
    finally:
        discard(scratch)
    if cache is not None:
        cache.put(key, out)
    done = RenderedClip(result.path, key, result.mode, result.duration_s, result.size_bytes, result.attempts,
                        result.scale, time.monotonic() - began)
    log.info("rendered %s: %s, %.1f s, %d bytes, %.1f s wall", out.name, done.mode, done.duration_s,
             done.size_bytes, done.seconds)
    return done


def _loudness(plan: ClipPlan, info: MediaInfo) -> Loudness | None:
    if info.has_audio and plan.loudness_lufs is not None:
        return measure_loudness(plan.source.path, plan.start_s, plan.duration_s, plan.loudness_lufs)
    return None


def _smart_cut(plan: ClipPlan, info: MediaInfo, scratch: Path, out: Path, key: str, loudness: Loudness | None, *,
               stage: str, progress: ProgressCallback | None, abort: AbortCheck | None,
               timeout_s: float) -> RenderedClip | None:
    """A smart cut of the plan in ``scratch``; None (and a log line saying why) to re-encode instead."""
    try:
        done = smart_cut(plan, info, scratch, loudness, stage=stage, progress=progress, abort=abort,
                         timeout_s=timeout_s)
    except (RenderError, MediaError) as exc:
        log.warning("smart cut of %s failed (%s); re-encoding the whole clip", out.name, exc)
        return None
    if done is None:
        return None
    if plan.size_limit_bytes is not None and done.size_bytes > plan.size_limit_bytes:
        log.info("smart cut of %s is %d bytes, over the %d limit; re-encoding", out.name, done.size_bytes,
                 plan.size_limit_bytes)
        return None
    return RenderedClip(out, key, "smartcut", plan.duration_s, done.size_bytes)


def _encode(plan: ClipPlan, info: MediaInfo, scratch: Path, out: Path, key: str, loudness: Loudness | None,
            attempts: Sequence[tuple[float, float]], *, stage: str, progress: ProgressCallback | None,
            abort: AbortCheck | None, timeout_s: float) -> RenderedClip:
    limit = plan.size_limit_bytes
    size = 0
    with scratch_dir("render") as tmp:
        for attempt, (scale, margin) in enumerate(attempts, start=1):
            ass_file = None
            if plan.captions:
                w, h = scaled_size(plan, scale)
                ass_file = os.path.join(tmp, f"captions-{attempt}.ass")
                Path(ass_file).write_text(captions_ass(plan.captions, w, h, plan.duration_s), encoding="utf-8")
            kbps = target_video_kbps(limit, plan.duration_s, plan.audio_kbps, margin) if limit else None
            args = encode_args(plan, info, scale=scale, kbps=kbps, ass_file=ass_file, loudness=loudness)
            run_to_file(args, scratch, total_s=plan.duration_s, stage=stage, progress=progress, abort=abort,
                        timeout_s=timeout_s, what=f"rendering {out.name}")
            size = scratch.stat().st_size
            if limit is None or size <= limit:
                return RenderedClip(out, key, "encode", plan.duration_s, size, attempt, scale)
            log.info("%s came out at %d bytes, over the %d byte limit (attempt %d at scale %.2f)", out.name, size,
                     limit, attempt, scale)
    raise RenderError(
        f"{out.name} stays over its size limit ({size / 1048576:.2f} MiB > {(limit or 0) / 1048576:.2f} MiB) "
        "even at a lower resolution.",
        hint="Raise --size-mib or render a shorter clip.")


def _check_duration(path: Path, plan: ClipPlan, source_fps: float | None) -> None:
    got = probe(path).duration_s
    fps = plan.fps or source_fps or 30.0
    frame = 1.0 / fps
    if abs(got - plan.duration_s) > 1.5 * frame:
        log.warning("%s is %.3f s long; the plan asked for %.3f s", path.name, got, plan.duration_s)

"""Render stage, the compilation reel: the top clips joined with short transitions.

Consumes rendered clips (files) with optional titles; produces one MP4: each clip (optionally
preceded by a title card — a dark frame with the title drawn by libass) joined to the next by a
short cross-fade of picture (``xfade``) and sound (``acrossfade``). Every piece is brought to the
reel's size, frame rate and audio format first, as ``xfade`` needs. The reel goes through the same
encoder choice, size-targeted bitrate, progress, abort and atomic output as a clip, and is cached
under a key made of its pieces' identities and options. Like a clip, a reel that overshoots its
size limit is made again at a lower resolution and bitrate; its size is checked after every
attempt, and only a reel within the limit is moved to the output path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from detector.records import AbortCheck, ProgressCallback
from detector.render.cache import RenderCache
from detector.render.captions import filter_path, title_ass
from detector.render.clip import ATTEMPTS, RenderedClip
from detector.render.encode import SIZE_MARGIN, audio_args, global_args, target_video_kbps, upload_filter, video_args
from detector.render.errors import RenderError
from detector.render.frames import even
from detector.render.plan import RENDER_VERSION, SourceRef
from detector.render.runner import discard, run_to_file, temp_path_for
from detector.scratch import scratch_dir
from detector.sources.media import probe

log = logging.getLogger(__name__)

CARD_COLOUR = "0x101418"


@dataclass(frozen=True, slots=True)
class ReelItem:
    path: Path
    title: str = ""
    """Shown on a title card before the clip when the reel has cards."""


@dataclass(frozen=True, slots=True)
class ReelOptions:
    width: int
    height: int
    fps: float
    encoder: str = "libx264"
    transition_s: float = 0.5
    """Cross-fade between pieces, seconds."""
    title_s: float = 0.0
    """Title card length, seconds; 0: no cards."""
    size_limit_bytes: int | None = None
    preset: str | None = None
    audio_kbps: int = 128


def reel_key(items: Sequence[ReelItem], opts: ReelOptions) -> str:
    """Cache key of a reel: its pieces' identities (path, size, mtime) and titles, and its options."""
    parts = [{**dataclasses.asdict(SourceRef.of(i.path)), "title": i.title} for i in items]
    doc = {"version": RENDER_VERSION, "reel": parts, "opts": dataclasses.asdict(opts)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _normalise(opts: ReelOptions) -> str:
    w, h = opts.width, opts.height
    return (f"fps={opts.fps:g},scale={w}:{h}:force_original_aspect_ratio=decrease,"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p,settb=AVTB")


_AUDIO = "aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo"


def reel_args(items: Sequence[ReelItem], durations: Sequence[float], has_audio: Sequence[bool],
              opts: ReelOptions, tmp: str, *, margin: float = SIZE_MARGIN) -> tuple[list[str], float]:
    """The ffmpeg arguments of the reel and its total duration; ``margin``: share of the size limit aimed at."""
    args: list[str] = [*global_args(opts.encoder)]
    graph: list[str] = []
    pieces: list[tuple[str, str, float]] = []
    n_in = 0
    for k, (item, dur, audio) in enumerate(zip(items, durations, has_audio)):
        if opts.title_s > 0:
            ass = os.path.join(tmp, f"title-{k}.ass")
            Path(ass).write_text(title_ass(item.title or f"#{k + 1}", opts.width, opts.height, opts.title_s),
                                 encoding="utf-8")
            args += ["-f", "lavfi", "-i", f"color=c={CARD_COLOUR}:s={opts.width}x{opts.height}:r={opts.fps:g}:"
                                          f"d={opts.title_s:.3f}"]
            graph.append(f"[{n_in}:v]ass=filename={filter_path(ass)},{_normalise(opts)}[cv{k}]")
            graph.append(f"anullsrc=r=48000:cl=stereo,atrim=duration={opts.title_s:.3f},{_AUDIO}[ca{k}]")
            pieces.append((f"[cv{k}]", f"[ca{k}]", opts.title_s))
            n_in += 1
        args += ["-i", str(item.path)]
        graph.append(f"[{n_in}:v]{_normalise(opts)}[pv{k}]")
        if audio:
            graph.append(f"[{n_in}:a:0]{_AUDIO}[pa{k}]")
        else:
            graph.append(f"anullsrc=r=48000:cl=stereo,atrim=duration={dur:.3f},{_AUDIO}[pa{k}]")
        pieces.append((f"[pv{k}]", f"[pa{k}]", dur))
        n_in += 1
    t = min(opts.transition_s, min(p[2] for p in pieces) / 3)
    v, a, total = pieces[0]
    for i, (pv, pa, dur) in enumerate(pieces[1:], start=1):
        if t > 0.01:
            graph.append(f"{v}{pv}xfade=transition=fade:duration={t:.3f}:offset={total - t:.3f}[xv{i}]")
            graph.append(f"{a}{pa}acrossfade=d={t:.3f}[xa{i}]")
            total += dur - t
        else:
            graph.append(f"{v}{a}{pv}{pa}concat=n=2:v=1:a=1[xv{i}][xa{i}]")
            total += dur
        v, a = f"[xv{i}]", f"[xa{i}]"
    up = upload_filter(opts.encoder)
    graph.append(f"{v}{up or 'null'}[v]")
    kbps = target_video_kbps(opts.size_limit_bytes, total, opts.audio_kbps, margin) if opts.size_limit_bytes else None
    args += ["-filter_complex", ";".join(graph), "-map", "[v]", "-map", a,
             *video_args(opts.encoder, kbps=kbps, fps=opts.fps, preset=opts.preset), *audio_args(opts.audio_kbps),
             "-movflags", "+faststart"]
    return args, total


def render_reel(items: Sequence[ReelItem], out: str | os.PathLike[str], opts: ReelOptions, *,
                cache: RenderCache | None = None, progress: ProgressCallback | None = None,
                abort: AbortCheck | None = None,
                attempts: Sequence[tuple[float, float]] = ATTEMPTS) -> RenderedClip:
    """Join ``items`` into one reel at ``out``; see the module docstring.

    ``attempts`` is the size schedule, ``(output scale, share of the limit aimed at)`` per try, as
    for clips; without a size limit only the first is made.
    """
    began = time.monotonic()
    out = Path(out)
    if not items:
        raise RenderError("A reel needs at least one rendered clip.")
    key = reel_key(items, opts)
    if cache is not None and cache.fetch(key, out) is not None:
        return RenderedClip(out, key, "cache", probe(out).duration_s, out.stat().st_size)
    infos = [probe(i.path) for i in items]
    limit = opts.size_limit_bytes
    scratch = temp_path_for(out)
    size, total, attempt, scale = 0, 0.0, 0, 1.0
    try:
        with scratch_dir("reel") as tmp:
            for attempt, (scale, margin) in enumerate(attempts, start=1):
                sized = opts if scale >= 1.0 else replace(opts, width=even(opts.width * scale),
                                                          height=even(opts.height * scale))
                args, total = reel_args(items, [i.duration_s for i in infos], [i.has_audio for i in infos], sized,
                                        tmp, margin=margin)
                run_to_file(args, scratch, total_s=total, stage="reel", progress=progress, abort=abort,
                            timeout_s=max(600.0, 30.0 * total), what=f"rendering the reel {out.name}")
                size = scratch.stat().st_size
                if not limit or size <= limit:
                    break
                log.info("reel %s came out at %d bytes, over its %d byte limit (attempt %d at scale %.2f)",
                         out.name, size, limit, attempt, scale)
            else:
                raise RenderError(
                    f"The reel {out.name} stays over its size limit ({size / 1048576:.2f} MiB > "
                    f"{(limit or 0) / 1048576:.2f} MiB) even at a lower resolution.",
                    hint="Raise the reel's size limit, or put fewer or shorter clips in it.")
        os.replace(scratch, out)
    finally:
        discard(scratch)
    if cache is not None:
        cache.put(key, out)
    return RenderedClip(out, key, "encode", total, size, attempt, scale, time.monotonic() - began)

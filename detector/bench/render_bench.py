"""Render benchmark: clip rendering speed and size on a synthetic 1080p60 source.

Generates (or reuses) a synthetic source (:mod:`detector.synthetic.render_source`) with keyframes on
every whole second, then renders N clips of S seconds each three ways: re-encoded with the CPU
encoder (libx264, size-targeted bitrate), with the video stream-copied (cuts on keyframes), and
smart-cut (cuts half a second off the keyframes: the two edge GOPs re-encoded, the rest copied,
the result checked). Copy and smart cut run without a size limit (they cannot aim at one; a
render with a limit uses them only when the copied bitrate fits it), so their size column shows
what the copied bitrate makes. All three normalise loudness to -14 LUFS with fades, so the audio
work is the same and the difference is the video path. Beside them, the floor: ffmpeg alone encoding
the same section with the same libx264 settings (no loudness pass, no fades, no checks). Each clip is
a round (:mod:`detector.bench.rounds`): the floor and the three modes run one after the other, the
order alternating clip by clip. Reports per clip and on average: wall time, realtime factor (clip
seconds per wall second) and output size against the size target; and each mode's ratio to the floor
of the same clip, median (min–max). Nothing is cached: every clip is made anew.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from detector.bench.rounds import ratio_spread, run_rounds
from detector.ffmpeg import run_ffmpeg
from detector.render.clip import render_clip
from detector.render.encode import video_args
from detector.render.plan import MIB, ClipPlan, SourceRef
from detector.sources.media import probe
from detector.synthetic.render_source import RenderSource, make_render_source

log = logging.getLogger(__name__)

MODES = ("libx264", "copy", "smartcut")
FLOOR = "floor"
"""ffmpeg alone: the same section encoded with the same libx264 settings and nothing else."""
FLOOR_TIMEOUT_S = 600.0
SMART_OFFSET_S = 0.5
"""The smart-cut clips start and end this far after a keyframe (the source has one every second)."""


@dataclass(frozen=True, slots=True)
class BenchRow:
    clip: int
    start_s: float
    mode: str
    """``libx264``, ``copy`` or ``smartcut``: what was asked; ``made`` says what happened."""
    made: str
    seconds: float
    clip_s: float
    size_bytes: int
    target_bytes: int

    @property
    def realtime(self) -> float:
        return self.clip_s / self.seconds if self.seconds > 0 else float("inf")


def bench_source(folder: Path, *, height: int, fps: int, seconds: float,
                 say: Callable[[str], None]) -> RenderSource:
    width = height * 16 // 9 // 2 * 2
    name = f"bench_{width}x{height}p{fps}_{seconds:g}s"
    path = folder / f"{name}.mp4"
    if path.exists():
        info = probe(path)
        if abs(info.duration_s - seconds) < 0.5:
            say(f"reusing {path}")
            return RenderSource(path, width, height, fps, seconds, (), None, None)
    say(f"generating a {seconds:g} s {width}x{height} {fps} fps source at {path} …")
    return make_render_source(folder, width=width, height=height, fps=fps, seconds=seconds,
                              cuts=tuple(float(t) for t in range(10, int(seconds), 20)), name=name)


def floor_clip(src: Path, start_s: float, clip_s: float, kbps: int, fps: float | None, preset: str | None,
               out: Path) -> tuple[float, int]:
    """Seconds and bytes of ffmpeg alone encoding ``[start_s, start_s + clip_s)`` of ``src``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    run_ffmpeg(["-loglevel", "error", "-y", "-ss", f"{start_s:.3f}", "-i", str(src), "-t", f"{clip_s:.3f}",
                "-map", "0:v:0", "-map", "0:a:0?", *video_args("libx264", kbps=kbps, fps=fps, preset=preset),
                "-c:a", "aac", "-b:a", "128k", "-f", "mp4", str(out)], timeout_s=FLOOR_TIMEOUT_S,
               what="the render floor (ffmpeg alone)")
    seconds = time.perf_counter() - t0
    size = out.stat().st_size
    out.unlink()
    return seconds, size


def run_render_bench(*, clips: int = 10, clip_s: float = 30.0, height: int = 1080, fps: int = 60,
                     size_limit_bytes: int = 10 * MIB, preset: str | None = None, keep: Path | None = None,
                     say: Callable[[str], None] = lambda _m: None) -> list[BenchRow]:
    """Render ``clips`` clips three ways and return one row per clip and mode."""
    step = max(1, int(clip_s * 0.3))
    seconds = float(step * (clips - 1) + clip_s + 2 + SMART_OFFSET_S)
    with tempfile.TemporaryDirectory(prefix="highlights-bench-render-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        src = bench_source(folder, height=height, fps=fps, seconds=seconds, say=say)
        ref = SourceRef.of(src.path)
        out = Path(tmp) / "out"
        kbps = max(int(size_limit_bytes * 8 * 0.9 / clip_s / 1000), 100)

        def one(mode: str, i: int) -> BenchRow:
            start = float(i * step)
            if mode == FLOOR:
                seconds, size = floor_clip(src.path, start, clip_s, kbps, float(src.fps), preset, out / f"floor-{i:02d}.mp4")
                say(f"clip {i + 1}/{clips} {mode}: {seconds:.2f} s, {size / MIB:.2f} MiB")
                return BenchRow(i + 1, start, mode, mode, seconds, clip_s, size, size_limit_bytes)
            copy = mode != "libx264"
            at = start + (SMART_OFFSET_S if mode == "smartcut" else 0.0)
            plan = ClipPlan(source=ref, start_s=at, end_s=at + clip_s, width=src.width, height=src.height,
                            encoder="libx264", preset=preset, size_limit_bytes=None if copy else size_limit_bytes,
                            allow_copy=copy)
            r = render_clip(plan, out / f"{mode}-{i:02d}.mp4")
            say(f"clip {i + 1}/{clips} {mode}: {r.seconds:.2f} s, {r.size_bytes / MIB:.2f} MiB ({r.mode})")
            r.path.unlink()
            return BenchRow(i + 1, at, mode, r.mode, r.seconds, clip_s, r.size_bytes, size_limit_bytes)

        done = run_rounds([FLOOR, *MODES], clips, one)
    return sorted((row for rows in done.values() for row in rows), key=lambda r: (r.clip, r.mode))


def format_rows(rows: list[BenchRow], *, title: str = "") -> str:
    """Side by side per clip: libx264, stream copy and smart cut time, realtime factor and size vs target."""
    by = {(r.clip, r.mode): r for r in rows}
    modes = [m for m in (FLOOR, *MODES) if any(r.mode == m for r in rows)]
    short = {FLOOR: "floor", "libx264": "x264", "copy": "copy", "smartcut": "smart"}
    n = max(r.clip for r in rows)
    target = rows[0].target_bytes / MIB
    cell = "{:>7.2f} {:>8.2f} {:>8.2f}"
    head = " | ".join([f"{'clip':>4}", *(f"{short[m] + ' s':>7} {short[m] + ' ×rt':>8} {short[m] + ' MiB':>8}"
                                         for m in modes), f"{'target MiB':>10}"])
    lines = [title, head, "-" * len(head)] if title else [head, "-" * len(head)]
    for i in range(1, n + 1):
        cells = [cell.format(r.seconds, r.realtime, r.size_bytes / MIB) for r in (by[(i, m)] for m in modes)]
        lines.append(" | ".join([f"{i:>4}", *cells, f"{target:>10.2f}"]))

    def mean(mode: str, f: Callable[[BenchRow], float]) -> float:
        vals = [f(r) for r in rows if r.mode == mode]
        return sum(vals) / len(vals)

    lines.append("-" * len(head))
    means = [cell.format(mean(m, lambda r: r.seconds), mean(m, lambda r: r.realtime),
                         mean(m, lambda r: r.size_bytes) / MIB) for m in modes]
    lines.append(" | ".join([f"{'mean':>4}", *means, f"{target:>10.2f}"]))
    over = [r for r in rows if r.mode == "libx264" and r.size_bytes > r.target_bytes]
    not_copied = [r for r in rows if r.mode == "copy" and r.made != "copy"]
    not_smart = [r for r in rows if r.mode == "smartcut" and r.made != "smartcut"]
    lines.append(f"libx264 outputs over target: {len(over)}; copy requests that had to re-encode: {len(not_copied)}; "
                 f"smart cuts that fell back to a re-encode: {len(not_smart)}")
    floors = [by[(i, FLOOR)].seconds for i in range(1, n + 1) if (i, FLOOR) in by]
    if len(floors) == n:
        ratios = []
        for mode in MODES:
            spread = ratio_spread([by[(i, mode)].seconds for i in range(1, n + 1)], floors) \
                if all((i, mode) in by for i in range(1, n + 1)) else None
            if spread is not None:
                ratios.append(f"{short[mode]} {spread.text('.2f', 'x')}")
        lines.append("x floor (ffmpeg alone encoding the same clip with the same libx264 settings), per clip, "
                     "median (min–max): " + ", ".join(ratios))
    return "\n".join(lines)

"""Render benchmark: clip rendering speed and size on a synthetic 1080p60 source.

Generates (or reuses) a synthetic source (:mod:`detector.synthetic.render_source`) with keyframes on
every whole second, then renders N clips of S seconds each three ways: re-encoded with the CPU
encoder (libx264, size-targeted bitrate), with the video stream-copied (cuts on keyframes), and
smart-cut (cuts half a second off the keyframes: the two edge GOPs re-encoded, the rest copied,
the result checked). Copy and smart cut run without a size limit (they cannot aim at one; a
render with a limit uses them only when the copied bitrate fits it), so their size column shows
what the copied bitrate makes. All three normalise loudness to -14 LUFS with fades, so the audio
work is the same and the difference is the video path. Reports per clip and on average: wall
time, realtime factor (clip seconds per wall second) and output size against the size target.
Nothing is cached: every clip is made anew.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from detector.render.clip import render_clip
from detector.render.plan import MIB, ClipPlan, SourceRef
from detector.sources.media import probe
from detector.synthetic.render_source import RenderSource, make_render_source

log = logging.getLogger(__name__)

MODES = ("libx264", "copy", "smartcut")
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
        rows = []
        for i in range(clips):
            start = float(i * step)
            for mode in MODES:
                copy = mode != "libx264"
                at = start + (SMART_OFFSET_S if mode == "smartcut" else 0.0)
                plan = ClipPlan(source=ref, start_s=at, end_s=at + clip_s, width=src.width, height=src.height,
                                encoder="libx264", preset=preset, size_limit_bytes=None if copy else size_limit_bytes,
                                allow_copy=copy)
                r = render_clip(plan, out / f"{mode}-{i:02d}.mp4")
                rows.append(BenchRow(i + 1, at, mode, r.mode, r.seconds, clip_s, r.size_bytes, size_limit_bytes))
                say(f"clip {i + 1}/{clips} {mode}: {r.seconds:.2f} s, {r.size_bytes / MIB:.2f} MiB ({r.mode})")
                r.path.unlink()
    return rows


def format_rows(rows: list[BenchRow], *, title: str = "") -> str:
    """Side by side per clip: libx264, stream copy and smart cut time, realtime factor and size vs target."""
    by = {(r.clip, r.mode): r for r in rows}
    modes = [m for m in MODES if any(r.mode == m for r in rows)]
    short = {"libx264": "x264", "copy": "copy", "smartcut": "smart"}
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
    return "\n".join(lines)

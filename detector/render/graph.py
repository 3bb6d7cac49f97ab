"""Render stage, filter graphs: a ``ClipPlan``'s layout as an ffmpeg ``-filter_complex``.

Consumes a plan, the source size, an output scale (1.0, or less for a second, smaller attempt)
and an optional ASS captions file; produces the video graph from ``[0:v]`` to ``[v]``: crops,
scaling, the split layout's two panels stacked, a face crop that moves along a smoothed path
(a piecewise-linear expression of ``t``), burned-in captions and the encoder's pixel format.
"""

from __future__ import annotations

from collections.abc import Sequence

from detector.render.captions import filter_path
from detector.render.frames import even
from detector.render.plan import Box, ClipPlan


def scaled_size(plan: ClipPlan, scale: float) -> tuple[int, int]:
    return (plan.width, plan.height) if scale >= 1.0 else (even(plan.width * scale), even(plan.height * scale))


def crop_x_expr(path: Sequence[tuple[float, int]]) -> str:
    """``x(t)`` through the keyframes: the first x plus one clipped linear ramp per segment.

    A flat sum (no nested ``if``) keeps the expression short and ffmpeg's parser shallow.
    """
    (_t0, x0), terms = path[0], []
    for (ta, xa), (tb, xb) in zip(path, path[1:]):
        if xb != xa and tb > ta:
            terms.append(f"{xb - xa}*clip((t-{ta:g})/{tb - ta:g},0,1)")
    return "+".join([str(x0), *terms])


def _crop(box: Box, x_expr: str | None = None) -> str:
    x = f"'{x_expr}'" if x_expr else str(box.x)
    return f"crop=w={box.w}:h={box.h}:x={x}:y={box.y}"


def video_graph(plan: ClipPlan, src_w: int, src_h: int, *, scale: float = 1.0, ass_file: str | None = None,
                upload: str | None = None) -> str:
    """The ``-filter_complex`` text for the plan's video, ending in ``[v]``."""
    w, h = scaled_size(plan, scale)
    tail = []
    if plan.fps:
        tail.append(f"fps={plan.fps:g}")
    if ass_file:
        tail.append(f"ass=filename={filter_path(ass_file)}")
    tail.append(upload or "format=yuv420p")
    finish = ",".join(tail)
    fit = f"scale={w}:{{h}}:flags=lanczos,setsar=1"
    if plan.layout == "split" and plan.facecam and plan.crop:
        top = even(plan.top_height * h / plan.height)
        return (f"[0:v]split=2[cam][game];"
                f"[cam]{_crop(plan.facecam)},{fit.format(h=top)}[top];"
                f"[game]{_crop(plan.crop)},{fit.format(h=h - top)}[bottom];"
                f"[top][bottom]vstack=inputs=2,{finish}[v]")
    if plan.layout in ("face", "center") and plan.crop:
        expr = crop_x_expr(plan.crop_path) if len(plan.crop_path) >= 2 else None
        return f"[0:v]{_crop(plan.crop, expr)},{fit.format(h=h)},{finish}[v]"
    if (w, h) != (src_w, src_h):
        return f"[0:v]{fit.format(h=h)},{finish}[v]"
    return f"[0:v]setsar=1,{finish}[v]"

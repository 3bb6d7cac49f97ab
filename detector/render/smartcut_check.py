"""Render stage, smart-cut checks: is a joined clip exactly the planned frames, and clean?

Consumes a smart-cut output, its plan and the ``CutGeometry`` it was made from; raises
``SmartCutFailed`` naming the first check that fails:

- timestamps: one packet per planned frame, decode timestamps strictly increasing, no frame
  shown before it is decoded, presentation times on one even grid (no gap or overlap at a join);
- decoding: the whole video decodes with ``-v error`` printing nothing, into the planned number of
  frames (a broken reference at a join shows up here);
- picture: the first and the last frame match the source's frames at the cut points (PSNR on a
  small grey copy), so the cuts are where the plan put them.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np

from detector.errors import MediaError
from detector.ffmpeg import run_ffmpeg
from detector.render.bitstream import StreamParams, packet_list, seek_arg
from detector.render.errors import SmartCutFailed
from detector.render.plan import ClipPlan
from detector.render.smartcut_geometry import CutGeometry

log = logging.getLogger(__name__)

MIN_PSNR_DB = 30.0
"""A cut frame must match the source's frame at least this well (grey, small); a neighbouring frame
of moving content scores well below it, a faithful re-encode well above."""
CHECK_WIDTH = 320
_FRAME = re.compile(r"^frame=(\d+)", re.MULTILINE)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two ``uint8`` pictures, dB (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def grey_frame(path: str | Path, seek: list[str], size: tuple[int, int]) -> np.ndarray:
    """The first frame at or after ``seek`` (ffmpeg input options), small and grey."""
    w, h = size
    proc = run_ffmpeg([*seek, "-i", str(path), "-map", "0:v:0", "-frames:v", "1", "-vf",
                       f"scale={w}:{h}:flags=area,format=gray", "-f", "rawvideo", "-"], timeout_s=120.0,
                      what=f"reading a frame of {path}")
    if len(proc.stdout) < w * h:
        raise SmartCutFailed(f"no frame found in {Path(path).name} at {' '.join(seek) or 'the start'}")
    return np.frombuffer(proc.stdout[: w * h], np.uint8).reshape(h, w)


def check_timestamps(out: Path, geo: CutGeometry) -> None:
    tb, packets = packet_list(out)
    if tb != geo.params.tb:
        raise SmartCutFailed(f"the output's time base is 1/{tb} s, not the source's 1/{geo.params.tb} s")
    if len(packets) != geo.total_frames:
        raise SmartCutFailed(f"the output holds {len(packets)} video packets, not {geo.total_frames}")
    if any(b.dts <= a.dts for a, b in zip(packets, packets[1:])):
        raise SmartCutFailed("decode timestamps are not strictly increasing")
    if any(pk.pts < pk.dts for pk in packets):
        raise SmartCutFailed("a frame is shown before it is decoded (pts < dts)")
    pts = sorted(pk.pts for pk in packets)
    base = pts[0]
    worst = max(abs(t - (base + i * geo.step)) for i, t in enumerate(pts))
    if worst > 1:
        raise SmartCutFailed(f"presentation times leave the frame grid by {worst} ticks (a gap or overlap at a join)")


def check_decodes(out: Path, geo: CutGeometry) -> None:
    try:
        proc = run_ffmpeg(["-v", "error", "-nostats", "-i", str(out), "-map", "0:v:0", "-f", "null", "-",
                           "-progress", "pipe:1"], timeout_s=max(120.0, geo.seconds(geo.total_frames) * 10),
                          what=f"decoding {out.name}")
    except MediaError as exc:
        raise SmartCutFailed(f"the output does not decode: {exc}") from None
    errors = proc.stderr.decode("utf-8", "replace").strip()
    if errors:
        raise SmartCutFailed(f"decoding printed errors: {errors.splitlines()[0]}")
    counts = _FRAME.findall(proc.stdout.decode("ascii", "replace"))
    decoded = int(counts[-1]) if counts else 0
    if decoded != geo.total_frames:
        raise SmartCutFailed(f"{decoded} frames decode, not the planned {geo.total_frames}")


def check_cut_frames(out: Path, plan: ClipPlan, geo: CutGeometry) -> None:
    p: StreamParams = geo.params
    w = min(CHECK_WIDTH, p.width) // 2 * 2
    size = (w, max(2, round(w * p.height / p.width / 2) * 2))
    src = plan.source.path
    last_out = (geo.total_frames - 1.5) * geo.step / p.tb
    pairs = (
        ("first", grey_frame(out, [], size), grey_frame(src, seek_arg(geo.first_ticks - geo.step // 2, p), size)),
        ("last", grey_frame(out, ["-ss", f"{max(0.0, last_out):.6f}"], size),
         grey_frame(src, seek_arg(geo.last_ticks - geo.step // 2, p), size)),
    )
    for name, got, want in pairs:
        score = psnr(got, want)
        if score < MIN_PSNR_DB:
            raise SmartCutFailed(f"the {name} frame differs from the source's ({score:.1f} dB PSNR)")
        log.debug("smart cut %s frame: %.1f dB PSNR against the source", name, score)


def verify_smart_cut(out: Path, plan: ClipPlan, geo: CutGeometry) -> None:
    """Raise ``SmartCutFailed`` unless ``out`` passes every check (see the module docstring)."""
    check_timestamps(out, geo)
    check_decodes(out, geo)
    check_cut_frames(out, plan, geo)

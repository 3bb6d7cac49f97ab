"""Render stage, audio: loudness normalisation to a target (EBU R128) and short fades.

Consumes the source and the clip span; produces the audio filter chain of a render. Loudness is
normalised in two passes: :func:`measure_loudness` runs ffmpeg's ``loudnorm`` over the clip's
audio only (fast: no video is decoded) and the render applies ``loudnorm`` in linear mode with
those measurements, so the whole clip gets one gain (no pumping) and lands on the target
(−14 LUFS by default, what the big platforms normalise to) with the true peak under −1.5 dBTP.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass

from detector.ffmpeg import run_ffmpeg

log = logging.getLogger(__name__)

TRUE_PEAK_DB = -1.5
LRA = 11.0
SILENT_LUFS = -60.0
"""Quieter than this is silence: it is left alone rather than amplified into noise."""
SAMPLE_RATE = 48000
_JSON_BLOCK = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Loudness:
    """``loudnorm``'s first-pass measurements of a clip's audio."""

    input_i: float
    input_tp: float
    input_lra: float
    input_thresh: float
    target_offset: float


def measure_loudness(path: str | os.PathLike[str], start_s: float, duration_s: float,
                     target_lufs: float) -> Loudness | None:
    """Measure the clip's loudness; None when it is silent or cannot be measured."""
    args = ["-ss", f"{start_s:.3f}", "-t", f"{duration_s:.3f}", "-i", str(path), "-map", "0:a:0", "-vn", "-sn",
            "-af", f"loudnorm=I={target_lufs:g}:TP={TRUE_PEAK_DB:g}:LRA={LRA:g}:print_format=json",
            "-f", "null", "-"]
    proc = run_ffmpeg(args, timeout_s=max(120.0, duration_s), what=f"measuring the loudness of {path}")
    found = _JSON_BLOCK.findall(proc.stderr.decode("utf-8", "replace"))
    if not found:
        log.warning("loudnorm printed no measurements for %s; leaving the level alone", path)
        return None
    doc = json.loads(found[-1])
    try:
        values = Loudness(*(float(doc[k]) for k in ("input_i", "input_tp", "input_lra", "input_thresh",
                                                    "target_offset")))
    except (KeyError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (values.input_i, values.input_tp, values.input_lra, values.input_thresh)) \
            or values.input_i < SILENT_LUFS:
        log.info("clip audio of %s is silent (%.1f LUFS); not normalising it", path, values.input_i)
        return None
    return values


def loudnorm_filter(target_lufs: float, m: Loudness) -> str:
    return (f"loudnorm=I={target_lufs:g}:TP={TRUE_PEAK_DB:g}:LRA={LRA:g}:measured_I={m.input_i:.2f}:"
            f"measured_TP={m.input_tp:.2f}:measured_LRA={m.input_lra:.2f}:measured_thresh={m.input_thresh:.2f}:"
            f"offset={m.target_offset:.2f}:linear=true")


def audio_chain(*, duration_s: float, target_lufs: float | None, measured: Loudness | None,
                fade_s: float) -> str:
    """The filters from the source's audio to the output's (48 kHz stereo), comma-joined."""
    parts = [f"aresample={SAMPLE_RATE}"]
    if target_lufs is not None and measured is not None:
        parts += [loudnorm_filter(target_lufs, measured), f"aresample={SAMPLE_RATE}"]
    fade = min(fade_s, duration_s / 4)
    if fade > 0:
        parts += [f"afade=t=in:st=0:d={fade:.3f}", f"afade=t=out:st={max(0.0, duration_s - fade):.3f}:d={fade:.3f}"]
    parts.append("aformat=sample_fmts=fltp:channel_layouts=stereo")
    return ",".join(parts)


def measure_integrated(path: str | os.PathLike[str]) -> float:
    """Integrated loudness (LUFS) of a whole file's audio, by the ``ebur128`` filter (checks, tests)."""
    proc = run_ffmpeg(["-i", str(path), "-map", "0:a:0", "-af", "ebur128", "-f", "null", "-"],
                      timeout_s=300.0, what=f"measuring the loudness of {path}")
    text = proc.stderr.decode("utf-8", "replace")
    found = re.findall(r"I:\s+(-?\d+(?:\.\d+)?) LUFS", text)
    return float(found[-1]) if found else float("nan")

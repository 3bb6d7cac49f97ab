"""Benchmark report: the ``highlights bench`` table and its JSON form.

Consumes a :class:`~detector.bench.runner.BenchReport`; produces the printed table (per stage:
median wall time over the rounds, realtime factor, median ratio to the ffmpeg floor of the same
round with its spread (min–max), peak RSS with ffmpeg's share, and with ``--profile`` device time
over wall time), the kernel timing beside the seed's figures, the targets beside the results, the
recall of planted events, the chat lag and the machine's load; and a JSON-ready dict with the same
numbers (every round's wall time too).
"""

from __future__ import annotations

import math
import os
from typing import Any

from detector.bench.accuracy import lag_error
from detector.bench.rounds import Spread
from detector.bench.runner import BenchReport, StageResult

TARGET_DETECT_X_FLOOR = 1.5
"""audio+chat end to end for 1 h, in multiples of the ffmpeg decode floor."""
AIM_DETECT_X_FLOOR = 1.15
TARGET_RSS_4H_MB = 500.0
"""peak RSS (Python + ffmpeg) for a 4 h VOD."""
TARGET_KERNEL_MS_PER_HOUR = 15.0
SEED_KERNEL_MS = {"CPU": 197.81, "GPU": 16.73}
"""The seed's RMS + z + peaks timing per hour of audio."""


def _num(value: float | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, fmt)


def _ratio(value: float | None) -> str:
    """Two decimals, four for small ratios (so fast stages do not print as 0.00)."""
    if value is None or not math.isfinite(value):
        return "-"
    return format(value, ".2f" if value >= 0.1 else ".4f")


def _efficiency(stage: StageResult) -> str:
    if stage.profile is None:
        return "-"
    return f"{100.0 * float(stage.profile['efficiency']):.1f} %"


def _spread(spread: Spread | None) -> str:
    if spread is None or spread.n < 2:
        return "-"
    fmt = ".2f" if spread.low >= 0.1 else ".4f"
    return f"{format(spread.low, fmt)}–{format(spread.high, fmt)}"


def _load(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def format_table(report: BenchReport) -> str:
    vod, opts = report.vod, report.options
    profile = any(s.profile is not None for s in [*report.stages, report.kernel])
    rounds = len(report.stage("floor").walls)
    lines = [
        (f"highlights bench: {opts.minutes:g}-min synthetic VOD ({vod.media_path.name if vod.media_path else '-'}, "
         f"AAC 48 kHz stereo), {len(vod.events)} planted events, {report.chat['messages']} chat messages "
         f"({report.chat['format']}); device {report.device}; {os.cpu_count()} CPUs; "
         f"load {_load(report.load[0])} before, {_load(report.load[1])} after"),
        (f"{rounds} round{'s' if rounds != 1 else ''}: the floor and every stage once per round, interleaved; "
         "wall = median; x floor = median of each round's stage/floor ratio, spread = min–max"),
        "",
    ]
    head = (f"{'stage':<32} {'wall s':>8} {'x realtime':>10} {'x floor':>8} {'spread':>11} {'peak RSS MB':>11} "
            f"{'ffmpeg MB':>9}")
    if profile:
        head += f" {'device/wall':>11}"
    lines += [head, "-" * len(head)]
    for s in report.stages:
        spread = report.floor_spread(s.name)
        row = (f"{s.label:<32} {s.wall_s:>8.3f} {_num(s.realtime, '.1f'):>10} "
               f"{_ratio(spread.median if spread else None):>8} {_spread(spread):>11} {s.total_rss_mb:>11.1f} "
               f"{_num(s.ffmpeg_rss_mb or None, '.1f'):>9}")
        if profile:
            row += f" {_efficiency(s):>11}"
        lines.append(row)
    lines.append("(peak RSS = the stage's Python process + its ffmpeg child, each its own peak, the largest over "
                 "the rounds; each stage ran in a fresh process every round)")
    lines += ["", *_kernel_lines(report, profile), "", *_target_lines(report), "", *_accuracy_lines(report)]
    if profile:
        kind = next((s.profile["device_kind"] for s in [*report.stages, report.kernel] if s.profile), "?")
        what = "self time of CUDA kernels and copies" if kind == "cuda" else "self CPU time of torch operators"
        lines.append(f"device/wall: torch.profiler {what} / wall time of a second, profiled run of the stage")
    return "\n".join(lines)


def _kernel_lines(report: BenchReport, profile: bool) -> list[str]:
    k = report.kernel.facts
    runs = k.get("runs_ms") or []
    audio_min = float(k.get("audio_s") or 0.0) / 60.0
    spread = f"{min(runs):.1f}-{max(runs):.1f} ms" if runs else "-"
    eff = f", device/wall {_efficiency(report.kernel)}" if profile else ""
    per_hour = k.get("ms_per_hour")
    first = (f"kernel RMS + z + peaks: {_num(per_hour, '.2f')} ms per hour of audio "
             f"(median of {len(runs)} runs on {audio_min:g} min decoded in memory, {spread} per run; "
             f"peak RSS {report.kernel.total_rss_mb:.0f} MB{eff})")
    second = (f"  target <= {TARGET_KERNEL_MS_PER_HOUR:g} ms per hour: "
              f"{_met((per_hour or math.inf) <= TARGET_KERNEL_MS_PER_HOUR)}; "
              f"seed: {SEED_KERNEL_MS['CPU']} ms CPU / {SEED_KERNEL_MS['GPU']} ms GPU")
    return [first, second]


def _target_lines(report: BenchReport) -> list[str]:
    detect = report.stage("detect")
    spread = report.floor_spread("detect")
    ratio = spread.median if spread else math.inf
    shown = spread.text(".2f", "x") if spread else "-"
    speed = (f"target: audio+chat end to end within {TARGET_DETECT_X_FLOOR:g}x the floor for 1 h: "
             f"{shown} on {report.options.minutes:g} min -> {_met(ratio <= TARGET_DETECT_X_FLOOR)} "
             f"(design aim <= {AIM_DETECT_X_FLOOR:g}x: {_met(ratio <= AIM_DETECT_X_FLOOR)})")
    memory = (f"target: peak RSS < {TARGET_RSS_4H_MB:g} MB for a 4 h VOD: detect {detect.total_rss_mb:.0f} MB "
              f"(Python {detect.rss_mb:.0f} + ffmpeg {detect.ffmpeg_rss_mb:.0f}) on {report.options.minutes:g} "
              f"min -> {_met(detect.total_rss_mb < TARGET_RSS_4H_MB)}")
    return [speed, memory]


def _accuracy_lines(report: BenchReport) -> list[str]:
    r, chat = report.recall, report.chat
    err = lag_error(chat["lag_estimated_s"], chat["lag_planted_s"])
    if chat["lag_estimated_s"] is None:
        lag = f"chat lag: not estimated (planted {chat['lag_planted_s']:g} s)"
    else:
        corr = chat.get("lag_correlation")
        corr_text = f", corr {corr:.2f}" if isinstance(corr, (int, float)) else ""
        lag = (f"chat lag: estimated {chat['lag_estimated_s']:.1f} s ({chat['lag_source']}{corr_text}) "
               f"vs planted {chat['lag_planted_s']:g} s (off by {err:+.1f} s)")
    recall = (f"recall: {r.found}/{r.total} planted events inside a detected candidate (+-{r.tolerance_s:g} s) "
              f"with top_k {r.top_k} -> {r.fraction:.2f}")
    return [recall, lag]


def _stage_dict(s: StageResult, spread: Spread | None) -> dict[str, Any]:
    return {
        "stage": s.name, "label": s.label, "wall_s": round(s.wall_s, 4), "media_s": round(s.media_s, 3),
        "walls_s": [round(w, 4) for w in s.walls],
        "realtime": round(s.realtime, 3) if math.isfinite(s.realtime) else None,
        "x_floor": round(spread.median, 4) if spread else None,
        "x_floor_spread": spread.as_dict() if spread else None,
        "peak_rss_mb": round(s.total_rss_mb, 2), "python_rss_mb": round(s.rss_mb, 2),
        "ffmpeg_rss_mb": round(s.ffmpeg_rss_mb, 2), "base_rss_mb": round(s.base_rss_mb, 2),
        "profile": s.profile,
        "facts": {k: v for k, v in s.facts.items() if k != "candidates"},
    }


def to_json(report: BenchReport) -> dict[str, Any]:
    vod = report.vod
    detect = report.floor_spread("detect")
    return {
        "minutes": report.options.minutes, "device": report.device, "cpus": os.cpu_count(),
        "rounds": len(report.stage("floor").walls), "load_1m": {"before": report.load[0], "after": report.load[1]},
        "vod": {"media": str(vod.media_path), "chat": str(vod.chat_path), "duration_s": vod.duration_s,
                "events": list(vod.events), "chat_lag_s": vod.chat_lag_s},
        "stages": [_stage_dict(s, report.floor_spread(s.name)) for s in report.stages],
        "kernel": {**_stage_dict(report.kernel, None), "seed_ms_per_hour": SEED_KERNEL_MS,
                   "target_ms_per_hour": TARGET_KERNEL_MS_PER_HOUR},
        "targets": {"detect_x_floor": round(report.floor_ratio("detect"), 4),
                    "detect_x_floor_spread": detect.as_dict() if detect else None,
                    "detect_x_floor_target": TARGET_DETECT_X_FLOOR, "detect_x_floor_aim": AIM_DETECT_X_FLOOR,
                    "detect_peak_rss_mb": round(report.stage("detect").total_rss_mb, 2),
                    "peak_rss_4h_target_mb": TARGET_RSS_4H_MB},
        "recall": {"found": report.recall.found, "total": report.recall.total, "top_k": report.recall.top_k,
                   "fraction": round(report.recall.fraction, 4), "tolerance_s": report.recall.tolerance_s},
        "candidates": report.stage("detect").facts.get("candidates", []),
        "chat": report.chat,
    }

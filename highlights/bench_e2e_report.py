"""``highlights bench e2e``, the report: the job's stages and their floors as a JSON-ready dict and a table.

Consumes what :mod:`highlights.bench_e2e` measured (stage seconds, peak RSS per stage, the detector's
own timings, the floors); produces :func:`e2e_report` (wall, share, peak RSS, floor and ratio per
stage, the detector's inner stages with the audio signal against the decode floor and the segmenter
against the keyframe floor, and the 4-hour target's verdict) and :func:`format_e2e_report`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

ORDER = ("command", "queue wait", "ingest", "detect", "render", "store", "post")
"""The stages of a job as the requester lives them, in order."""
TARGET = (240.0, 600.0)
"""Target: a 4-hour VOD from /highlights to the last clip posted in ≤ 10 min on two CPU cores."""
LAYOUTS = ["16:9", "9:16"]


def e2e_report(minutes: float, clips: int, got: Mapping[str, Any], floors: Mapping[str, float]) -> dict[str, Any]:
    stages, timings, total = got["stages"], got["timings"], got["total_s"]

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 3) if b > 0 and a > 0 else None

    audio = float(timings.get("signal_audio", 0.0))
    segments = float(timings.get("segments", 0.0)) - float(timings.get("fetch_overview", 0.0))
    rows = {name: {"s": round(stages[name], 3), "share": round(stages[name] / total, 4) if total else 0.0,
                   "rss_kb": got["rss_kb"].get(name, 0)} for name in ORDER}
    rows["ingest"].update(floor="bytes on the wire", floor_s=round(floors["wire"], 3),
                          x_floor=ratio(stages["ingest"], floors["wire"]))
    rows["render"].update(floor="ffmpeg alone, each clip × layout", floor_s=round(floors["encode"], 3),
                          x_floor=ratio(stages["render"], floors["encode"]))
    inner = {"audio signal": {"s": round(audio, 3), "floor": "decode floor", "floor_s": round(floors["decode floor"], 3),
                              "x_floor": ratio(audio, floors["decode floor"])},
             "segmenter": {"s": round(segments, 3), "floor": "keyframe floor (160p)",
                           "floor_s": round(floors["keyframe floor"], 3),
                           "x_floor": ratio(segments, floors["keyframe floor"])}}
    for name in ("signal_transcript", "signal_vision", "snap"):
        inner[name.removeprefix("signal_")] = {"s": round(float(timings.get(name, 0.0)), 3)}
    return {"minutes": minutes, "clips_asked": clips, "clips_posted": int(got.get("posted", len(got["clips"]))), "uploads": got["uploads"],
            "rendered": got["rendered"], "layouts": list(LAYOUTS), "total_s": round(total, 3), "stages": rows,
            "detect_inside": inner, "bytes_downloaded": got["bytes_sent"], "ffmpeg_rss_kb": got["ffmpeg_rss_kb"],
            "load_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
            "target": {"minutes": TARGET[0], "wall_s": TARGET[1],
                       "met": (total <= TARGET[1]) if minutes == TARGET[0] else None}}


def format_e2e_report(report: Mapping[str, Any]) -> str:
    """The report as a table: one row per stage (wall, share, peak RSS, floor, × floor)."""
    def mb(kb: int | None) -> str:
        return f"{kb / 1024:.0f} MB" if kb else "-"

    lines = [f"End to end: a {report['minutes']:g}-minute VOD from /highlights to the last clip posted "
             f"({report['clips_posted']} of {report['clips_asked']} clips posted, {report['rendered']} rendered in "
             f"{' and '.join(report['layouts'])}; load {report['load_1m']} on {report['cpus']} CPUs).",
             "One job, floors measured after it in the same run; RSS is this process (bot + worker + detector).", "",
             f"{'stage':<26}{'wall':>10}{'share':>8}{'peak RSS':>10}  {'floor':<34}{'floor s':>9}{'× floor':>9}"]

    def row(label: str, r: Mapping[str, Any], share: bool = True) -> None:
        x = r.get("x_floor")
        share_text = f"{100 * r['share']:.1f}%" if share else ""
        floor_text = f"{r['floor_s']:.1f}s" if "floor_s" in r else "-"
        x_text = f"{x:.2f}×" if x else "-"
        lines.append(f"{label:<26}{r['s']:>9.1f}s{share_text:>8}{mb(r.get('rss_kb')):>10}  "
                     f"{r.get('floor', '-'):<34}{floor_text:>9}{x_text:>9}")

    for name in ORDER:
        row(name, report["stages"][name])
        if name == "detect":
            for inner, r in report["detect_inside"].items():
                row(f"  {inner}", r, share=False)
    lines.append(f"{'total':<26}{report['total_s']:>9.1f}s{'100.0%':>8}{'':>10}  "
                 f"ffmpeg children peak {mb(report['ffmpeg_rss_kb'])}; {report['bytes_downloaded'] / 1e6:.0f} MB downloaded")
    t = report["target"]
    if t["met"] is None:
        lines.append(f"target: a {t['minutes']:g}-minute VOD in ≤ {t['wall_s']:g} s: not measured (this run: "
                     f"{report['minutes']:g} min).")
    else:
        lines.append(f"target: a {t['minutes']:g}-minute VOD in ≤ {t['wall_s']:g} s: {report['total_s']:.0f} s — "
                     f"{'MET' if t['met'] else 'MISSED'}.")
    return "\n".join(lines)

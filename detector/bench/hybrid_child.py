"""Benchmark child process: one full hybrid ``detect`` on one VOD, reported as JSON.

``python -m detector.bench.hybrid_child --media M --chat C --models-dir D --out FILE [--settings JSON]
[--profile cpu] [--device cpu]``. Consumes the bench VOD's files, the vision models folder and
parameter overrides; runs :func:`detector.pipeline.detect` with the transcript (candidate windows)
and every hybrid stage (segments, vision, exact scenes) on; writes one JSON object to ``--out``:
the pipeline's per-stage ``timings``, ``unavailable_signals``, how many candidate windows each
expensive stage handled, the number of clips, and peak memory (this process's ``VmHWM``, and the
largest ffmpeg child's, sampled by :class:`~detector.bench.memory.ChildPeakRss`). A
``DetectorError`` becomes ``{"error": ..., "code": ...}`` and exit status 2.

A fresh process per run keeps each run's peak memory its own and pays model loading every time,
as a worker starting a job does.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from detector.bench.memory import ChildPeakRss, own_peak_kb
from detector.errors import DetectorError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m detector.bench.hybrid_child")
    p.add_argument("--media", type=Path, required=True)
    p.add_argument("--chat", type=Path, required=True)
    p.add_argument("--models-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--settings", default="{}", help="parameter overrides as a JSON object")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def _counts(meta: dict[str, Any]) -> dict[str, Any]:
    transcript = meta.get("transcript") or {}
    vision = meta.get("vision") or {}
    scenes = meta.get("scenes") or {}
    cuts = scenes.get("cuts") or {}
    return {
        "transcribed_spans": int(transcript.get("spans") or 0),
        "transcribed_s": float(transcript.get("transcribed_s") or 0.0),
        "transcript_words": int(transcript.get("words") or 0),
        "vision_windows": int(vision.get("windows") or 0),
        "vision_frames": int(vision.get("frames") or 0),
        "scene_windows": len(cuts.get("windows") or ()),
        "scene_cuts": len(cuts.get("cuts") or ()),
        "snapped": int(scenes.get("moved") or 0),
        "segments": len((meta.get("segments") or {}).get("spans") or ()),
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from detector.hybrid import HybridOptions
    from detector.params import Settings
    from detector.pipeline import DetectRequest, detect
    from detector.signals.transcript import TranscriptOptions

    overrides = json.loads(args.settings)
    req = DetectRequest(
        media=args.media, chat=args.chat, settings=Settings(overrides), device=args.device,
        transcript=TranscriptOptions(profile=args.profile, device=args.device),
        hybrid=HybridOptions(profile=args.profile, models_dir=args.models_dir, device=args.device))
    base_kb = own_peak_kb()
    with ChildPeakRss() as children:
        t0 = time.perf_counter()
        result = detect(req)
        wall = time.perf_counter() - t0
    meta = result.meta
    return {
        "detect_s": round(wall, 4), "timings": meta["timings"], "unavailable": meta["unavailable_signals"],
        "duration_s": meta["duration_s"], "mode": meta["mode"], "clips": len(result.candidates),
        "counts": _counts(meta), "rss_kb": own_peak_kb(), "base_rss_kb": base_kb,
        "ffmpeg_rss_kb": children.peak_kb(), "device": meta["device"],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = measure(args)
        status = 0
    except DetectorError as exc:
        result = {"error": str(exc), "code": exc.code}
        status = 2
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark child process: run one stage and report its wall time and peak memory as JSON.

``python -m detector.bench.stage STAGE --media M --chat C --work DIR --out FILE [...]``.
Consumes a stage name (:data:`detector.bench.stages.STAGES`) and the VOD's files; produces one
JSON object in ``--out``: ``wall_s`` (the timed work only), ``rss_kb`` (this process's peak RSS,
``VmHWM``; ``ru_maxrss`` would include the parent's size, carried across exec), ``ffmpeg_rss_kb``
(the largest child's peak, i.e. ffmpeg's, sampled from /proc by
:class:`~detector.bench.memory.ChildPeakRss` while the work runs; ``RUSAGE_CHILDREN`` is kept
for reference only, as it counts the parent's memory a forked child held before exec),
``base_rss_kb`` (peak RSS after imports and setup, before the work), the stage's facts, and with
``--profile`` the torch profiler's device time. A ``DetectorError`` becomes ``{"error": ...}``
and exit status 2. The JSON goes to a file because profilers may write to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

from detector.bench.memory import ChildPeakRss, own_peak_kb
from detector.bench.stages import STAGES, StageJob
from detector.errors import DetectorError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m detector.bench.stage")
    p.add_argument("stage", choices=sorted(STAGES))
    p.add_argument("--media", type=Path, required=True)
    p.add_argument("--chat", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--duration", type=float, default=0.0)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--profile", action="store_true")
    return p.parse_args(argv)


def _cuda_in_use(device: str) -> bool:
    from detector.compute import select_backend

    return select_backend(device).device not in ("cpu", None)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    job = StageJob(media=args.media, chat=args.chat, work=args.work, device=args.device, top_k=args.top_k,
                   duration_s=args.duration, repeats=args.repeats)
    run = STAGES[args.stage](job)
    cuda = _cuda_in_use(args.device) if args.profile else False
    base_kb = own_peak_kb()
    profile: dict[str, Any] | None = None
    with ChildPeakRss() as children:
        t0 = time.perf_counter()
        if args.profile:
            from detector.bench.profiling import profiled

            facts, profile = profiled(run.work, cuda)
        else:
            facts = run.work()
        wall = time.perf_counter() - t0
    own_kb = own_peak_kb()
    rusage_children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sampled_kb = children.peak_kb()
    ffmpeg_kb = sampled_kb if sampled_kb is not None else (rusage_children_kb if not children.available else 0)
    if run.after is not None:
        run.after()
    return {
        "stage": args.stage, "wall_s": round(wall, 6),
        "rss_kb": own_kb if run.own_rss else 0, "ffmpeg_rss_kb": ffmpeg_kb, "base_rss_kb": base_kb,
        "child_programs": children.programs(), "rusage_children_kb": rusage_children_kb,
        "facts": {**run.facts, **facts}, "profile": profile,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = measure(args)
        status = 0
    except DetectorError as exc:
        result = {"stage": args.stage, "error": str(exc), "code": exc.code}
        status = 2
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main())

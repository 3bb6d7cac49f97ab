"""``highlights bench``: speed, memory and recall of the detector on a synthetic VOD.

Generates (or reuses) an N-minute synthetic VOD with planted events, runs each stage in its own
child process and prints, per stage, wall time, realtime factor, the ratio to the ffmpeg decode
floor measured in the same run and peak RSS; then the in-memory kernel timing, the targets, the
recall of planted events and the chat lag. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from detector.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time and measure each stage on a synthetic VOD",
                       description="Benchmark the detector's stages (wall time, realtime factor, ratio to "
                                   "the ffmpeg decode floor, peak RSS) and the recall of planted events.")
    p.add_argument("--minutes", type=float, default=60.0, help="length of the synthetic VOD (default 60)")
    p.add_argument("--profile", action="store_true",
                   help="also run the compute stages under torch.profiler and report device time / wall")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "torch-cpu"],
                   help="compute device (auto: GPU when available; with --profile, torch-cpu without one)")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="keep the generated VOD in DIR and reuse it next time (default: a temp folder)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers as JSON")
    p.add_argument("--chat-format", default="jsonl", choices=["jsonl", "twitchdownloader"],
                   help="format of the generated chat log (default jsonl)")
    p.add_argument("--repeats", type=int, default=7, help="kernel timing repetitions, at least 5 (default 7)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from detector.bench.report import format_table, to_json
    from detector.bench.runner import BenchOptions, run_bench

    if args.repeats < 5:
        raise ConfigError(f"--repeats {args.repeats} is too few for a stable median.", hint="Use 5 or more.")
    opts = BenchOptions(minutes=args.minutes, device=args.device, profile=args.profile, keep=args.keep,
                        chat_format=args.chat_format, repeats=args.repeats)
    say = (lambda _m: None) if args.quiet else (lambda m: print(f"bench: {m}", file=sys.stderr, flush=True))
    report = run_bench(opts, say)
    print(format_table(report))
    if args.json:
        from detector.export.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(to_json(report), indent=1) + "\n")
        if not args.quiet:
            print(f"wrote {args.json}", file=sys.stderr)
    return 0

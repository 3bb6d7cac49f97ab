"""``highlights bench-render``: how fast clips render and how close they land to the size target.

Renders N clips of S seconds from a synthetic 1080p60 source with libx264, with stream copy and with
a smart cut (only the edge GOPs re-encoded), beside the floor (ffmpeg alone encoding the same clip),
each clip a round, and prints them side by side (time per clip, realtime factor, output size vs
target) with each mode's ratio to the floor, median (min–max); see ``detector.bench.render_bench``.
Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from detector.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench-render", help="time clip rendering (libx264, stream copy, smart cut) on a synthetic source",
                       description="Render N clips from a synthetic 1080p60 source with libx264, with stream "
                                   "copy and with a smart cut; print time per clip, realtime factor and size vs "
                                   "target.")
    p.add_argument("--clips", type=int, default=10, help="number of clips (default 10)")
    p.add_argument("--seconds", type=float, default=30.0, help="clip length (default 30)")
    p.add_argument("--height", type=int, default=1080, help="source height, 16:9 (default 1080)")
    p.add_argument("--fps", type=int, default=60, help="source frame rate (default 60)")
    p.add_argument("--size-mib", type=float, default=10.0, help="size target per clip (default 10)")
    p.add_argument("--preset", help="libx264 preset (default: the render default, veryfast)")
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep the generated source in DIR and reuse it")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the rows as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from detector.bench.render_bench import format_rows, run_render_bench
    from detector.render.plan import MIB

    if args.clips < 1 or args.seconds <= 0 or args.size_mib <= 0:
        raise ConfigError("--clips, --seconds and --size-mib must be positive.")
    say = (lambda _m: None) if args.quiet else (lambda m: print(f"bench-render: {m}", file=sys.stderr, flush=True))
    rows = run_render_bench(clips=args.clips, clip_s=args.seconds, height=args.height, fps=args.fps,
                            size_limit_bytes=round(args.size_mib * MIB), preset=args.preset, keep=args.keep, say=say)
    print(format_rows(rows, title=f"{args.clips} clips × {args.seconds:g} s, {args.height}p{args.fps} synthetic source"))
    if args.json:
        from detector.export.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps([asdict(r) | {"realtime": r.realtime} for r in rows], indent=1) + "\n")
    return 0

"""``highlights demo``: make a short sample VOD with its chat log, detect on it, write a report.

This is what the README's first command runs on a fresh machine: it needs no token, no network and
no input files, and shows the whole detector end to end (planted moments vs what was found).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from detector.errors import ConfigError
from detector.params import Settings
from detector.pipeline import DetectRequest, detect
from highlights.progress import TerminalProgress


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="generate a sample VOD + chat and run detect + report on it")
    p.add_argument("--out", type=Path, default=Path("highlights-demo"), help="output folder")
    p.add_argument("--minutes", type=float, default=4.0, help="length of the sample VOD (at least 1.5)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "torch-cpu"])
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from detector.export import write_outputs
    from detector.synthetic import make_vod
    from highlights.cmd_detect import print_table

    if not 1.5 <= args.minutes <= 600:
        raise ConfigError(f"--minutes {args.minutes:g} is out of range.", hint="Use 1.5 to 600 minutes.")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    say(f"making a {args.minutes:g}-minute sample VOD with chat in {out}/ ...")
    duration = args.minutes * 60
    # One planted moment every 75 s, leaving room at the end for chat to react.
    events = [round(float(t), 1) for t in np.arange(35.0, duration - 45.0, 75.0)] or None
    vod = make_vod(out, minutes=args.minutes, seed=7, events=events)
    progress = TerminalProgress(enabled=not args.quiet)
    try:
        result = detect(DetectRequest(media=vod.media_path, chat=vod.chat_path, settings=Settings(),
                                      device=args.device), progress=progress)
    finally:
        progress.close()
    paths = {k: out / f"highlights.{k}" for k in ("json", "csv", "edl")}
    report = out / "report.html"
    write_outputs(result, json=paths["json"], csv=paths["csv"], edl=paths["edl"], html=report)
    if not args.quiet:
        print_table(result)
        found = [e for e in vod.events if any(c.start_s - 2 <= e <= c.end_s + 2 for c in result.candidates)]
        print(f"planted moments: {', '.join(f'{e:.0f}s' for e in vod.events)}; "
              f"found {len(found)} of {len(vod.events)}; planted chat lag {vod.chat_lag_s:g} s")
        print(f"report: {report.resolve()}")
    return 0

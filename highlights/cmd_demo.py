"""``highlights demo``: make a short sample VOD with its chat log, run the whole pipeline on it.

This is what the README's first command runs on a fresh machine: it needs no token, no network and
no input files. It runs what a worker runs for a Discord request — chat, audio, the transcript of
the best windows (faster-whisper tiny.en, bundled), gameplay/talking segments, edge snapping (vision
too when its model is in the models folder) — then renders the top clips in 16:9 and 9:16 with
captions and a reel, and writes the JSON/CSV/EDL and the HTML report. Planted moments are printed
beside what was found; any stage that cannot run here says why.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from detector.errors import ConfigError
from detector.hybrid import HybridOptions
from detector.params import Settings
from detector.pipeline import DetectRequest, detect
from detector.records import DetectionResult
from highlights.progress import TerminalProgress

if TYPE_CHECKING:
    from detector.render.job_render import JobRenders
    from detector.signals.transcript import TranscriptOptions


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="generate a sample VOD + chat and run detect + report on it")
    p.add_argument("--out", type=Path, default=Path("highlights-demo"), help="output folder")
    p.add_argument("--minutes", type=float, default=4.0, help="length of the sample VOD (at least 1.5)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "torch-cpu"])
    p.add_argument("--no-render", action="store_true", help="detect only; render no clips")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from detector.export import write_outputs
    from detector.synthetic.vod import make_vod
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
                                      device=args.device, transcript=demo_transcript(),
                                      hybrid=HybridOptions(profile="cpu", device="cpu" if args.device == "cpu" else "auto")),
                        progress=progress)
        renders = None if args.no_render or vod.media_path is None else render_demo(result, vod.media_path, out, progress)
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
        if renders is not None:
            for rank, files in sorted(renders.files.items()):
                print(f"clip #{rank}: " + ", ".join(f"{k} {p}" for k, p in files.items() if k != "thumb"))
            if renders.reel is not None:
                print(f"reel: {renders.reel}")
            for warning in renders.warnings:
                print(f"note: {warning}", file=sys.stderr)
        print(f"report: {report.resolve()}")
    return 0


def demo_transcript() -> TranscriptOptions | None:
    """Transcribe the best windows when faster-whisper and its bundled tiny model are installed."""
    from detector.signals.transcript import TranscriptOptions, TranscriptSignal

    options = TranscriptOptions(language="en")
    return None if TranscriptSignal.unavailable_reason(options) else options


def render_demo(result: DetectionResult, media: Path, out: Path, progress: TerminalProgress) -> JobRenders | None:
    """The top three clips in 16:9 and 9:16 with captions, and a reel — what a job posts to Discord."""
    from detector.render.job_render import RenderSpec, render_job

    if not result.candidates:
        return None
    words = result.tracks["transcript"].meta.get("words", ()) if "transcript" in result.tracks else ()
    spec = RenderSpec(layouts=("16:9", "9:16"), top=3, reel=True, captions=bool(words))
    return render_job(result.candidates, media, out / "clips", spec, words=words, progress=progress)

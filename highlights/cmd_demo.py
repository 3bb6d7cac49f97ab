"""``highlights demo``: make a short sample stream with its chat log, run the whole pipeline on it.

This is what the README's first command runs on a fresh machine: it needs no token, no network and
no input files. The sample (``detector.synthetic.showcase``) is a 720p stream with a facecam over
gameplay, a stretch of just talking, real recorded speech and a chat log with planted moments. The
demo runs what a worker runs for a Discord request — chat, audio, the transcript of the best windows
(faster-whisper tiny.en, bundled), gameplay/talking segments, edge snapping — then renders the top
clips in 16:9 and 9:16 (the facecam stacked over the gameplay, or a face crop while talking) with
captions burned in and a reel, and writes the JSON/CSV/EDL and an HTML report that plays each clip
beside its explanation. The vision model needs its weights downloaded once, so an offline machine
runs without it and the demo says so once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from detector.errors import ConfigError, DetectorError
from detector.hybrid import HybridOptions
from detector.params import Settings
from detector.pipeline import DetectRequest, detect
from detector.records import DetectionResult
from highlights.progress import TerminalProgress

if TYPE_CHECKING:
    from detector.render.job_render import JobRenders
    from detector.signals.transcript import TranscriptOptions


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="generate a sample stream + chat and run the whole pipeline on it")
    p.add_argument("--out", type=Path, default=Path("highlights-demo"), help="output folder")
    p.add_argument("--minutes", type=float, default=4.0, help="length of the sample VOD (1.5 to 60)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "torch-cpu"])
    p.add_argument("--no-render", action="store_true", help="detect only; render no clips")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from detector.export import write_outputs
    from detector.synthetic.showcase import make_showcase_vod
    from highlights.cmd_detect import print_table

    if not 1.5 <= args.minutes <= 60:
        raise ConfigError(f"--minutes {args.minutes:g} is out of range.", hint="Use 1.5 to 60 minutes.")
    from detector.export import check_writable

    out: Path = args.out
    check_writable(out / "report.html")  # a file in the way says so in one line, before any work
    out.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    say(f"making a {args.minutes:g}-minute 720p sample stream (gameplay with a facecam, a talking stretch, "
        f"speech, chat) in {out}/ ...")
    vod = make_showcase_vod(out, minutes=args.minutes, seed=7)
    hybrid = HybridOptions(profile="cpu", device="cpu" if args.device == "cpu" else "auto")
    vision_missing = vision_unavailable(hybrid)
    if vision_missing:
        hybrid = HybridOptions(profile="cpu", vision=False, device=hybrid.device)
    progress = TerminalProgress(enabled=not args.quiet)
    try:
        result = detect(DetectRequest(media=vod.media_path, chat=vod.chat_path, settings=Settings(),
                                      device=args.device, transcript=demo_transcript(), hybrid=hybrid),
                        progress=progress)
        renders = None if args.no_render else render_demo(result, vod.media_path, out, progress)
    finally:
        progress.close()
    paths = {k: out / f"highlights.{k}" for k in ("json", "csv", "edl")}
    report = out / "report.html"
    write_outputs(result, json=paths["json"], csv=paths["csv"], edl=paths["edl"], html=report,
                  clips=renders.files if renders else None)
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
        if vision_missing:
            print(f"vision: the image model is the one stage this offline demo leaves out — {vision_missing}. "
                  "Everything else above ran for real.")
        print(f"report: {report.resolve()}")
    return 0


def vision_unavailable(hybrid: HybridOptions) -> str | None:
    """Why the vision model cannot run here (its packages or weights are missing), or None."""
    from detector.hybrid import vision_models
    from detector.signals.vision import unavailable_reason

    try:
        return unavailable_reason(vision_models(hybrid))
    except (ImportError, DetectorError) as exc:
        return str(exc)


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

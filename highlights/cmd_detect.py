"""``highlights detect``: run the detector on a local media file and/or chat log and write results."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from detector.errors import ConfigError
from detector.hybrid import HybridOptions
from detector.models.hardware import PROFILES, WHISPER_SIZES
from detector.params import PARAMS_BY_NAME, Settings
from detector.pipeline import DetectRequest, detect
from detector.signals.chat_learned import TokenWeights
from detector.signals.ranker.model import RankerModel
from highlights.progress import TerminalProgress


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="find highlights in a local VOD file and/or chat log",
                       description="Find ranked, explained highlight candidates. Give MEDIA, --chat, or both.")
    p.add_argument("media", nargs="?", type=Path, help="video or audio file ffmpeg can read")
    p.add_argument("--chat", type=Path, help="chat log (TwitchDownloader/chat-downloader JSON, IRC, text, JSONL; .gz ok)")
    p.add_argument("--lexicon", type=Path, help="learned chat lexicon from `highlights lexicon`")
    p.add_argument("--ranker", type=Path, help="a community's chat ranker from `highlights adapt --out FILE` "
                                                 "(default: the shipped one)")
    p.add_argument("--transcript", action="store_true",
                   help="transcribe the best candidates' windows (faster-whisper) and re-rank with what is said")
    p.add_argument("--full-transcript", action="store_true", help="transcribe the whole VOD instead")
    p.add_argument("--language", help="spoken language (ISO code, e.g. en, es); default: detected")
    p.add_argument("--keyword", dest="keywords", action="append", default=[], metavar="WORD",
                   help="a streamer's own word or phrase that counts as a reaction (repeatable)")
    p.add_argument("--whisper-backend", choices=["faster-whisper", "transformers"], default=None,
                   help="transcription engine (default: the profile's; transformers runs on ROCm)")
    p.add_argument("--whisper-model", choices=list(WHISPER_SIZES), default=None,
                   help="Whisper size (default: the profile's, stepped down when it does not fit)")
    p.add_argument("--whisper-dir", type=Path, default=None, help="a local Whisper model folder to use")
    p.add_argument("--vod-start", help="wall-clock VOD start for chat logs with wall-clock times: an ISO 8601 time "
                                       "(UTC unless it says otherwise for UTC exports), or a JSON file of the VOD "
                                       "naming its start (TwitchDownloader's chat JSON, `highlights twitch info --json`)")
    add_hybrid_options(p)
    add_common_options(p)
    p.set_defaults(func=run)


def check_top(top: int | None) -> int | None:
    """``--top K`` must be a number of clips within the ``top_k`` parameter's range (never clamped silently)."""
    param = PARAMS_BY_NAME["top_k"]
    if top is not None and not param.min <= top <= param.max:
        raise ConfigError(f"--top {top} is not a number of clips from {param.min:g} to {param.max:g}.",
                          hint="Example: --top 10")
    return top


def add_common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--top", type=int, default=None, metavar="K", help="how many candidates (default 10)")
    p.add_argument("--json", type=Path, metavar="OUT", help="write candidates as JSON")
    p.add_argument("--csv", type=Path, metavar="OUT", help="write candidates as CSV")
    p.add_argument("--edl", type=Path, metavar="OUT", help="write a CMX 3600 EDL for editors")
    p.add_argument("--report", type=Path, metavar="OUT.html", help="write a self-contained HTML report")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "torch-cpu"],
                   help="compute device (auto: GPU when available)")
    p.add_argument("--config", type=Path, help="TOML file of parameters ([detector] table)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                   help="override one parameter (repeatable); `highlights params` lists them")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no table")


def add_hybrid_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hybrid detector (video)")
    g.add_argument("--hybrid", action="store_true",
                   help="label gameplay/talking/menu, score candidate frames with the vision model and snap clip "
                        "edges to scene cuts or silences")
    g.add_argument("--no-segments", action="store_true", help="with --hybrid: skip the gameplay/talking segmenter")
    g.add_argument("--no-vision", action="store_true", help="with --hybrid: skip the vision model")
    g.add_argument("--no-snap", action="store_true", help="with --hybrid: keep clip edges where the score put them")
    g.add_argument("--profile", choices=sorted(PROFILES), default=None,
                   help="hardware profile choosing the Whisper and vision models (default: from this machine; "
                        "`highlights doctor` shows the choice)")
    g.add_argument("--models-dir", type=Path, default=None, help="where the vision models live")


def hybrid_from(args: argparse.Namespace) -> HybridOptions | None:
    if not args.hybrid:
        if args.no_segments or args.no_vision or args.no_snap:
            raise ConfigError("--no-segments, --no-vision and --no-snap only make sense with --hybrid.")
        return None
    return HybridOptions(segments=not args.no_segments, vision=not args.no_vision, scenes=not args.no_snap,
                         profile=args.profile, models_dir=args.models_dir,
                         device="cpu" if args.device == "cpu" else "auto")


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = list(args.overrides)
    if check_top(args.top) is not None:
        overrides.append(f"top_k={args.top}")
    return Settings.load(args.config, overrides)


def run(args: argparse.Namespace) -> int:
    vod_start = None
    if args.vod_start:
        from detector.sources.chat.utc_text import read_vod_start

        vod_start = read_vod_start(args.vod_start)
    transcript = None
    if args.transcript or args.full_transcript or args.language or args.keywords or args.whisper_backend \
            or args.whisper_model or args.whisper_dir:
        from detector.signals.transcript import TranscriptOptions

        if args.language and not re.fullmatch(r"[a-z]{2,3}", args.language):
            raise ConfigError(f"--language {args.language!r} is not a language code.", hint="Use e.g. en or es.")
        transcript = TranscriptOptions(language=args.language, full_transcript=args.full_transcript,
                                       keywords=tuple(args.keywords),
                                       device="cpu" if args.device == "cpu" else "auto",
                                       backend=args.whisper_backend, model=args.whisper_model,
                                       model_dir=args.whisper_dir, profile=args.profile)
    req = DetectRequest(media=args.media, chat=args.chat, settings=settings_from(args), device=args.device,
                        transcript=transcript, hybrid=hybrid_from(args),
                        vod_start=vod_start, lexicon=TokenWeights.load(args.lexicon) if args.lexicon else None,
                        ranker=RankerModel.load(args.ranker) if args.ranker else None)
    return detect_and_write(req, args)


def detect_and_write(req: DetectRequest, args: argparse.Namespace) -> int:
    from detector.export import check_writable

    for path in (args.json, args.csv, args.edl, args.report):  # before the work, not after it
        if path is not None:
            check_writable(path)
    progress = TerminalProgress(enabled=not args.quiet)
    try:
        result = detect(req, progress=progress)
    finally:
        progress.close()
    from detector.export import write_outputs

    write_outputs(result, json=args.json, csv=args.csv, edl=args.edl, html=args.report)
    if not args.quiet:
        print_table(result)
        for path in (args.json, args.csv, args.edl, args.report):
            if path:
                print(f"wrote {path}", file=sys.stderr)
    return 0


def print_table(result) -> None:
    from detector.export.timefmt import hms

    meta = result.meta
    lag = meta.get("chat_lag_s")
    lag_text = f", chat lag {lag:.1f} s ({meta['chat_lag_source']})" if lag is not None else ""
    print(f"{len(result.candidates)} highlights in {hms(meta['duration_s'])} "
          f"[{meta['mode']}{lag_text}, {meta['device']}]")
    if meta.get("chat_verdict"):
        print(f"chat: {meta['chat_verdict']}" + ("; ranked by audio alone" if "audio" in meta["mode"] else
                                                 "; no clips from chat this thin"))
    ranker = meta.get("chat_ranker") or {}
    if ranker.get("kind") == "adapted":
        print(f"chat ranker: {ranker.get('summary', 'adapted')}")
    for c in result.candidates:
        label = f"[{c.explanation.segment}] " if c.explanation.segment else ""
        print(f"{c.rank:>3}. {hms(c.start_s)}–{hms(c.end_s)}  score {c.score:6.2f}  {label}{c.explanation.summary}")
    segments = meta.get("segments")
    if segments:
        shares = ", ".join(f"{label} {seconds:.0f} s" for label, seconds in segments.get("seconds", {}).items() if seconds)
        print(f"segments: {shares}")
    for name, reason in sorted((meta.get("unavailable_signals") or {}).items()):
        print(f"not used: {name} — {reason}", file=sys.stderr)
    for warning in meta.get("chat_warnings", []):
        print(f"note: {warning}", file=sys.stderr)

"""``highlights render``: cut, frame, caption and encode the highlight clips of a VOD.

Reads the candidates of a ``detect`` JSON (or spans given with ``--clip``) and renders them from
``--media`` into ``--out``: one MP4 per clip, thumbnails and a contact sheet, an EDL and an
OpenTimelineIO timeline, optionally a compilation reel; see ``detector.render.batch``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.errors import ConfigError
from detector.render.encode import ENCODER_CHOICES
from detector.render.layout import LAYOUT_CHOICES
from detector.render.plan import MIB
from highlights.progress import TerminalProgress


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render highlight clips (MP4s, thumbnails, reel, EDL/OTIO)",
                       description="Render the candidates of a detect JSON (or --clip spans) from the VOD's "
                                   "media file into postable MP4s.")
    p.add_argument("detect_json", nargs="?", type=Path, metavar="DETECT.json",
                   help="results of `highlights detect --json`")
    p.add_argument("--media", type=Path, required=True, help="the VOD's video file")
    p.add_argument("--clip", dest="clips", action="append", default=[], metavar="START-END",
                   help="render this span instead of (or without) a detect JSON; repeatable (e.g. 1:02:03-1:02:33)")
    p.add_argument("--layout", default="auto", choices=LAYOUT_CHOICES,
                   help="16:9 source framing, 9:16 vertical (facecam on top when found), or auto (default)")
    p.add_argument("--captions", type=Path, metavar="WORDS.json", help="word timings to burn in as captions")
    p.add_argument("--top", type=int, default=None, metavar="N", help="render only the N best clips")
    p.add_argument("--out", type=Path, default=Path("clips"), metavar="DIR", help="output folder (default ./clips)")
    p.add_argument("--size-mib", type=float, default=10.0,
                   help="largest file per clip in MiB (default 10, Discord's bot limit); 0 for no limit")
    p.add_argument("--reel", action="store_true", help="also join the clips into reel.mp4")
    p.add_argument("--no-titles", action="store_true", help="no title cards in the reel")
    p.add_argument("--encoder", default="auto", choices=ENCODER_CHOICES,
                   help="video encoder (auto: NVENC/AMF/VAAPI when one works, else libx264)")
    p.add_argument("--preset", help="encoder speed preset (libx264: ultrafast … veryslow)")
    p.add_argument("--loudness", default="-14", metavar="LUFS|off", help="loudness target (default -14 LUFS)")
    p.add_argument("--no-copy", action="store_true", help="always re-encode: no stream copy, no smart cut")
    p.add_argument("--no-thumbs", action="store_true", help="no thumbnails or contact sheet")
    p.add_argument("--no-export", action="store_true", help="no EDL / OTIO files")
    p.add_argument("--cache", type=Path, metavar="DIR", help="render cache folder (default ~/.cache/highlights/render)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the render cache")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no table")
    p.set_defaults(func=run)


def _loudness(text: str) -> float | None:
    if text.lower() in ("off", "none", "no"):
        return None
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--loudness {text!r} is not a number of LUFS or 'off'.", hint="Example: --loudness -14") \
            from None


def run(args: argparse.Namespace) -> int:
    from detector.render.batch import BatchOptions, render_candidates
    from detector.render.cache import RenderCache
    from detector.render.captions import read_words
    from detector.render.planner import RenderOptions
    from detector.render.selection import direct_candidates, load_candidates, parse_span, top

    if args.detect_json is None and not args.clips:
        raise ConfigError("Nothing to render: give a detect JSON or at least one --clip START-END.",
                          hint="Run `highlights detect MEDIA --json results.json` first.")
    if args.size_mib < 0:
        raise ConfigError(f"--size-mib {args.size_mib} is negative.", hint="Use 0 for no limit.")
    labels: dict[int, str] = {}
    if args.clips:
        candidates = direct_candidates([parse_span(s) for s in args.clips])
    else:
        candidates, labels = load_candidates(args.detect_json)
    candidates = top(candidates, args.top)
    options = RenderOptions(layout=args.layout, encoder=args.encoder,
                            size_limit_bytes=round(args.size_mib * MIB) if args.size_mib else None,
                            loudness_lufs=_loudness(args.loudness), preset=args.preset, allow_copy=not args.no_copy)
    words = read_words(args.captions) if args.captions else ()
    cache = None if args.no_cache else RenderCache(args.cache)
    batch = BatchOptions(thumbnails=not args.no_thumbs, exports=not args.no_export, reel=args.reel,
                         reel_titles=not args.no_titles)
    progress = TerminalProgress(enabled=not args.quiet)
    try:
        result = render_candidates(candidates, args.media, args.out, options, batch=batch, words=words,
                                   labels=labels, cache=cache, progress=progress)
    finally:
        progress.close()
    if not args.quiet:
        for o in result.clips:
            r = o.rendered
            print(f"#{o.candidate.rank:<3} {r.path.name:<28} {o.plan.layout:<7} {o.plan.width}x{o.plan.height} "
                  f"{r.size_bytes / MIB:6.2f} MiB  {r.mode}")
        if result.reel:
            print(f"reel {result.reel.path.name} {result.reel.duration_s:.1f} s {result.reel.size_bytes / MIB:.2f} MiB")
        for w in result.warnings:
            print(f"warning: {w}", file=sys.stderr)
        print(f"wrote {result.manifest}", file=sys.stderr)
    return 0

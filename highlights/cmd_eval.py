"""``highlights eval``: accuracy on a labelled dataset, next to the reference baselines.

Reads a dataset laid out like ``shared/eval/lol-worlds-2019-dev`` (games.csv, labels.csv, chat/),
runs the chat-only detector on each game's window and prints mean P@5, P@10, AP@10, per-second F1
and clip length with 95 % bootstrap intervals over games, and a per-game table worst game first,
beside the detector as it was before the ranker (``old-default``) and the message-rate and
hype-token baselines. ``--cv`` adds leave-one-game-out rows (the default ranker refitted without the
held-out game, and that refit adapted from the other games' labels); ``--forward`` scores adaptation
the way a community lives it (fitted on earlier games, scored on later ones). Games whose chat is
too thin get "too little chat" rather than clips.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from detector.errors import ConfigError
from detector.params import Settings
from detector.signals.chat_learned import TokenWeights


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="accuracy on a labelled dataset (chat-only) vs baselines, or overlap with viewers' clips",
                       description="Either --dataset DIR (labelled games), or --result RESULT.json with "
                                   "--viewer-clips CLIPS.json (weak labels from `highlights twitch-clips`).")
    p.add_argument("--dataset", type=Path, help="folder with games.csv, labels.csv, chat/")
    p.add_argument("--result", type=Path, help="a detect/job result JSON (clips in rank order) to compare with --viewer-clips")
    p.add_argument("--viewer-clips", type=Path, help="viewers' clips of the same VOD (`highlights twitch-clips VOD --out FILE`)")
    p.add_argument("--top", type=int, default=10, help="K for the top-K clips (default 10)")
    p.add_argument("--config", type=Path, help="TOML file of parameters")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--games", nargs="*", help="only these game ids")
    p.add_argument("--cv", action="store_true",
                   help="leave-one-game-out: the default ranker refitted without each game, and adapted from the "
                        "other games' labels (fitting needs scikit-learn: pip install -e .[fit])")
    p.add_argument("--forward", action="store_true",
                   help="adaptation as a community lives it: fit on earlier games, score each later game")
    p.add_argument("--history", type=int, default=5, help="--forward: games before the first one scored (default 5)")
    p.add_argument("--lexicon", type=Path, help="use this learned lexicon for 'ours' (not cross-validated!)")
    p.add_argument("--ranker", type=Path, help="use this ranker model (e.g. from `highlights adapt`) for 'ours'")
    p.set_defaults(func=run)
    add_lexicon_parser(sub)


def run(args: argparse.Namespace) -> int:
    if args.result or args.viewer_clips:
        if not (args.result and args.viewer_clips) or args.dataset:
            raise ConfigError("Give --result and --viewer-clips together (and no --dataset).",
                              hint="Example: highlights eval --result result.json --viewer-clips clips.json --top 10")
        return run_viewer_overlap(args.result, args.viewer_clips, args.top)
    if not args.dataset:
        raise ConfigError("Nothing to evaluate.", hint="Give --dataset DIR, or --result with --viewer-clips.")
    from detector.eval.baselines import hype_token_baseline, message_rate_baseline
    from detector.eval.detector_rankers import OLD_DEFAULT, AdaptedRankerCV, DefaultRankerCV, DetectorRanker
    from detector.eval.runner import evaluate, evaluate_cv, evaluate_forward, format_report
    from detector.signals.ranker.model import RankerModel

    if args.cv and args.forward:
        raise ConfigError("Choose --cv or --forward, not both.")
    settings = Settings.load(args.config, args.overrides)
    lexicon = TokenWeights.load(args.lexicon) if args.lexicon else None
    model = RankerModel.load(args.ranker) if args.ranker else None
    old = Settings({**settings.as_dict(), **OLD_DEFAULT})
    rankers: dict[str, object] = {}
    if args.cv or args.forward:
        rankers["default(cv)"] = DefaultRankerCV(settings)
        rankers["adapted(cv)" if args.cv else "adapted(earlier)"] = AdaptedRankerCV(settings)
    rankers.update({
        "ours" if not (args.cv or args.forward) else "shipped(in-sample)": DetectorRanker(settings, lexicon, model),
        "old-default": DetectorRanker(old, lexicon),
        "msg-rate": message_rate_baseline,
        "hype-tokens": hype_token_baseline,
    })
    games = args.games or None
    if args.forward:
        report = evaluate_forward(args.dataset, rankers, top_k=args.top, games=games, min_history=args.history)  # type: ignore[arg-type]
    elif args.cv:
        report = evaluate_cv(args.dataset, rankers, top_k=args.top, games=games)  # type: ignore[arg-type]
    else:
        report = evaluate(args.dataset, rankers, top_k=args.top, games=games)  # type: ignore[arg-type]
    print(format_report(report))
    return 0


def run_viewer_overlap(result: Path, clips_file: Path, top: int) -> int:
    """How many of our top ``top`` clips overlap the clips viewers made of the same VOD."""
    from detector.eval.viewer_overlap import Span, viewer_overlap
    from detector.export.json_out import read_json
    from storage.twitch.viewer_clips import as_spans, load_viewer_clips

    if top < 1:
        raise ConfigError(f"--top {top} must be at least 1.")
    ours = [Span(float(c["start"]), float(c["end"])) for c in sorted(read_json(result), key=lambda c: c["rank"])]
    viewers = [Span(start, end, views) for start, end, views in as_spans(load_viewer_clips(clips_file))]
    overlap = viewer_overlap(ours, viewers, top)
    print(f"top {overlap.k} vs {overlap.viewer_clips} viewer clips (weak labels):")
    print(f"  our clips overlapping a viewer clip: {overlap.precision:.0%} ({sum(m is not None for m in overlap.matches)}"
          f" of {overlap.ours})")
    print(f"  viewer clips we cover: {overlap.recall:.0%}; share of their views: {overlap.view_recall:.0%}")
    for rank, (clip, match) in enumerate(zip(ours, overlap.matches), start=1):
        seen = f"viewer clip with {viewers[match].views} views" if match is not None else "no viewer clip"
        print(f"  #{rank:<3} {clip.start_s:8.1f}–{clip.end_s:8.1f} s  {seen}")
    return 0


def add_lexicon_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lexicon", help="learn a chat lexicon (token weights) from a labelled dataset")
    p.add_argument("--dataset", type=Path, required=True, help="folder with games.csv, labels.csv, chat/")
    p.add_argument("--out", type=Path, required=True, help="where to write the lexicon JSON")
    p.add_argument("--lag", type=float, default=20.0, help="chat reaction lag in seconds (default 20)")
    p.set_defaults(func=run_lexicon)


def run_lexicon(args: argparse.Namespace) -> int:
    from detector.eval.dataset import load_dataset
    from detector.eval.detector_rankers import fit_lexicon
    from detector.sources.chat import load_chat

    games = load_dataset(args.dataset)
    chats = {g.game: load_chat(g.chat_path) for g in games}
    lexicon = fit_lexicon(games, chats, args.lag)
    lexicon.save(args.out)
    top = sorted(lexicon.weights.items(), key=lambda kv: -kv[1])[:15]
    print(f"wrote {args.out}: {len(lexicon.weights)} tokens from {len(games)} games; strongest: "
          + ", ".join(f"{t} {w:+.2f}" for t, w in top))
    return 0

"""``highlights adapt`` and ``highlights ranker-fit``: the chat ranker of one community, and the default.

``adapt`` fits a community's part of the ranker (a learned lexicon and a re-weighting of the default,
``detector.signals.ranker.adapt``) from the labels it has — labelled intervals (``--dataset DIR``), viewers'
clips of VODs whose chat you have (``--chat FILE --viewer-clips FILE``, repeatable, from
``highlights twitch chat`` and ``highlights twitch-clips``) — and writes it to ``--out`` and/or stores
it as the next adaptation version of a guild × streamer (``--storage --guild --streamer``), which that
pair's jobs then use. With ``--twitch`` it queues the ADAPT job the scheduler runs weekly (the
streamer's newest VODs' viewer clips from Helix, and the guild's votes). ``--show``, ``--rollback N``
and ``--reset`` read and undo the stored history.

``ranker-fit`` refits the shipped default from a labelled dataset (scikit-learn, a dev extra) and
prints its leave-one-game-out scores; the project ships the result as ``detector/signals/ranker/default_model.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from detector.errors import ConfigError
from highlights.cmd_jobs import add_storage_option, with_storage


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("adapt", help="fit a community's chat ranker from its labels (viewer clips, intervals), store it",
                       description="Fit, store, show or roll back a guild × streamer's adapted chat ranker.")
    p.add_argument("--dataset", type=Path, help="labelled intervals: a folder with games.csv, labels.csv, chat/")
    p.add_argument("--chat", type=Path, action="append", default=[], help="a VOD's chat log (pairs with --viewer-clips)")
    p.add_argument("--viewer-clips", type=Path, action="append", default=[],
                   help="that VOD's viewer clips (`highlights twitch-clips VOD --out FILE`)")
    p.add_argument("--out", type=Path, help="write the adapted model (JSON) here")
    add_storage_option(p)
    p.add_argument("--guild", help="Discord guild id the adaptation belongs to")
    p.add_argument("--streamer", help="the streamer's Twitch login")
    p.add_argument("--twitch", action="store_true",
                   help="queue an ADAPT job: the streamer's newest VODs' viewer clips (Helix) and the guild's votes")
    p.add_argument("--vods", type=int, default=10, help="--twitch: how many of the newest VODs (default 10)")
    p.add_argument("--show", action="store_true", help="print the stored adaptation history")
    p.add_argument("--rollback", type=int, metavar="VERSION", help="make an earlier version current again")
    p.add_argument("--reset", action="store_true", help="go back to the shipped default ranker")
    p.set_defaults(func=run)

    f = sub.add_parser("ranker-fit", help="refit the default chat ranker on a labelled dataset (needs scikit-learn)")
    f.add_argument("--dataset", type=Path, required=True, help="folder with games.csv, labels.csv, chat/")
    f.add_argument("--out", type=Path, required=True, help="where to write the model JSON")
    f.set_defaults(func=run_fit)


def run(args: argparse.Namespace) -> int:
    stored_pair = args.guild or args.streamer
    if stored_pair and not (args.guild and args.streamer):
        raise ConfigError("Give --guild and --streamer together.", hint="Example: --guild 1234 --streamer somestreamer")
    if args.show or args.rollback is not None or args.reset or args.twitch:
        if not stored_pair:
            raise ConfigError("--show, --rollback, --reset and --twitch need --guild and --streamer (and --storage).")
        return with_storage(args, lambda storage: _manage(storage, args))
    if len(args.chat) != len(args.viewer_clips):
        raise ConfigError(f"Give one --viewer-clips per --chat ({len(args.chat)} chat logs, {len(args.viewer_clips)} "
                          "viewer-clip files).")
    if not args.dataset and not args.chat:
        raise ConfigError("No labels to adapt from.", hint="Give --dataset DIR, or --chat FILE --viewer-clips FILE pairs.")
    if not args.out and not stored_pair:
        raise ConfigError("Nowhere to put the result.", hint="Give --out FILE, or --storage/--guild/--streamer to store it.")
    model = fit_from_files(args.dataset, args.chat, args.viewer_clips)
    print(f"{model.meta['summary']}; lexicon of {model.meta['lexicon_tokens']} tokens")
    if args.out:
        model.save(args.out)
        print(f"wrote {args.out}")
    if stored_pair:
        return with_storage(args, lambda storage: _store(storage, args, model))
    return 0


def fit_from_files(dataset: Path | None, chats: list[Path], clips: list[Path]):  # -> RankerModel
    from detector.eval.dataset import load_dataset
    from detector.signals.ranker.adapt import adapt
    from detector.signals.ranker.labels import from_viewer_clips
    from detector.signals.ranker.model import default_model
    from detector.signals.ranker.training import LabelledSpan
    from detector.sources.chat import load_chat
    from storage.twitch.viewer_clips import as_spans, load_viewer_clips

    spans, sources = [], []
    if dataset is not None:
        for g in load_dataset(dataset):
            spans.append(LabelledSpan(g.game, load_chat(g.chat_path), g.start_s, g.end_s, g.labels))
        sources.append("labelled intervals")
    for chat_file, clips_file in zip(chats, clips):
        labels = load_viewer_clips(clips_file)
        spans.append(from_viewer_clips(labels.vod_id or str(chat_file), load_chat(chat_file),
                                       [(a, b) for a, b, _views in as_spans(labels)]))
    if chats:
        sources.append("viewer clips")
    return adapt(default_model(), spans, source=" and ".join(sources))


async def _store(storage: Any, args: argparse.Namespace, model: Any) -> int:
    streamer = await storage.repo.upsert_streamer(args.streamer)
    meta = model.meta
    stored = await storage.repo.new_adaptation(str(args.guild), streamer.id, model.to_dict(), source=str(meta["source"]),
                                               summary=str(meta["summary"]), labels_used=int(meta["labels"]),
                                               vods_used=int(meta["vods"]), by="cli")
    print(f"stored as version {stored.version} for guild {args.guild} × {streamer.login}")
    return 0


async def _manage(storage: Any, args: argparse.Namespace) -> int:
    from storage.adapt_refresh import adapt_request

    streamer = await storage.repo.find_streamer(args.streamer)
    if streamer is None:
        if not args.twitch:
            raise ConfigError(f"No streamer {args.streamer!r} is known here.", hint="Check the login.")
        streamer = await storage.repo.upsert_streamer(args.streamer)
    guild = str(args.guild)
    if args.twitch:
        if not 1 <= args.vods <= 100:
            raise ConfigError(f"--vods {args.vods} must be between 1 and 100.")
        result = await storage.queue.enqueue(adapt_request(guild, streamer.id, args.vods, requested_by="cli", priority=10))
        print(f"{'joined' if not result.created else 'queued'} ADAPT job #{result.job.id} (a worker runs it)")
        return 0
    if args.rollback is not None:
        done = await storage.repo.rollback_adaptation(guild, streamer.id, args.rollback, by="cli")
        print(f"version {done.version}: {done.summary}")
        return 0
    if args.reset:
        done = await storage.repo.reset_adaptation(guild, streamer.id, by="cli")
        print(f"version {done.version}: back to the default ranker")
        return 0
    history = await storage.repo.adaptation_history(guild, streamer.id)
    if not history:
        print(f"guild {guild} × {streamer.login}: the default ranker (never adapted)")
    for a in history:
        print(f"v{a.version}  {a.created_at:%Y-%m-%d %H:%M}  {a.summary}  [{a.source}, by {a.created_by or 'scheduler'}]")
    return 0


def run_fit(args: argparse.Namespace) -> int:
    from detector.eval.dataset import load_dataset
    from detector.signals.ranker.fit import fit_default, sign_problems
    from detector.signals.ranker.training import LabelledSpan
    from detector.sources.chat import load_chat

    games = load_dataset(args.dataset)
    spans = [LabelledSpan(g.game, load_chat(g.chat_path), g.start_s, g.end_s, g.labels) for g in games]
    model = fit_default(spans).with_meta(fitted_on=f"{len(spans)} labelled games")
    problems = sign_problems(model)
    if problems:
        raise ConfigError(f"The fit flipped the expected sign of {', '.join(problems)}; not writing it.",
                          hint="A flipped sign learns the dataset, not chat: check the labels or the features.")
    model.save(args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{n} {c:+.3f}" for n, c in model.weights().items()))
    print("score it honestly with `highlights eval --dataset DIR --cv` (leave-one-game-out)")
    return 0

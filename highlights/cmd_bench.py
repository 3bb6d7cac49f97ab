"""``highlights bench [detector|queue|votes|ingest|hybrid|chaos]``: numbers for the detector, the job queue,
vote tuning, downloads, the hybrid pipeline, or the adversarial run (``chaos``: crafted inputs, killed
workers, hung databases, secrets, vote attacks, hostile references; exit 1 unless every figure is 0).

``highlights bench`` (or ``bench detector``) generates (or reuses) an N-minute synthetic VOD with
planted events, runs the ffmpeg decode floor and each stage in its own child process, interleaved,
``--runs`` rounds (default 5), and prints, per stage, the median wall time, realtime factor, the
median ratio to the floor of the same round with its spread (min–max) and peak RSS; then the
in-memory kernel timing, the targets, the recall of planted events and the chat lag.

``highlights bench queue`` measures the job queue on SQLite and PostgreSQL side by side
(``detector.bench.queue_bench``): enqueue→claim latency, enqueue and claim+complete throughput, the
time from SIGKILL of a worker to its job running again, and lost or duplicated jobs.

``highlights bench chat`` times chat analysis of a 4-hour VOD's chat (~100k messages; ``--minutes``
changes the length): parsing, the hand features, the ranker, the chat signal and chat-only detect,
side by side (``detector.bench.chat_bench``).

``highlights bench votes`` runs simulated communities voting on successive synthetic VODs
(``detector.bench.vote_sim``) and prints, per seed and round, precision@K of the clips posted with
the tuned parameters beside the defaults', the mean over seeds, and the first and last rounds' means.
Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from detector.errors import ConfigError

TARGETS = ("detector", "queue", "votes", "ingest", "hybrid", "chat", "chaos", "e2e")
_QUEUE_ONLY = ("jobs", "samples", "backend", "storage", "lease", "poll_interval")
_DETECTOR_ONLY = ("minutes", "profile", "device", "keep", "chat_format", "repeats")
_VOTES_ONLY = ("rounds", "seeds")
_INGEST_ONLY = ("clips",)
_HYBRID_ONLY = ("lengths",)
_MEASURED = ("runs",)
"""Options of the benches that measure a floor and stages in rounds (detector, hybrid, ingest)."""
_DEFAULTS: dict[str, Any] = {"minutes": 60.0, "profile": False, "device": "auto", "keep": None,
                             "chat_format": "jsonl", "repeats": 7, "jobs": 1000, "samples": 30, "backend": "both",
                             "storage": None, "lease": None, "poll_interval": None,
                             "rounds": 6, "seeds": "1,7,23", "clips": 10, "lengths": "30,60", "runs": 5}
"""Every option's default: an option of the other target left at its default is not an error."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark the detector's stages, the job queue (bench queue) or vote tuning (bench votes)",
                       description="Benchmark the detector's stages (wall time, realtime factor, ratio to "
                                   "the ffmpeg decode floor, peak RSS) and the recall of planted events; "
                                   "or, with 'queue', the job queue on SQLite and PostgreSQL; or, with 'votes', "
                                   "the precision@K that vote tuning reaches for simulated communities.")
    p.add_argument("target", nargs="?", default="detector", choices=TARGETS,
                   help="what to benchmark (default detector)")
    det = p.add_argument_group("detector options")
    det.add_argument("--minutes", type=float, default=_DEFAULTS["minutes"],
                     help="length of the synthetic VOD (default 60)")
    det.add_argument("--profile", action="store_true",
                     help="also run the compute stages under torch.profiler and report device time / wall")
    det.add_argument("--device", default=_DEFAULTS["device"], choices=["auto", "cpu", "cuda", "torch-cpu"],
                     help="compute device (auto: GPU when available; with --profile, torch-cpu without one)")
    det.add_argument("--keep", type=Path, metavar="DIR",
                     help="keep the generated VOD in DIR and reuse it next time (default: a temp folder)")
    det.add_argument("--chat-format", default=_DEFAULTS["chat_format"], choices=["jsonl", "twitchdownloader"],
                     help="format of the generated chat log (default jsonl)")
    det.add_argument("--repeats", type=int, default=_DEFAULTS["repeats"],
                     help="kernel timing repetitions, at least 5 (default 7)")
    que = p.add_argument_group("queue options (bench queue)")
    que.add_argument("--jobs", type=int, default=_DEFAULTS["jobs"],
                     help="small jobs for the throughput rows (default 1000)")
    que.add_argument("--samples", type=int, default=_DEFAULTS["samples"],
                     help="jobs timed one by one for the latency rows (default 30)")
    que.add_argument("--backend", default=_DEFAULTS["backend"], choices=["sqlite", "postgres", "both"],
                     help="which backends to measure, side by side (default both)")
    que.add_argument("--storage", metavar="URL",
                     help="postgresql://… server for the PostgreSQL column (default $HIGHLIGHTS_BENCH_PG_URL; the "
                          "bench makes a scratch database there and drops it), or sqlite:///NEW_FILE for the SQLite one")
    que.add_argument("--lease", type=float, metavar="S",
                     help="lease for the SIGKILL recovery (default: the real one from storage.queue.timeouts)")
    que.add_argument("--poll-interval", type=float, metavar="S",
                     help="workers' pause between claims while idle (default: the worker's default)")
    vot = p.add_argument_group("vote options (bench votes)")
    vot.add_argument("--rounds", type=int, default=_DEFAULTS["rounds"],
                     help="VODs each simulated community votes on, one per round (default 6)")
    vot.add_argument("--seeds", default=_DEFAULTS["seeds"], metavar="S,S,…",
                     help="one simulated community per seed, comma-separated (default 1,7,23)")
    ing = p.add_argument_group("ingest and e2e options (bench ingest, bench e2e; --minutes too, --keep for e2e)")
    ing.add_argument("--clips", type=int, default=_DEFAULTS["clips"],
                     help="ingest: 30 s windows fetched as sections by 'audio + sections'; e2e: clips asked for "
                          "with /highlights, rendered in both layouts and posted (default 10)")
    hyb = p.add_argument_group("hybrid options (bench hybrid; --keep too)")
    hyb.add_argument("--lengths", default=_DEFAULTS["lengths"], metavar="M,M",
                     help="VOD lengths in minutes, run one after the other and shown side by side (default 30,60)")
    p.add_argument("--runs", type=int, default=_DEFAULTS["runs"], metavar="N",
                   help="rounds (detector, hybrid, ingest): the floor and every stage run once per round, "
                        "interleaved; medians and min–max spreads are printed (default 5)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    return [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) != _DEFAULTS[n]]


def _write_json(args: argparse.Namespace, data: dict[str, Any]) -> None:
    from detector.export.atomic import write_text_atomic

    write_text_atomic(args.json, json.dumps(data, indent=1) + "\n")
    if not args.quiet:
        print(f"wrote {args.json}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from detector.bench.rounds import check_rounds

    if args.target in ("queue", "votes") and (misplaced := _given(args, _MEASURED)):
        raise ConfigError(f"{', '.join(misplaced)} only apply to 'highlights bench', 'bench hybrid' and 'bench ingest'.")
    check_rounds(args.runs)
    if args.target != "votes" and (misplaced := _given(args, _VOTES_ONLY)):
        raise ConfigError(f"{', '.join(misplaced)} only apply to 'highlights bench votes'.")
    if args.target not in ("ingest", "e2e") and (misplaced := _given(args, _INGEST_ONLY)):
        raise ConfigError(f"{', '.join(misplaced)} only apply to 'highlights bench ingest' and 'bench e2e'.")
    if args.target != "hybrid" and (misplaced := _given(args, _HYBRID_ONLY)):
        raise ConfigError(f"{', '.join(misplaced)} only apply to 'highlights bench hybrid'.")
    if args.target == "chat":
        return run_chat(args)
    if args.target == "e2e":
        return run_e2e(args)
    if args.target == "hybrid":
        return run_hybrid(args)
    if args.target == "chaos":
        return run_chaos(args)
    if args.target == "ingest":
        return run_ingest(args)
    if args.target == "queue":
        return run_queue(args)
    if args.target == "votes":
        return run_votes(args)
    misplaced = _given(args, _QUEUE_ONLY)
    if misplaced:
        raise ConfigError(f"{', '.join(misplaced)} only apply to 'highlights bench queue'.")
    return run_detector(args)


def run_detector(args: argparse.Namespace) -> int:
    from detector.bench.report import format_table, to_json
    from detector.bench.runner import BenchOptions, run_bench

    if args.repeats < 5:
        raise ConfigError(f"--repeats {args.repeats} is too few for a stable median.", hint="Use 5 or more.")
    opts = BenchOptions(minutes=args.minutes, device=args.device, profile=args.profile, keep=args.keep,
                        chat_format=args.chat_format, repeats=args.repeats, runs=args.runs)
    say = (lambda _m: None) if args.quiet else (lambda m: print(f"bench: {m}", file=sys.stderr, flush=True))
    report = run_bench(opts, say)
    print(format_table(report))
    if args.json:
        _write_json(args, to_json(report))
    return 0


def run_queue(args: argparse.Namespace) -> int:
    from detector.bench.queue_bench import QueueBenchOptions, run_queue_bench
    from detector.bench.queue_databases import choose_targets
    from detector.bench.queue_report import format_table, to_json

    misplaced = _given(args, _DETECTOR_ONLY)
    if misplaced:
        raise ConfigError(f"{', '.join(misplaced)} only apply to 'highlights bench detector'.")
    if args.jobs < 1 or args.samples < 1:
        raise ConfigError("--jobs and --samples must be at least 1.")
    if args.lease is not None and not 0.5 <= args.lease <= 3600:
        raise ConfigError(f"--lease {args.lease:g} is out of range.", hint="Give 0.5 to 3600 seconds.")
    if args.poll_interval is not None and not 0.01 <= args.poll_interval <= 60:
        raise ConfigError(f"--poll-interval {args.poll_interval:g} is out of range.", hint="Give 0.01 to 60 seconds.")
    opts = QueueBenchOptions(jobs=args.jobs, samples=args.samples, lease_s=args.lease)
    if args.poll_interval is not None:
        opts = replace(opts, idle_s=args.poll_interval)
    targets = choose_targets(args.backend, args.storage)
    say = (lambda _m: None) if args.quiet else (lambda m: print(f"bench queue: {m}", file=sys.stderr, flush=True))
    report = asyncio.run(run_queue_bench(opts, targets, say))
    print(format_table(report))
    if args.json:
        _write_json(args, to_json(report))
    return 0


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"--seeds {text!r} is not a list of whole numbers.", hint="Give e.g. --seeds 1,7,23.") from None
    if not seeds or any(s < 0 for s in seeds):
        raise ConfigError(f"--seeds {text!r} names no usable seed.", hint="Give e.g. --seeds 1,7,23.")
    return tuple(dict.fromkeys(seeds))


def run_chat(args: argparse.Namespace) -> int:
    """``bench chat``: a 4-hour VOD's chat (~100k messages) through parsing, the chat signal and the ranker."""
    import tempfile

    from detector.bench.chat_bench import format_chat_bench, make_chat_file, run_chat_bench

    hours = 4.0 if args.minutes == _DEFAULTS["minutes"] else args.minutes / 60.0
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
        path = make_chat_file(Path(tmp) / "chat.jsonl", hours=hours, messages=int(100_000 * hours / 4.0))
        messages, rows = run_chat_bench(path, repeats=max(1, min(args.repeats, 5)))
    print(format_chat_bench(messages, hours, rows))
    return 0


def run_votes(args: argparse.Namespace) -> int:
    from detector.bench.vote_sim import VoteBenchOptions, format_table, run_vote_bench, to_json

    misplaced = _given(args, _DETECTOR_ONLY) + _given(args, _QUEUE_ONLY)
    if misplaced:
        raise ConfigError(f"{', '.join(misplaced)} do not apply to 'highlights bench votes'.")
    if not 1 <= args.rounds <= 1000:
        raise ConfigError(f"--rounds {args.rounds} is out of range.", hint="Give 1 to 1000 rounds.")
    opts = VoteBenchOptions(rounds=args.rounds, seeds=_seeds(args.seeds))
    say = (lambda _m: None) if args.quiet else (lambda m: print(f"bench votes: {m}", file=sys.stderr, flush=True))
    report = run_vote_bench(opts, say)
    print(format_table(report))
    if args.json:
        _write_json(args, to_json(report))
    return 0


def run_ingest(args: argparse.Namespace) -> int:
    from detector.bench.ingest_bench import format_ingest_report, run_ingest_bench

    misplaced = _given(args, tuple(n for n in _DETECTOR_ONLY if n != "minutes")) + _given(args, _QUEUE_ONLY)
    if misplaced:
        raise ConfigError(f"{', '.join(misplaced)} do not apply to 'highlights bench ingest'.")
    if not 1 <= args.clips <= 1000:
        raise ConfigError(f"--clips {args.clips} is out of range.", hint="Give 1 to 1000 clips.")
    report = run_ingest_bench(args.minutes, args.clips, None if args.quiet else sys.stderr, runs=args.runs)
    print(format_ingest_report(report))
    if args.json:
        _write_json(args, report)
    return 0


def run_hybrid(args: argparse.Namespace) -> int:
    from detector.bench.hybrid_bench import format_hybrid_report, parse_lengths, run_hybrid_bench

    misplaced = _given(args, tuple(n for n in _DETECTOR_ONLY if n != "keep")) + _given(args, _QUEUE_ONLY)
    if misplaced:
        raise ConfigError(f"{', '.join(misplaced)} do not apply to 'highlights bench hybrid'.")
    report = run_hybrid_bench(parse_lengths(args.lengths), None if args.quiet else sys.stderr, cache=args.keep,
                              runs=args.runs)
    print(format_hybrid_report(report))
    if args.json:
        _write_json(args, report)
    return 0


def run_e2e(args: argparse.Namespace) -> int:
    from highlights.bench_e2e import format_e2e_report, run_e2e_bench

    misplaced = (_given(args, tuple(n for n in _DETECTOR_ONLY if n not in ("minutes", "keep")))
                 + _given(args, _QUEUE_ONLY + _MEASURED + _HYBRID_ONLY))
    if misplaced:
        raise ConfigError(f"{', '.join(misplaced)} do not apply to 'highlights bench e2e' (one whole job per run).")
    report = run_e2e_bench(args.minutes, args.clips, None if args.quiet else sys.stderr, cache=args.keep)
    print(format_e2e_report(report))
    if args.json:
        _write_json(args, report)
    return 0


def run_chaos(args: argparse.Namespace) -> int:
    from detector.bench.chaos import run_chaos as chaos
    from detector.bench.chaos_report import format_report
    from detector.bench.chaos_report import to_json as chaos_json
    from detector.bench.queue_databases import choose_targets
    from highlights.cmd_worker import HARD_EXIT_MARGIN_S

    misplaced = _given(args, tuple(n for n in _DETECTOR_ONLY if n != "keep")) + \
        _given(args, tuple(n for n in _QUEUE_ONLY if n not in ("backend", "storage", "lease")))
    if misplaced:
        raise ConfigError(f"{', '.join(misplaced)} do not apply to 'highlights bench chaos'.")
    if args.lease is not None and not 1.0 <= args.lease <= 60:
        raise ConfigError(f"--lease {args.lease:g} is out of range.", hint="Give 1 to 60 seconds.")
    targets = choose_targets(args.backend, args.storage)
    say = (lambda _m: None) if args.quiet else (lambda m: print(f"bench chaos: {m}", file=sys.stderr, flush=True))
    report = chaos(targets, say, stop_margin_s=HARD_EXIT_MARGIN_S, lease_s=args.lease or 3.0, keep=args.keep)
    print(format_report(report))
    if args.json:
        _write_json(args, chaos_json(report))
    return 0 if report.clean else 1

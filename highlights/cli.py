"""The ``highlights`` command line: parses arguments, configures logging, turns errors into text.

Subcommands live in ``highlights/cmd_*.py``; each adds its parser and a ``run(args) -> int``.
Every ``DetectorError`` and ``StorageError`` becomes one line on stderr (exit 2), secrets masked; Ctrl-C
cancels cleanly (exit 130).
"""

from __future__ import annotations

import argparse
import logging
import sys

from detector.errors import DetectorError
from storage.errors import StorageError
from storage.redact import install_log_redaction, redact


def build_parser() -> argparse.ArgumentParser:
    from highlights import (
        cmd_adapt,
        cmd_bench,
        cmd_bench_render,
        cmd_demo,
        cmd_detect,
        cmd_discord,
        cmd_doctor,
        cmd_eval,
        cmd_jobs,
        cmd_models,
        cmd_params,
        cmd_render,
        cmd_run,
        cmd_twitch,
        cmd_viewer_clips,
        cmd_worker,
    )

    parser = argparse.ArgumentParser(prog="highlights", description="Find the highlights of Twitch VODs.")
    parser.add_argument("--verbose", "-v", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (cmd_detect, cmd_demo, cmd_eval, cmd_adapt, cmd_bench, cmd_params, cmd_jobs, cmd_worker, cmd_run,
                   cmd_render, cmd_bench_render, cmd_models, cmd_twitch, cmd_viewer_clips, cmd_doctor,
                   cmd_discord):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()  # passwords and tokens never reach a log line (storage.redact)
    try:
        return int(args.func(args) or 0)
    except (DetectorError, StorageError) as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

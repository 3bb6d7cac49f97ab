"""``highlights run``: every component of one machine together — worker(s), bot and scheduler.

Consumes a storage URL and the worker options; produces child processes started with the *spawn*
method (never fork) and supervised until SIGTERM/SIGINT, which is forwarded to each child (a worker
finishes or releases its job, then exits). The storage is opened once first, so a bad URL fails at
once and the schema is migrated before the children start. Components that do not exist in this
installation are not started, and the log says which and why. With a PostgreSQL URL,
``--worker-only`` starts just the worker(s), to join a cluster whose bot runs elsewhere. Settings come
from the environment and from ``.env`` in the current folder (or ``--env-file``), the environment
winning (``highlights.env_file``).

A component other than the worker is a module with ``main(storage_url: str) -> int | None`` that
returns when its process gets SIGTERM (SIGINT is ignored in supervised children: Ctrl-C reaches the
whole process group, and the parent decides).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import multiprocessing
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from highlights.cmd_worker import (
    STOP_MARGIN_S,
    add_worker_options,
    config_from,
    configure_worker_logging,
    process_main,
    supervise_processes,
)

log = logging.getLogger(__name__)

COMPONENTS: tuple[tuple[str, str, str], ...] = (
    ("bot", "bot.app", 'the Discord bot needs the bot extra: pip install -e ".[bot]"'),
    ("scheduler", "storage.scheduler", 'the subscription scheduler needs APScheduler: pip install -e .'),
)
"""(name, module with ``main(storage_url)``, what to install when it is missing)."""
NEEDS = {"bot.app": "discord", "storage.scheduler": "apscheduler"}
"""The package each component's module cannot start without (its own module exists in every install)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run worker, bot and scheduler together on this machine",
                       description="Start every available component as a separate process and supervise them.")
    add_worker_options(p)
    p.add_argument("--worker-only", action="store_true",
                   help="start only the worker(s), e.g. to join a PostgreSQL cluster")
    p.add_argument("--only", metavar="LIST", default=None,
                   help="start only these components, comma-separated (worker, bot, scheduler)")
    p.add_argument("--env-file", metavar="PATH", type=Path, default=None,
                   help="settings file (default: .env in the current folder, if any); the environment wins over it")
    p.set_defaults(func=run)


def available(module: str) -> bool:
    """Whether ``module`` and the package it needs (``NEEDS``) are installed."""
    try:
        return all(importlib.util.find_spec(m) is not None for m in (module, NEEDS.get(module, module)))
    except ModuleNotFoundError:
        return False


def component_main(name: str, module: str, storage_url: str, log_level: int) -> None:
    """Entry point of a spawned bot/scheduler process (SIGINT is the parent's to handle)."""
    from storage.redact import install_log_redaction

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    try:
        code = importlib.import_module(module).main(storage_url)
    except KeyboardInterrupt:
        code = 0
    raise SystemExit(int(code or 0))


def run(args: argparse.Namespace) -> int:
    from detector.errors import ConfigError
    from highlights.env_file import load_env_file
    from storage.url import parse_storage_url

    load_env_file(args.env_file)  # before anything reads the environment (storage URL, token), and before spawning
    cfg = config_from(args)
    wanted = {"worker", *(name for name, _, _ in COMPONENTS)}
    if args.only:
        chosen = {c.strip() for c in args.only.split(",") if c.strip()}
        if chosen - wanted:
            raise ConfigError(f"--only: unknown component(s) {sorted(chosen - wanted)}.",
                              hint="Use some of worker, bot, scheduler.")
        wanted = chosen
    if args.worker_only:
        wanted = {"worker"}
        if parse_storage_url(cfg.storage_url).backend == "sqlite":
            log.warning("--worker-only with SQLite: the bot must run on this machine too (SQLite is not shared "
                        "across machines; use a postgresql:// URL for a cluster)")
    configure_worker_logging(cfg.log_level)
    asyncio.run(_migrate(cfg.storage_url))
    ctx = multiprocessing.get_context("spawn")
    procs: list[Any] = []
    if "worker" in wanted:
        gpus = max(args.gpus, 1)
        for i in range(gpus):
            worker_cfg = replace(cfg, gpu=i if args.gpus >= 2 else None, supervised=True, parent_pid=os.getpid())
            procs.append(ctx.Process(target=process_main, args=(worker_cfg,),
                                     name=f"worker-gpu{i}" if args.gpus >= 2 else "worker"))
    for name, module, why in COMPONENTS:
        if name not in wanted:
            continue
        if not available(module):
            log.warning("%s not started: %s", name, why)
            continue
        procs.append(ctx.Process(target=component_main, args=(name, module, cfg.storage_url, cfg.log_level),
                                 name=name))
    if not procs:
        raise ConfigError("Nothing to start: none of the chosen components exists in this installation.")
    print(f"highlights run: starting {', '.join(p.name for p in procs)} on "
          f"{parse_storage_url(cfg.storage_url).redacted}; stop with Ctrl-C or SIGTERM", file=sys.stderr)
    return supervise_processes(procs, stop_timeout_s=cfg.grace_s + STOP_MARGIN_S)


async def _migrate(url: str) -> None:
    from storage.factory import open_storage

    async with await open_storage(url):
        pass

"""``highlights worker``: run queued jobs — in this process, or one spawned process per GPU.

Consumes a storage URL and options; produces finished jobs (``detector.worker`` does the work). With
``--gpus N`` (N ≥ 2) the parent starts N children with the *spawn* start method (never fork: CUDA and
threads do not survive a fork), each seeing one GPU through ``CUDA_VISIBLE_DEVICES``, and forwards
SIGTERM/SIGINT to them. Each worker process resolves its compute device after it starts, applies the
retention policy once, removes what dead attempts left (``detector.scratch``), then claims jobs one at
a time until stopped; SIGTERM or SIGINT stops claiming and gives the running job ``--grace`` seconds
before it is aborted and released to another worker. A stop that overruns (a lost cancellation, a job
thread that never polls its abort flag) is ended by ``highlights.hard_exit``: the process always exits
within ``--grace`` + ``HARD_EXIT_MARGIN_S`` of SIGTERM, and at once on a second signal.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import time
from dataclasses import dataclass, replace
from typing import Any

from highlights.cmd_jobs import add_storage_option, storage_url_from

log = logging.getLogger(__name__)

JOB_LOG_FORMAT = "%(levelname)s %(name)s [%(job)s]: %(message)s"
_CLI_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
HANDLED_KINDS = ("detect", "cleanup", "render")
"""Kinds this worker has handlers for (``poll`` has none yet: asked for, it is skipped with a warning)."""
STOP_MARGIN_S = 15.0
"""A child gets its grace period plus this long to exit after SIGTERM before it is killed."""
HARD_EXIT_MARGIN_S = 8.0
"""After SIGTERM a worker process ends within its grace period plus this long, cleanly or not
(``highlights.hard_exit``): the release, the storage's close and the exit itself are bounded by it."""
SECOND_SIGNAL_EXIT_S = 2.0
"""A second SIGTERM or SIGINT ends the process within this long: the job is aborted and, if there is
time, released; otherwise its lease expires."""
EXIT_AFTER_SERVE_S = 30.0
"""Once the worker loop ended, leaving ``asyncio.run`` (closing tasks, joining threads) may take this long."""


@dataclass(frozen=True, slots=True, repr=False)
class WorkerConfig:
    """Everything a worker process needs; picklable, so it crosses the spawn boundary. Its repr masks the
    storage URL's password."""

    storage_url: str
    artifacts: str | None = None
    kinds: tuple[str, ...] = HANDLED_KINDS
    device: str = "auto"
    grace_s: float = 30.0
    min_free_bytes: int = 2 * 1024**3
    retention_days: float = 30.0
    idle_s: float = 1.0
    lease_s: float | None = None
    """The lease of claimed jobs (s); None: ``storage.queue.timeouts``. Tests and benches shorten it."""
    once: bool = False
    gpu: int | None = None
    """Index of the one GPU this process may use (sets ``CUDA_VISIBLE_DEVICES``); None: leave it."""
    log_level: int = logging.WARNING
    supervised: bool = False
    """Started by ``supervise_processes``: ignore SIGINT and stop on the SIGTERM the parent forwards."""
    parent_pid: int | None = None
    """The supervising process (set by it): a supervised worker stops when that process ends."""

    def __repr__(self) -> str:
        from storage.redact import redacted_repr

        return redacted_repr(self)


def add_worker_options(p: argparse.ArgumentParser) -> None:
    add_storage_option(p)
    p.add_argument("--artifacts", metavar="DIR", help="artifact root (default: $HIGHLIGHTS_ARTIFACTS, "
                   "else <db>-artifacts/ beside a SQLite file, else ./artifacts)")
    p.add_argument("--gpus", type=int, default=0, metavar="N",
                   help="start N worker processes, one per GPU (default: one process, CPU or the visible GPU)")
    p.add_argument("--kinds", default=",".join(HANDLED_KINDS), metavar="LIST",
                   help=f"job kinds to claim, comma-separated (default {','.join(HANDLED_KINDS)})")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "torch-cpu"],
                   help="compute device for detect jobs (auto: GPU when available)")
    p.add_argument("--grace", type=float, default=30.0, metavar="S",
                   help="on SIGTERM, seconds the running job may take to finish before it is released (default 30)")
    p.add_argument("--min-free-gb", type=float, default=2.0, metavar="GB",
                   help="refuse heavy steps with less free disk under the artifact root (default 2)")
    p.add_argument("--retention-days", type=float, default=30.0, metavar="DAYS",
                   help="delete job artifact folders older than this at start and in cleanup jobs (default 30)")
    p.add_argument("--poll-interval", type=float, default=1.0, metavar="S",
                   help="pause between claims while the queue is empty (default 1)")
    p.add_argument("--lease", type=float, default=None, metavar="S",
                   help="lease of claimed jobs in seconds, heartbeats four times as often (default: the "
                        "queue's, 20); for tests and benches that kill workers, all workers alike")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run queued jobs (detect, cleanup) until stopped",
                       description="Claim jobs from the queue and run them, one at a time per process.")
    add_worker_options(p)
    p.add_argument("--once", action="store_true", help="exit when no job is runnable instead of waiting")
    p.set_defaults(func=run)


def config_from(args: argparse.Namespace, *, once: bool = False) -> WorkerConfig:
    from detector.errors import ConfigError

    kinds: list[str] = []
    for raw in str(args.kinds).split(","):
        kind = raw.strip().lower()
        if not kind:
            continue
        if kind == "poll":
            log.warning("poll jobs are not claimed: this worker has no handler for them (it claims %s)",
                        ", ".join(HANDLED_KINDS))
            continue
        if kind not in HANDLED_KINDS:
            raise ConfigError(f"--kinds: unknown job kind {kind!r}.", hint=f"Use some of {', '.join(HANDLED_KINDS)}.")
        kinds.append(kind)
    if not kinds:
        raise ConfigError("--kinds leaves nothing to claim.", hint=f"Use some of {', '.join(HANDLED_KINDS)}.")
    for name in ("grace", "min_free_gb", "retention_days", "poll_interval"):
        if getattr(args, name) < 0:
            raise ConfigError(f"--{name.replace('_', '-')} must not be negative.")
    lease = getattr(args, "lease", None)
    if lease is not None and not 0.5 <= lease <= 3600:
        raise ConfigError(f"--lease {lease:g} is out of range.", hint="Give 0.5 to 3600 seconds.")
    if args.gpus < 0:
        raise ConfigError("--gpus must not be negative.")
    return WorkerConfig(storage_url=storage_url_from(args), artifacts=args.artifacts, kinds=tuple(dict.fromkeys(kinds)),
                        device=args.device, grace_s=args.grace, min_free_bytes=int(args.min_free_gb * 1024**3),
                        retention_days=args.retention_days, idle_s=args.poll_interval, lease_s=lease,
                        once=once or bool(getattr(args, "once", False)),
                        log_level=logging.getLogger().getEffectiveLevel())


def run(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    configure_worker_logging(cfg.log_level)
    if args.gpus >= 2:
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=process_main, args=(replace(cfg, gpu=i, supervised=True, parent_pid=os.getpid()),),
                             name=f"worker-gpu{i}") for i in range(args.gpus)]
        return supervise_processes(procs, stop_timeout_s=cfg.grace_s + STOP_MARGIN_S)
    return serve_until_stopped(cfg)


def serve_until_stopped(cfg: WorkerConfig) -> int:
    """``serve`` on a fresh event loop, with the hard-exit watchdog behind its shutdown."""
    from highlights.hard_exit import HardExit

    watchdog = HardExit()
    try:
        return asyncio.run(serve(cfg, watchdog))
    finally:
        watchdog.disarm()  # in-process callers (tests) go on living


# -- one worker process -------------------------------------------------------------------------------------
def process_main(cfg: WorkerConfig) -> None:
    """Entry point of a spawned worker process; exits with ``serve``'s status.

    A supervised worker leads a process group of its own (its ffmpeg children join it, so the parent can
    kill them all if the worker dies) and gets SIGTERM when its parent ends (``detector.children``)."""
    if cfg.supervised:
        from detector.children import follow_parent

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.setpgid(0, 0)
        follow_parent(signal.SIGTERM, parent_pid=cfg.parent_pid)
    if cfg.gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(cfg.gpu)  # before anything can import torch
    configure_worker_logging(cfg.log_level)
    try:
        code = serve_until_stopped(cfg)
    except KeyboardInterrupt:  # a Ctrl-C that arrived before the signal handlers were installed
        code = 0
    except Exception as exc:
        log.error("worker process failed: %s", exc, exc_info=not hasattr(exc, "code"))
        code = 2
    raise SystemExit(code)


def configure_worker_logging(level: int) -> None:
    """Job ids in every record; the CLI's handler (or a new one) shows them as ``[job N]``."""
    from detector.job_control import install_job_log_records
    from storage.redact import install_log_redaction

    install_job_log_records()
    install_log_redaction()
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format=JOB_LOG_FORMAT)
        return
    for handler in root.handlers:
        fmt = getattr(handler.formatter, "_fmt", None)
        if fmt == _CLI_LOG_FORMAT:
            handler.setFormatter(logging.Formatter(JOB_LOG_FORMAT))


async def serve(cfg: WorkerConfig, watchdog: Any = None) -> int:
    """Open the storage, apply retention, then run jobs until a signal (or ``once``) ends it.

    ``watchdog`` (a ``highlights.hard_exit.HardExit``) is armed by the signal handlers and when the
    loop ends, so a stop that hangs still ends the process on time; None: no backstop (tests).
    """
    from detector.compute import select_backend
    from detector.scratch import sweep
    from detector.worker import Worker, WorkerOptions
    from storage.artifacts import ArtifactStore
    from storage.factory import open_storage
    from storage.records import JobKind, JobStatus

    worker_id = f"{socket.gethostname()}:{os.getpid()}" + (f":gpu{cfg.gpu}" if cfg.gpu is not None else "")
    from storage.queue.timeouts import with_lease

    timeouts = with_lease(cfg.lease_s) if cfg.lease_s is not None else None
    async with await open_storage(cfg.storage_url, timeouts=timeouts) as storage:
        artifacts = ArtifactStore.for_storage(cfg.storage_url, cfg.artifacts, min_free_bytes=cfg.min_free_bytes)
        active = await storage.queue.list_jobs(statuses=[JobStatus.QUEUED, JobStatus.RUNNING], limit=100_000)
        await asyncio.to_thread(artifacts.clean_older_than, cfg.retention_days, keep={j.id for j in active})
        # What dead attempts left (ffmpeg's .part files, scratch folders): older than a lease, so never a live job's.
        lease_s = max(t.lease_s for t in storage.timeouts.values())
        await asyncio.to_thread(sweep, artifacts.jobs_root, lease_s)
        if "detect" in cfg.kinds:
            backend = await asyncio.to_thread(select_backend, cfg.device)  # loads the device after start
            log.info("worker %s: compute on %s:%s%s", worker_id, backend.name, backend.device,
                     f" (CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']})" if cfg.gpu is not None else "")
        options = WorkerOptions(worker_id=worker_id, kinds=tuple(JobKind(k) for k in cfg.kinds), device=cfg.device,
                                grace_s=cfg.grace_s, retention_days=cfg.retention_days, idle_s=cfg.idle_s,
                                once=cfg.once, timeouts=storage.timeouts)
        worker = Worker(storage.queue, storage.repo, artifacts, options)
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM,) if cfg.supervised else (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, _on_signal, worker, sig, watchdog)
        log.info("worker %s: claiming %s jobs from %s, artifacts under %s", worker_id, ",".join(cfg.kinds),
                 storage.url.redacted, artifacts.root)
        try:
            handled = await worker.run()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            if watchdog is not None:
                watchdog.arm(EXIT_AFTER_SERVE_S, f"worker {worker_id} did not exit within {EXIT_AFTER_SERVE_S:g} s "
                             "of its loop ending")
    log.info("worker %s: stopped after %d job(s)", worker_id, handled)
    return 0


def _on_signal(worker: Any, sig: signal.Signals, watchdog: Any = None) -> None:
    again = worker.stopping
    grace = worker.options.grace_s
    log.warning("worker: %s received: %s", sig.name, "aborting the running job and exiting now" if again else
                f"no new jobs; a running job gets {grace:g} s to finish before it is released")
    worker.stop(grace_s=0.0 if again else None)
    if watchdog is not None:
        if again:
            watchdog.arm(SECOND_SIGNAL_EXIT_S, f"{sig.name} received again")
        else:
            watchdog.arm(grace + HARD_EXIT_MARGIN_S, f"the worker did not stop within --grace {grace:g} s + "
                         f"{HARD_EXIT_MARGIN_S:g} s of {sig.name}")


# -- a set of child processes (GPU workers here; worker, bot and scheduler in `highlights run`) ---------------
def supervise_processes(procs: list[Any], *, stop_timeout_s: float) -> int:
    """Start ``procs`` and wait; on SIGTERM/SIGINT forward SIGTERM to each and wait for them to exit.

    The children ignore SIGINT (a terminal's Ctrl-C reaches the whole process group): only this
    process decides. A second signal is forwarded again, which makes workers abort and release their
    job at once. Returns 0 when every child ended normally or was stopped through this process; 1
    when a child failed on its own (the others are then stopped too).
    """
    signals: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: signals.append(signum))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        for p in procs:
            p.start()
            log.info("started %s (pid %s)", p.name, p.pid)
        running = list(procs)
        while running and not signals:
            multiprocessing.connection.wait([p.sentinel for p in running], timeout=0.5)
            for p in [p for p in running if not p.is_alive()]:
                running.remove(p)
                _reap_group(p)
                if p.exitcode != 0:
                    log.error("%s exited with status %s; stopping the others", p.name, p.exitcode)
                    status = 1
            if status:
                break
        if signals:
            log.warning("%s received: stopping %d process(es)", signal.Signals(signals[0]).name, len(running))
        _stop_children(running, signals, stop_timeout_s)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def _stop_children(running: list[Any], signals: list[int], timeout_s: float) -> None:
    stopping = list(running)
    forwarded = len(signals)
    for p in running:
        p.terminate()  # SIGTERM: each child finishes or releases its job, then exits
    deadline = time.monotonic() + timeout_s
    while running and time.monotonic() < deadline:
        multiprocessing.connection.wait([p.sentinel for p in running], timeout=0.5)
        running[:] = [p for p in running if p.is_alive()]
        if len(signals) > forwarded:  # asked again: forward again (workers then abort at once)
            forwarded = len(signals)
            log.warning("signal received again: telling %d process(es) to stop now", len(running))
            for p in running:
                p.terminate()
    for p in running:
        log.warning("%s did not exit within %.0f s; killing it", p.name, timeout_s)
        p.kill()
        p.join()
    for p in stopping:
        _reap_group(p)


def _reap_group(p: Any) -> None:
    """Kill whatever is left in an ended child's process group (a worker's ffmpeg, if it died first)."""
    from detector.children import kill_group

    if p.pid is not None and kill_group(p.pid):
        log.info("%s ended; killed what was left of its process group", p.name)

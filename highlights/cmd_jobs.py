"""``highlights jobs``: add a detect job to the queue, list jobs, show one, cancel one.

Consumes a storage URL (``--storage`` or ``$HIGHLIGHTS_STORAGE_URL``) and local files; produces queue
entries (through the ``JobQueue`` port) and text on stdout. The same media, chat log and settings
join the job already queued or running instead of adding a second one: the dedupe key is a hash of
the canonical paths (symlinks resolved), the files' sizes and modification times, and the resolved
parameters as numbers (``--top 10`` is the default 10).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from detector.errors import ChatFormatError, MediaError
from highlights.cmd_detect import check_top
from storage.errors import StorageError

ENV_STORAGE_URL = "HIGHLIGHTS_STORAGE_URL"
PRIORITIES = {"scheduled": 0, "person": 10, "admin": 20}


# -- shared by the storage commands (jobs, worker, run) -------------------------------------------------
def add_storage_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", metavar="URL", default=None,
                   help=f"sqlite:///file.db or postgresql://user:pass@host/db (default: ${ENV_STORAGE_URL})")


def storage_url_from(args: argparse.Namespace) -> str:
    url = args.storage or os.environ.get(ENV_STORAGE_URL, "").strip()
    if not url:
        raise StorageError(f"No storage URL: pass --storage URL or set {ENV_STORAGE_URL} "
                           "(e.g. sqlite:///highlights.db).")
    return url


def with_storage(args: argparse.Namespace, body: Callable[[Any], Awaitable[int]]) -> int:
    """Open the storage named by ``args``, run ``body(storage)`` on a fresh event loop, close it."""
    from storage.factory import open_storage

    async def main() -> int:
        async with await open_storage(storage_url_from(args)) as storage:
            return await body(storage)

    return asyncio.run(main())


# -- the parser ------------------------------------------------------------------------------------------
def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("jobs", help="add, list, show and cancel queued jobs",
                       description="Work with the job queue that `highlights worker` runs.")
    actions = p.add_subparsers(dest="jobs_action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="queue a detect job for a local media file and/or chat log")
    add.add_argument("media", nargs="?", type=Path, help="video or audio file ffmpeg can read")
    add.add_argument("--chat", type=Path, help="chat log file")
    add.add_argument("--top", type=int, default=None, metavar="K", help="how many candidates (default 10)")
    add.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                     help="override one parameter (repeatable); `highlights params` lists them")
    add.add_argument("--priority", choices=sorted(PRIORITIES), default="person",
                     help="a person's request runs before a scheduled one (default person)")
    add_storage_option(add)
    add.set_defaults(func=run_add)

    ls = actions.add_parser("list", help="list recent jobs, newest first")
    ls.add_argument("--status", action="append", default=[], choices=["queued", "running", "succeeded", "failed",
                                                                      "cancelled"], help="only these (repeatable)")
    ls.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    add_storage_option(ls)
    ls.set_defaults(func=run_list)

    show = actions.add_parser("show", help="one job in full, with its clips")
    show.add_argument("job_id", type=int, metavar="ID")
    add_storage_option(show)
    show.set_defaults(func=run_show)

    cancel = actions.add_parser("cancel", help="cancel a queued job, or ask a running one to stop")
    cancel.add_argument("job_id", type=int, metavar="ID")
    add_storage_option(cancel)
    cancel.set_defaults(func=run_cancel)


# -- add ---------------------------------------------------------------------------------------------------
def _file_identity(path: Path, kind: str) -> tuple[str, list[Any]]:
    """The file's canonical path (symlinks resolved, so a link and its target join one job) and identity."""
    from detector.sources.input_files import file_problem

    problem = file_problem(path.expanduser())
    if problem is not None:
        if kind == "chat":
            raise ChatFormatError("file not found" if problem.code == "missing" else f"the chat log {problem.text}",
                                  path=str(path), hint=problem.hint if problem.code != "missing" else
                                  "Check the path of --chat.")
        if problem.code == "missing":
            raise MediaError(f"Media file {path} does not exist.", hint="Check the path.")
        raise MediaError(f"Media file {path} {problem.text}.", hint=problem.hint)
    real = path.expanduser().resolve()
    st = real.stat()
    return str(real), [str(real), st.st_size, st.st_mtime_ns]


def canonical_settings(values: dict[str, Any]) -> dict[str, float]:
    """Parameter values as floats: ``--top 10`` (an int) and the default ``10.0`` are the same setting."""
    return {name: float(value) for name, value in sorted(values.items())}


def detect_payload(media: Path | None, chat: Path | None, overrides: list[str],
                   top: int | None = None) -> tuple[dict[str, Any], str]:
    """The DETECT payload (see ``detector.worker``) and its dedupe key."""
    from detector.errors import DetectorError
    from detector.params import PARAMS_BY_NAME, Settings

    if media is None and chat is None:
        raise DetectorError("Nothing to detect on.", hint="Give a media file, a chat log (--chat), or both.")
    settings = Settings.load(None, [*overrides, *([f"top_k={top}"] if top is not None else [])])
    resolved = settings.as_dict()
    changed = {k: v for k, v in resolved.items() if v != PARAMS_BY_NAME[k].default}
    payload: dict[str, Any] = {"media": None, "chat": None, "settings": changed}
    identity: dict[str, Any] = {"kind": "detect", "settings": canonical_settings(resolved)}
    for name, path in (("media", media), ("chat", chat)):
        if path is not None:
            payload[name], identity[name] = _file_identity(path, name)
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return payload, f"detect:{digest[:40]}"


def run_add(args: argparse.Namespace) -> int:
    from storage.records import JobKind, JobRequest

    payload, key = detect_payload(args.media, args.chat, args.overrides, check_top(args.top))
    request = JobRequest(kind=JobKind.DETECT, payload=payload, dedupe_key=key,
                         priority=PRIORITIES[args.priority], requested_by="cli")

    async def body(storage: Any) -> int:
        result = await storage.queue.enqueue(request)
        job = result.job
        if result.created:
            print(f"queued job {job.id}")
        else:
            print(f"joined job {job.id} ({job.status}): the same files and settings are already queued")
        return 0

    return with_storage(args, body)


# -- list / show / cancel ---------------------------------------------------------------------------------
def _source(job: Any) -> str:
    p = job.payload or {}
    names = [Path(str(p[k])).name for k in ("media", "chat") if p.get(k)]
    return " + ".join(names) or str(p.get("days", "")) or "-"


def run_list(args: argparse.Namespace) -> int:
    from storage.records import JobStatus

    async def body(storage: Any) -> int:
        statuses = [JobStatus(s) for s in args.status] or None
        jobs = await storage.queue.list_jobs(statuses=statuses, limit=args.limit)
        if not jobs:
            print("no jobs")
            return 0
        print(f"{'ID':>5}  {'KIND':<8} {'STATUS':<10} {'PROGRESS':>8}  {'STAGE':<18} {'TRIES':>5}  {'CREATED (UTC)':<19}  SOURCE")
        for j in jobs:
            print(f"{j.id:>5}  {j.kind:<8} {j.status:<10} {j.progress * 100:>7.0f}%  {(j.stage or '-')[:18]:<18} "
                  f"{j.attempts:>2}/{j.max_attempts:<2}  {j.created_at:%Y-%m-%d %H:%M:%S}  {_source(j)}")
        return 0

    return with_storage(args, body)


def run_show(args: argparse.Namespace) -> int:
    async def body(storage: Any) -> int:
        job = await storage.queue.get(args.job_id)
        print(f"job {job.id}: {job.kind}, {job.status}")
        rows = [("stage", job.stage), ("progress", f"{job.progress * 100:.0f}%"),
                ("attempts", f"{job.attempts} of {job.max_attempts}"), ("priority", job.priority),
                ("created", job.created_at), ("started", job.started_at), ("finished", job.finished_at),
                ("lease", f"{job.lease_owner} until {job.lease_expires_at:%H:%M:%S} UTC"
                 if job.status == "running" and job.lease_owner and job.lease_expires_at else None),
                ("worker", job.lease_owner if job.status != "running" else None),
                ("cancel requested", "yes" if job.cancel_requested else None),
                ("error", f"{job.error_code}: {job.error_message}" if job.error_code else None),
                ("payload", json.dumps(job.payload, sort_keys=True)),
                ("result", json.dumps(job.result, sort_keys=True) if job.result is not None else None)]
        for name, value in rows:
            if value is not None:
                print(f"  {name + ':':<17} {value}")
        clips = await storage.repo.list_clips(job.id)
        if clips:
            print(f"  clips ({len(clips)}):")
        for c in clips:
            summary = (c.explanation or {}).get("summary", "")
            print(f"    {c.rank:>3}. {c.start_s:8.1f}–{c.end_s:<8.1f} s  score {c.score:6.2f}  {summary}")
        return 0

    return with_storage(args, body)


def run_cancel(args: argparse.Namespace) -> int:
    from storage.records import JobStatus

    async def body(storage: Any) -> int:
        job = await storage.queue.cancel(args.job_id, by="cli")
        if job.status is JobStatus.RUNNING:
            print(f"job {job.id}: cancel requested; its worker stops at the next check")
        else:
            print(f"job {job.id}: {job.status}")
        return 0

    return with_storage(args, body)

"""Chaos bench: SIGKILL a real worker in the middle of a stage, let a second one finish the job, count.

Consumes a storage URL (a fresh database), a job (media, chat, render spec) and the stage to kill in:
``decode`` (ffmpeg decoding the audio), ``clip`` (ffmpeg encoding a clip into its ``.part`` file) or
``reel`` (ffmpeg encoding the reel). Produces a ``KillOutcome``: whether the stage was reached, the
worker's ffmpeg children that outlived it (orphans), how long until the job ran again and finished,
whether it was lost or ran twice, and what was left behind (``.part`` files, scratch folders). The
stage is recognised from the worker's children as ``/proc`` shows them, so the kill lands while
ffmpeg works, as the issue's reproduction did.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.bench.chaos_procs import (
    Proc,
    alive,
    children_of,
    kill_all,
    leftovers_in,
    start_worker,
    stop,
    wait_for_child,
    wait_gone,
)

STAGES: dict[str, Callable[[Proc], bool]] = {
    "decode": lambda p: "s16le" in p.argv,
    "clip": lambda p: any(".part." in a and ".clip-" in a for a in p.argv),
    "reel": lambda p: any(".part." in a and ".reel." in a for a in p.argv),
}
"""How each stage shows among a worker's children (``detector.render.runner`` writes ``.<name>.<hex>.part.mp4``)."""


class _Every:
    """True once per ``period_s`` (a cheap gate for an expensive check inside a fast poll)."""

    def __init__(self, period_s: float) -> None:
        self.period_s, self.next = period_s, 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now < self.next:
            return False
        self.next = now + self.period_s
        return True


def _finished(url: str, job_id: int) -> bool:
    job, _ = asyncio.run(job_state(url, job_id))
    return job.status.value not in ("queued", "running")
ORPHAN_WAIT_S = 1.0
"""A killed worker's ffmpeg must be gone this soon: the parent-death signal is immediate, while an orphan
still works on its file."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    media: Path
    chat: Path | None = None
    render: dict[str, Any] | None = None
    overrides: tuple[str, ...] = ("min_gap_s=30",)
    top: int = 3


@dataclass(frozen=True, slots=True)
class KillOutcome:
    backend: str
    stage: str
    reached: bool
    ffmpeg_at_kill: int = 0
    orphans: int = 0
    rerun_s: float | None = None
    status: str = "?"
    attempts: int = 0
    lost: bool = False
    duplicated: bool = False
    leftovers: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


async def enqueue(url: str, spec: JobSpec) -> int:
    """Queue ``spec`` as a DETECT job (the payload ``detector.job_payload`` reads); its id."""
    from storage.factory import open_storage
    from storage.records import JobKind, JobRequest

    settings: dict[str, float] = {"top_k": float(spec.top)}
    for item in spec.overrides:
        name, _, value = item.partition("=")
        settings[name.strip()] = float(value)
    payload: dict[str, Any] = {"media": str(spec.media.resolve()),
                               "chat": str(spec.chat.resolve()) if spec.chat else None, "settings": settings}
    if spec.render:
        payload["render"] = dict(spec.render)
    async with await open_storage(url) as storage:
        result = await storage.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload=payload))
    return result.job.id


async def job_state(url: str, job_id: int) -> tuple[Any, list[Any]]:
    from storage.factory import open_storage

    async with await open_storage(url, migrate_schema=False) as storage:
        return await storage.queue.get(job_id), await storage.repo.list_clips(job_id)


async def wait_finished(url: str, job_id: int, timeout_s: float) -> tuple[Any, list[Any]]:
    """Poll the job until it leaves queued/running (or ``timeout_s`` passes); the job and its clips."""
    deadline = time.monotonic() + timeout_s
    while True:
        job, clips = await job_state(url, job_id)
        if job.status.value not in ("queued", "running") or time.monotonic() > deadline:
            return job, clips
        await asyncio.sleep(0.25)


async def kill_mid_stage(url: str, backend: str, stage: str, spec: JobSpec, work: Path, *, lease_s: float,
                         timeout_s: float = 240.0) -> KillOutcome:
    """One scenario (see the module docstring), in ``work`` (artifacts, temp folder, worker logs)."""
    art, tmp = work / "artifacts", work / "tmp"
    work.mkdir(parents=True, exist_ok=True)
    job_id = await enqueue(url, spec)
    gate = _Every(1.0)

    def _finished_soon(url: str, job_id: int) -> bool:  # runs in the polling thread, once a second
        return gate() and _finished(url, job_id)

    first = start_worker(url, art, tmp, work / "worker-a.log", lease_s=lease_s)
    try:
        hits = await asyncio.to_thread(wait_for_child, first.pid, STAGES[stage], timeout_s,
                                       lambda: first.poll() is None and not _finished_soon(url, job_id))
        kids = [c.pid for c in children_of(first.pid)]
    finally:
        first.kill()
        first.wait()
    killed_at = time.monotonic()
    if not hits:
        kill_all(alive(kids))
        job, _ = await job_state(url, job_id)
        return KillOutcome(backend, stage, reached=False, status=job.status.value,
                           notes=(f"ffmpeg of the {stage} stage never showed (the job is {job.status.value})",))
    orphans = await asyncio.to_thread(wait_gone, kids, ORPHAN_WAIT_S)
    kill_all(orphans)
    second = start_worker(url, art, tmp, work / "worker-b.log", lease_s=lease_s)
    try:
        job, clips = await wait_finished(url, job_id, timeout_s)
        rerun_s = time.monotonic() - killed_at
    finally:
        code, _ = await asyncio.to_thread(stop, second, 30.0)
    ranks = [c.rank for c in clips]
    status = job.status.value
    left = tuple(str(p.relative_to(work)) for p in leftovers_in(art, tmp))
    notes = () if code == 0 else (f"the second worker exited with {code} on SIGTERM",)
    return KillOutcome(backend, stage, reached=True, ffmpeg_at_kill=len(kids), orphans=len(orphans),
                       rerun_s=rerun_s if status == "succeeded" else None, status=status, attempts=job.attempts,
                       lost=status != "succeeded", duplicated=len(ranks) != len(set(ranks)) or job.attempts > 2,
                       leftovers=left, notes=notes)

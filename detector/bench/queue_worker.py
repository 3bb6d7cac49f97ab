"""Queue benchmark (``highlights bench queue``): one worker process, run by the benchmark's parent.

Run as ``python -m detector.bench.queue_worker URL LEASE_S IDLE_S NAME`` (``LEASE_S`` ``default``: the
real lease of ``storage.queue.timeouts``). Consumes the queue named by URL through ``open_storage``
and runs the real ``detector.worker.Worker`` loop on it (claims, the idle wait, stalled-job recovery)
with a trivial job body: a bench job is completed at once, except a job whose payload says ``hold``,
which its first worker keeps, heartbeating through ``JobControl``, until the parent SIGKILLs it.

Produces one line per event on stdout for the parent (``detector.bench.queue_bench``)::

    ready NAME
    claimed JOB_ID ATTEMPT UNIX_TIME
    completed JOB_ID UNIX_TIME

It starts claiming when a ``go`` line arrives on stdin and stops when stdin closes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from detector.job_control import JobControl
from detector.worker import Worker, WorkerOptions
from storage.artifacts import ArtifactStore
from storage.queue.port import JobQueue
from storage.queue.timeouts import KindTimeouts, with_overrides
from storage.records import Job, JobKind, JobStatus
from storage.repo.port import Repository

log = logging.getLogger(__name__)

BENCH_KIND = JobKind.DETECT
"""The kind of every bench job: the GPU queue's, whose lease matters when a worker is killed."""
HEARTBEATS_PER_LEASE = 5
"""With ``--lease``, workers heartbeat (and look for stalled jobs) this many times per lease at least."""


def bench_timeouts(lease_s: float | None) -> dict[JobKind, KindTimeouts]:
    """The real timeouts table, or with every lease set to ``lease_s`` (heartbeats shortened to match)."""
    table = with_overrides(None)
    if lease_s is None:
        return table
    return {kind: replace(t, lease_s=lease_s, heartbeat_s=min(t.heartbeat_s, lease_s / HEARTBEATS_PER_LEASE))
            for kind, t in table.items()}


class BenchWorker(Worker):
    """The real worker loop; ``run_job`` reports the claim and completes the job (or holds it)."""

    def __init__(self, queue: JobQueue, repo: Repository, artifacts: ArtifactStore, options: WorkerOptions,
                 emit: Callable[[str], None]) -> None:
        super().__init__(queue, repo, artifacts, options)
        self._emit = emit
        self._holding: JobControl | None = None

    def stop(self, *, grace_s: float | None = None) -> None:
        super().stop(grace_s=grace_s)
        if self._holding is not None:
            self._holding.begin_shutdown(0.0)

    async def run_job(self, job: Job) -> JobStatus | None:
        claimed_at = time.time()
        self._emit(f"claimed {job.id} {job.attempts} {claimed_at:.6f}")
        wid = self.options.worker_id
        self.handled += 1
        if job.payload.get("hold") and job.attempts == 1:
            control = JobControl(asyncio.get_running_loop(), self.queue, job, wid,
                                 self.timeouts[job.kind].heartbeat_s)
            if self.stopping:
                control.begin_shutdown(0.0)
            self._holding = control
            try:
                await control.supervise(_hold(control))  # heartbeats until this process is killed, or stopped
            finally:
                self._holding = None
            await self.queue.release(job.id, wid)  # stopped (the bench gave up) rather than killed
            return JobStatus.QUEUED
        if not await self.queue.complete(job.id, wid, {"by": wid}):
            log.warning("bench job %d: completion refused (the lease was lost)", job.id)
            return None
        self._emit(f"completed {job.id} {time.time():.6f}")
        return JobStatus.SUCCEEDED


async def _hold(control: JobControl) -> None:
    """The held job's work: nothing, until its control says stop."""
    while not control.should_abort():
        await asyncio.sleep(0.05)


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def serve(url: str, lease_s: float | None, idle_s: float, name: str) -> int:
    """Connect, report ready, wait for ``go``, run the worker loop until stdin closes."""
    from storage.factory import open_storage

    async with await open_storage(url, timeouts=bench_timeouts(lease_s), migrate_schema=False) as storage:
        scratch = Path(tempfile.gettempdir()) / f"highlights-queue-bench-{os.getpid()}"  # never written
        options = WorkerOptions(worker_id=f"{name}:{os.getpid()}", kinds=(BENCH_KIND,), idle_s=idle_s,
                                timeouts=storage.timeouts)
        worker = BenchWorker(storage.queue, storage.repo, ArtifactStore(root=scratch), options, emit=_emit)
        stdin = await _stdin_reader()
        _emit(f"ready {name}")
        if (await stdin.readline()).strip() != b"go":
            return 0
        running = asyncio.create_task(worker.run())
        closed = asyncio.create_task(stdin.read())  # returns when the parent closes our stdin
        await asyncio.wait({running, closed}, return_when=asyncio.FIRST_COMPLETED)
        worker.stop(grace_s=0.0)
        closed.cancel()
        await running
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: python -m detector.bench.queue_worker URL LEASE_S|default IDLE_S NAME", file=sys.stderr)
        return 2
    url, lease, idle, name = argv
    # Expected warnings (the killed worker's job being recovered) would only clutter the bench's output.
    logging.basicConfig(level=logging.ERROR, format=f"{name} %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(serve(url, None if lease == "default" else float(lease), float(idle), name))
    except KeyboardInterrupt:  # Ctrl-C in the terminal reaches the whole process group; the parent cleans up
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

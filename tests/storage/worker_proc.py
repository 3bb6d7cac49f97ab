"""Worker processes for the storage contract tests, run as ``python -m tests.storage.worker_proc``.

They use only ``open_storage(url)`` and the ``JobQueue`` port, so they run unchanged on every
backend. Modes (all take the storage URL first, then the lease in seconds):

- ``hold URL LEASE READY_FILE``: claim one ``detect`` job, write its id to READY_FILE, then heartbeat
  until killed (the victim of the SIGKILL test). Exits 3 if it ever loses the lease.
- ``drain URL LEASE OUT_FILE WORKER_ID GO_FILE``: connect, write OUT_FILE.ready, wait for GO_FILE (so
  several workers start together), then claim and complete ``detect`` jobs until none is left,
  appending each executed job id to OUT_FILE before completing it. Exits 4 if a completion is refused.
- ``churn URL LEASE SECONDS WORKER_ID``: for SECONDS, enqueue, claim, report progress and complete
  ``poll`` jobs while reading the job list; prints the number of operations. Any storage error
  (e.g. "database is locked") ends it with a traceback and a non-zero status.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from storage import open_storage
from storage.queue.timeouts import KindTimeouts
from storage.records import JobKind, JobRequest, Priority


def short_timeouts(lease_s: float) -> dict[JobKind, KindTimeouts]:
    """Leases of ``lease_s`` seconds, heartbeats five times per lease, fast backoff."""
    return {kind: KindTimeouts(lease_s=lease_s, heartbeat_s=lease_s / 5, max_runtime_s=600.0, max_attempts=3,
                               backoff_base_s=0.2, backoff_max_s=1.0) for kind in JobKind}


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def hold(url: str, lease_s: float, ready_file: Path) -> int:
    timeouts = short_timeouts(lease_s)
    async with await open_storage(url, timeouts=timeouts) as storage:
        worker = f"victim-{os.getpid()}"
        deadline = time.monotonic() + 30
        job = None
        while job is None and time.monotonic() < deadline:
            job = await storage.queue.claim(worker, [JobKind.DETECT])
            if job is None:
                await asyncio.sleep(0.05)
        if job is None:
            return 2
        await storage.queue.progress(job.id, worker, stage="download", fraction=0.1)
        _write_atomically(ready_file, str(job.id))
        while True:  # until SIGKILL
            beat = await storage.queue.heartbeat(job.id, worker)
            if not beat.owned:
                return 3
            await asyncio.sleep(timeouts[JobKind.DETECT].heartbeat_s)


async def drain(url: str, lease_s: float, out_file: Path, worker: str, go_file: Path) -> int:
    async with await open_storage(url, timeouts=short_timeouts(lease_s)) as storage:
        _write_atomically(out_file.with_name(out_file.name + ".ready"), worker)
        deadline = time.monotonic() + 30
        while not go_file.exists():
            if time.monotonic() > deadline:
                return 2
            await asyncio.sleep(0.01)
        with out_file.open("a") as out:
            while (job := await storage.queue.claim(worker, [JobKind.DETECT])) is not None:
                out.write(f"{job.id}\n")
                out.flush()
                await storage.queue.progress(job.id, worker, stage="detect", fraction=0.5)
                await asyncio.sleep(0.005)  # a little work, so the workers' claims interleave
                if not await storage.queue.complete(job.id, worker, {"by": worker}):
                    return 4
    return 0


async def churn(url: str, lease_s: float, seconds: float, worker: str) -> int:
    operations = 0
    async with await open_storage(url, timeouts=short_timeouts(lease_s)) as storage:
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            n += 1
            await storage.queue.enqueue(JobRequest(kind=JobKind.POLL, payload={"n": n}, priority=Priority.SCHEDULED,
                                                   dedupe_key=f"{worker}-{n}", requested_by=worker))
            job = await storage.queue.claim(worker, [JobKind.POLL])
            if job is not None:
                for step in range(3):
                    await storage.queue.progress(job.id, worker, stage="poll", fraction=step / 3)
                await storage.queue.heartbeat(job.id, worker)
                await storage.queue.complete(job.id, worker, {"n": n})
            await storage.queue.list_jobs(limit=20)
            operations += 8
    print(operations)
    return 0


def main(argv: list[str]) -> int:
    mode, url, lease = argv[0], argv[1], float(argv[2])
    if mode == "hold":
        return asyncio.run(hold(url, lease, Path(argv[3])))
    if mode == "drain":
        return asyncio.run(drain(url, lease, Path(argv[3]), argv[4], Path(argv[5])))
    if mode == "churn":
        return asyncio.run(churn(url, lease, float(argv[3]), argv[4]))
    raise SystemExit(f"unknown mode {mode!r}; expected hold, drain or churn")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

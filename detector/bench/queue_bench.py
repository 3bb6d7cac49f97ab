"""Queue benchmark (``highlights bench queue``): latency, throughput and crash recovery on each backend.

Consumes the targets of ``detector.bench.queue_databases`` (a fresh database per backend) and runs,
with worker processes from ``detector.bench.queue_fleet`` (the real worker loop, trivial job bodies):

1. enqueue rate: ``jobs`` small jobs enqueued one after another on one connection, no worker running;
2. claim+complete rate: ``workers`` processes drain them, from ``go`` to the last completion;
3. enqueue→claim latency: with the workers idle, ``samples`` jobs enqueued one at a time, each at a
   random moment of the poll interval, timed from the enqueue call to the claim's return;
4. recovery: a worker is SIGKILLed right after it claims a job (so the whole lease must run out, the
   worst case for when a crash falls between heartbeats); timed until another worker claims it;
5. lost / duplicated: completions counted per job id over every job of the run, and each job's final
   status read back from the database.

Produces a ``QueueBenchReport`` (``detector.bench.queue_report`` prints it).
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from detector.bench.queue_databases import BenchTarget, Skipped
from detector.bench.queue_fleet import Fleet, QueueBenchError
from detector.bench.queue_worker import BENCH_KIND, bench_timeouts
from detector.worker import WorkerOptions
from storage.queue.port import JobQueue
from storage.records import JobRequest, JobStatus, Priority

Say = Callable[[str], None]

DEFAULT_IDLE_S: float = WorkerOptions(worker_id="-").idle_s
"""The real worker's pause between claims while idle (``highlights worker --poll-interval``)."""
RECOVERY_TARGET_S = 30.0
START_TIMEOUT_S = 60.0
SAMPLE_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class QueueBenchOptions:
    jobs: int = 1000
    """Small jobs enqueued and drained for the throughput rows."""
    samples: int = 30
    """Jobs enqueued one at a time for the latency row."""
    workers: int = 2
    """Worker processes (the recovery kills one of them)."""
    lease_s: float | None = None
    """None: the real lease of ``storage.queue.timeouts``."""
    idle_s: float = DEFAULT_IDLE_S
    """Workers' pause between claims while idle (PostgreSQL workers wake sooner on NOTIFY)."""
    seed: int = 0


@dataclass(frozen=True, slots=True)
class BackendResult:
    backend: str
    where: str
    jobs: int
    """Every job of the run (throughput, latency and recovery jobs)."""
    enqueue_s: float
    """Time to enqueue ``options.jobs`` jobs."""
    drain_s: float
    """Time for the workers to claim and complete them."""
    latencies_s: tuple[float, ...]
    recovery_s: float
    """SIGKILL of the holding worker → another worker's claim of the job."""
    lost: int
    duplicated: int


@dataclass(frozen=True, slots=True)
class QueueBenchReport:
    options: QueueBenchOptions
    lease_s: float
    heartbeat_s: float
    results: list[BackendResult | Skipped] = field(default_factory=list)


def percentile(values: tuple[float, ...] | list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0–100) of a non-empty sample."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100.0 * len(ordered)) - 1, 0)]


def median(values: tuple[float, ...] | list[float]) -> float:
    return float(statistics.median(values))


async def run_queue_bench(opts: QueueBenchOptions, targets: list[BenchTarget | Skipped], say: Say) -> QueueBenchReport:
    limits = bench_timeouts(opts.lease_s)[BENCH_KIND]
    report = QueueBenchReport(options=opts, lease_s=limits.lease_s, heartbeat_s=limits.heartbeat_s)
    for target in targets:
        if isinstance(target, Skipped):
            say(f"{target.backend}: skipped ({target.reason})")
            report.results.append(target)
            continue
        async with target.open() as url:
            report.results.append(await _measure(target, url, opts, say))
    return report


async def _measure(target: BenchTarget, url: str, opts: QueueBenchOptions, say: Say) -> BackendResult:
    from storage.factory import open_storage

    name = target.backend
    rng = random.Random(opts.seed)
    limits = bench_timeouts(opts.lease_s)[BENCH_KIND]
    async with await open_storage(url, timeouts=bench_timeouts(opts.lease_s)) as storage:
        queue = storage.queue
        ids: list[int] = []

        say(f"{name}: enqueueing {opts.jobs} jobs ({target.where})")
        started = time.perf_counter()
        for i in range(opts.jobs):
            ids.append(await _enqueue(queue, {"bench": "throughput", "n": i}))
        enqueue_s = time.perf_counter() - started

        fleet = Fleet(url, opts.lease_s, opts.idle_s)
        try:
            say(f"{name}: starting {opts.workers} worker processes")
            await fleet.start(opts.workers, timeout_s=START_TIMEOUT_S)
            batch = set(ids)
            go_at = time.time()
            fleet.go()
            await fleet.until(lambda: batch <= fleet.completed_ids, timeout_s=max(120.0, opts.jobs * 0.5),
                              what=f"{opts.jobs} jobs to be completed")
            drain_s = max(c.at for c in fleet.completions if c.job_id in batch) - go_at
            say(f"{name}: drained {opts.jobs} jobs in {drain_s:.2f} s; measuring latency with {opts.samples} jobs")

            latencies: list[float] = []
            for k in range(opts.samples):
                await asyncio.sleep(rng.uniform(0.0, opts.idle_s))  # a random moment of the workers' poll cycle
                asked_at = time.time()
                job_id = await _enqueue(queue, {"bench": "latency", "n": k})
                ids.append(job_id)
                await fleet.until(partial(fleet.completed_ids.__contains__, job_id), timeout_s=SAMPLE_TIMEOUT_S,
                                  what=f"latency job {job_id}")
                latencies.append(fleet.claims_of(job_id)[0].at - asked_at)

            say(f"{name}: SIGKILL of a worker holding a job; waiting for the lease ({limits.lease_s:g} s) to run out")
            job_id = await _enqueue(queue, {"bench": "recovery", "hold": True})
            ids.append(job_id)
            await fleet.until(lambda: bool(fleet.claims_of(job_id)), timeout_s=SAMPLE_TIMEOUT_S,
                              what=f"a worker to claim job {job_id}")
            victim = fleet.claims_of(job_id)[0].worker
            killed_at = time.time()
            fleet.kill(victim)
            await fleet.until(lambda: len(fleet.claims_of(job_id)) > 1 and job_id in fleet.completed_ids,
                              timeout_s=limits.lease_s + 10 * limits.heartbeat_s + SAMPLE_TIMEOUT_S,
                              what=f"job {job_id} to run again after its worker was killed")
            again = fleet.claims_of(job_id)[1]
            recovery_s = again.at - killed_at
            say(f"{name}: job {job_id} ran again on {again.worker} {recovery_s:.1f} s after {victim} was killed")
        finally:
            await fleet.close()
        lost, duplicated = await _audit(queue, ids, Counter(c.job_id for c in fleet.completions))
    return BackendResult(backend=name, where=target.where, jobs=len(ids), enqueue_s=enqueue_s, drain_s=drain_s,
                         latencies_s=tuple(latencies), recovery_s=recovery_s, lost=lost, duplicated=duplicated)


async def _enqueue(queue: JobQueue, payload: dict[str, object]) -> int:
    result = await queue.enqueue(JobRequest(kind=BENCH_KIND, payload=payload, priority=Priority.PERSON,
                                            requested_by="bench"))
    if not result.created:
        raise QueueBenchError(f"enqueue joined job {result.job.id} instead of creating one (no dedupe key was given)")
    return result.job.id


async def _audit(queue: JobQueue, ids: list[int], completions: Counter[int]) -> tuple[int, int]:
    """(lost, duplicated): jobs never completed (or not ``succeeded`` in the database), jobs completed twice."""
    jobs = await queue.list_jobs(limit=len(ids) + 100)
    status = {j.id: j.status for j in jobs}
    lost = sum(1 for i in ids if completions[i] == 0 or status.get(i) is not JobStatus.SUCCEEDED)
    duplicated = sum(1 for i in ids if completions[i] > 1)
    return lost, duplicated


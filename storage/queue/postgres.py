"""The PostgreSQL adapter of the ``JobQueue`` port: several bots and GPU workers on several machines.

Consumes ``JobRequest``s and worker calls; produces ``Job`` records. Our ``jobs`` table is the source
of truth for status, lease, progress, cancel and dedupe (a partial unique index over active jobs, so
enqueueing the same key from two machines at once joins one job). procrastinate carries delivery:
every job has a procrastinate job on queue ``gpu`` or ``control``, written in the same transaction
as each of our transitions (``storage.queue.pg_procrastinate``).

``claim`` selects on our table with ``FOR UPDATE SKIP LOCKED`` (two workers never take the same row
and never wait for each other) rather than through procrastinate's fetch: a claim filters by job kind
(the control queue carries two kinds), compares ``run_after`` with the one storage clock, and takes
the lease in the same statement. Every worker write checks ``lease_owner`` and ``status = 'running'``.
The transitions both databases share live in ``storage.queue.sql_common``; this module keeps
PostgreSQL's enqueue, claim, heartbeat and release, and the hooks that mirror each transition.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from storage.clock import utcnow
from storage.errors import StorageError
from storage.pg_db import PgDatabase, PgTransaction
from storage.queue.pg_procrastinate import ProcrastinateLink, wait_for_announcement
from storage.queue.sql_common import ACTIVE, INSERT_JOB, OWNED, SqlJobQueue
from storage.queue.sql_common import job_from_row as _job_from_row
from storage.queue.timeouts import KindTimeouts
from storage.records import EnqueueResult, Heartbeat, Job, JobKind, JobRequest, JobStatus
from storage.repo.postgres import POSTGRES
from storage.repo.sql_dialect import RowLike

log = logging.getLogger(__name__)

_OWNED = POSTGRES.sql(OWNED)


def job_from_row(row: Mapping[str, Any]) -> Job:
    return _job_from_row(row, POSTGRES)


class PostgresJobQueue(SqlJobQueue[PgTransaction]):
    """``JobQueue`` on PostgreSQL with procrastinate delivery (see the module docstring)."""

    dialect = POSTGRES
    row_lock = " FOR UPDATE"
    _db: PgDatabase

    def __init__(self, db: PgDatabase, *, timeouts: Mapping[JobKind, KindTimeouts] | None = None,
                 owns_db: bool = False) -> None:
        super().__init__(db, timeouts=timeouts, owns_db=owns_db)
        self._link = ProcrastinateLink()
        self._leases = Jsonb({k.value: t.lease_s for k, t in self._timeouts.items()})

    # -- enqueue --------------------------------------------------------------------------------------
    async def enqueue(self, request: JobRequest) -> EnqueueResult:
        return await self._enqueue_retrying(request, None)

    async def enqueue_periodic(self, request: JobRequest, *, periodic_id: str, tick: int) -> EnqueueResult:
        """Enqueue the job of a scheduler's tick (a Unix time) once, however many schedulers tick.

        procrastinate's periodic-defer table records (``periodic_id``, ``tick``) under a unique
        constraint: a second scheduler ticking the same moment gets the first one's job
        (``created=False``), even after that job has finished.
        """
        return await self._enqueue_retrying(request, (periodic_id, int(tick)))

    async def _enqueue_retrying(self, request: JobRequest, periodic: tuple[str, int] | None) -> EnqueueResult:
        for _ in range(5):
            try:
                return await self._enqueue(request, periodic)
            except _Retry:
                continue
            except _TickTaken:  # our insert was rolled back; the first scheduler's job is committed
                async with self._db.write() as tx:
                    assert periodic is not None
                    earlier = await self._link.job_of_tick(tx, *periodic)
                    if earlier is not None:
                        return EnqueueResult(job=await self._get(tx, earlier), created=False)
        raise StorageError(f"could not enqueue the {JobKind(request.kind).value} job: its dedupe key "
                           f"{request.dedupe_key!r} kept changing hands; try again")

    async def _enqueue(self, request: JobRequest, periodic: tuple[str, int] | None) -> EnqueueResult:
        kind = JobKind(request.kind)
        params = self._insert_params(request, utcnow())
        key = request.dedupe_key
        async with self._db.write() as tx:
            if periodic is not None:
                earlier = await self._link.job_of_tick(tx, *periodic)
                if earlier is not None:
                    return EnqueueResult(job=await self._get(tx, earlier), created=False)
            # The partial unique index decides between concurrent enqueuers: a second insert of an active
            # key waits for the first transaction, then does nothing and joins the job it made.
            row = await tx.fetchone(
                self._q(f"{INSERT_JOB} ON CONFLICT (dedupe_key) WHERE {ACTIVE} DO NOTHING RETURNING *"), params)
            if row is None:
                existing = await tx.fetchone(f"SELECT * FROM jobs WHERE dedupe_key = %s AND {ACTIVE}", (key,))
                if existing is None:  # the other job ended in the meantime: one more try, from a fresh snapshot
                    raise _Retry()
                return EnqueueResult(job=self._job(existing), created=False)
            job_id = int(row["id"])
            if periodic is None:
                pjob: int | None = await self._link.defer(tx, job_id, kind, request.priority)
            else:
                pjob = await self._link.defer_periodic(tx, job_id, kind, request.priority,
                                                       periodic_id=periodic[0], tick=periodic[1])
                if pjob is None:  # another scheduler deferred this tick while we inserted: use its job
                    raise _TickTaken()
            await tx.execute("UPDATE jobs SET procrastinate_job_id = %s WHERE id = %s", (pjob, job_id))
            job = self._job(row)
        log.info("enqueued job %d (%s, priority %d, key %s)", job.id, kind.value, job.priority, key)
        return EnqueueResult(job=job, created=True)

    # -- worker side ----------------------------------------------------------------------------------
    async def claim(self, worker_id: str, kinds: Sequence[JobKind]) -> Job | None:
        if not kinds:
            return None
        now = utcnow()
        async with self._db.write() as tx:
            row = await tx.fetchone(
                "WITH candidate AS (SELECT id FROM jobs WHERE status = 'queued' AND kind = ANY(%s) "
                "AND run_after <= %s ORDER BY priority DESC, id ASC LIMIT 1 FOR UPDATE SKIP LOCKED) "
                "UPDATE jobs SET status = 'running', lease_owner = %s, "
                "lease_expires_at = %s + make_interval(secs => (%s::jsonb ->> kind)::float8), "
                "attempts = attempts + 1, started_at = %s, finished_at = NULL "
                "FROM candidate WHERE jobs.id = candidate.id RETURNING jobs.*",
                ([JobKind(k).value for k in kinds], now, worker_id, now, self._leases, now))
            if row is None:
                return None
            await self._link.started(tx, row["procrastinate_job_id"])
            job = self._job(row)
        log.info("worker %s claimed job %d (attempt %d/%d)", worker_id, job.id, job.attempts, job.max_attempts)
        return job

    async def heartbeat(self, job_id: int, worker_id: str) -> Heartbeat:
        async with self._db.write() as tx:
            row = await tx.fetchone(
                "UPDATE jobs SET lease_expires_at = %s + make_interval(secs => (%s::jsonb ->> kind)::float8) "
                f"WHERE {_OWNED} RETURNING cancel_requested", (utcnow(), self._leases, job_id, worker_id))
            if row is None:
                return Heartbeat(owned=False, cancel_requested=False)
            await self._link.heartbeat(tx)
        return Heartbeat(owned=True, cancel_requested=bool(row["cancel_requested"]))

    async def release(self, job_id: int, worker_id: str) -> bool:
        now = utcnow()
        async with self._db.write() as tx:
            row = await tx.fetchone(
                "UPDATE jobs SET status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END, "
                "attempts = CASE WHEN cancel_requested THEN attempts ELSE GREATEST(attempts - 1, 0) END, "
                "finished_at = CASE WHEN cancel_requested THEN %s::timestamptz ELSE NULL END, "
                f"lease_owner = NULL, lease_expires_at = NULL, run_after = %s WHERE {_OWNED} RETURNING *",
                (now, now, job_id, worker_id))
            if row is None:
                return False
            await self._after_run(tx, row, JobStatus(row["status"]))
        log.info("worker %s released job %d", worker_id, job_id)
        return True

    async def _after_run(self, tx: PgTransaction, row: Mapping[str, Any], status: JobStatus) -> None:
        """Move the procrastinate job of a job that stopped running to ``status``."""
        pjob = row["procrastinate_job_id"]
        if status is JobStatus.QUEUED:
            await self._link.requeued(tx, pjob, row["run_after"], row["priority"])
        else:
            end = {JobStatus.SUCCEEDED: "succeeded", JobStatus.CANCELLED: "aborted"}.get(status, "failed")
            await self._link.finished(tx, pjob, end)

    # -- the hooks of SqlJobQueue: mirror each transition into procrastinate -----------------------------
    async def _end_run(self, tx: PgTransaction, sql: str, params: Sequence[Any], end: str) -> bool:
        row = await tx.fetchone(f"{sql} RETURNING procrastinate_job_id", params)
        if row is None:
            return False
        await self._link.finished(tx, row["procrastinate_job_id"], end)
        return True

    async def _stop_run(self, tx: PgTransaction, job_id: int, sql: str, params: Sequence[Any],
                        status: JobStatus) -> Job:
        row = await tx.fetchone(f"{sql} RETURNING *", params)
        assert row is not None  # the caller holds the row's lock and saw it running
        await self._after_run(tx, row, status)
        return self._job(row)

    async def _cancel_mirrored(self, tx: PgTransaction, row: RowLike, *, was_queued: bool) -> None:
        if was_queued:
            await self._link.cancelled_while_queued(tx, row["procrastinate_job_id"])
        else:
            await self._link.abort_requested(tx, row["procrastinate_job_id"])

    async def _stall_candidates(self, tx: PgTransaction, now: datetime) -> Sequence[Mapping[str, Any]]:
        # Only rows that may be stalled are locked, so healthy workers' heartbeats never wait here; SKIP
        # LOCKED: a row locked right now belongs to a worker that is writing to it, so it is alive.
        shortest_runtime = min(t.max_runtime_s for t in self._timeouts.values())
        return await tx.fetchall(
            "SELECT * FROM jobs WHERE status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < %s "
            "OR started_at < %s - make_interval(secs => %s)) FOR UPDATE SKIP LOCKED",
            (now, now, shortest_runtime))

    async def _after_recovery(self, tx: PgTransaction) -> None:
        await self._link.prune_workers(tx, 2 * max(t.lease_s for t in self._timeouts.values()))

    def _any_of(self, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(?)", [list(values)]

    # -- waiting for work -----------------------------------------------------------------------------
    async def wait_for_jobs(self, kinds: Sequence[JobKind], timeout_s: float) -> bool:
        """Sleep until procrastinate announces a new job of these kinds (True) or ``timeout_s`` passes.

        An idle worker calls this between empty claims instead of polling fast. Retries that come due
        are not announced, so keep ``timeout_s`` a few seconds.
        """
        return await wait_for_announcement(self._db.dsn, kinds, timeout_s)

    async def close(self) -> None:
        try:
            if self._link.worker_id is not None:
                async with self._db.write() as tx:
                    await self._link.unregister(tx)
        except StorageError as exc:
            log.debug("could not unregister the procrastinate worker: %s", exc)
        finally:
            await super().close()


class _Retry(Exception):
    """Internal: the enqueue transaction must start again (a conflicting job ended meanwhile)."""


class _TickTaken(Exception):
    """Internal: another scheduler deferred this periodic tick first."""

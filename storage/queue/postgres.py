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
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from storage.clock import after, utcnow
from storage.errors import JobNotFound, StorageError
from storage.pg_db import PgDatabase, PgTransaction
from storage.queue.pg_procrastinate import ProcrastinateLink, wait_for_announcement
from storage.queue.stalls import stall_verdict
from storage.queue.timeouts import KindTimeouts, backoff_s, with_overrides
from storage.records import EnqueueResult, Heartbeat, Job, JobKind, JobRequest, JobStatus

log = logging.getLogger(__name__)

_OWNED = "id = %s AND lease_owner = %s AND status = 'running'"
_ACTIVE = "status IN ('queued', 'running')"


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def job_from_row(row: Mapping[str, Any]) -> Job:
    return Job(
        id=int(row["id"]), kind=JobKind(row["kind"]), status=JobStatus(row["status"]), payload=row["payload"],
        priority=row["priority"], dedupe_key=row["dedupe_key"], attempts=row["attempts"],
        max_attempts=row["max_attempts"], stage=row["stage"], progress=float(row["progress"]),
        progress_message=row["progress_message"], error_code=row["error_code"], error_message=row["error_message"],
        requested_by=row["requested_by"], guild_id=row["guild_id"], channel_id=row["channel_id"],
        cancel_requested=bool(row["cancel_requested"]), lease_owner=row["lease_owner"],
        lease_expires_at=_utc(row["lease_expires_at"]), run_after=row["run_after"].astimezone(UTC),
        created_at=row["created_at"].astimezone(UTC), started_at=_utc(row["started_at"]),
        finished_at=_utc(row["finished_at"]), result=row["result"])


def _jsonb(value: Any, what: str) -> Jsonb:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StorageError(f"the job {what} must be JSON-serialisable (plain dicts, lists, str, finite numbers): "
                           f"{exc}") from exc
    return Jsonb(value)


class PostgresJobQueue:
    """``JobQueue`` on PostgreSQL with procrastinate delivery (see the module docstring)."""

    def __init__(self, db: PgDatabase, *, timeouts: Mapping[JobKind, KindTimeouts] | None = None,
                 owns_db: bool = False) -> None:
        self._db = db
        self._timeouts = with_overrides(timeouts)
        self._owns_db = owns_db
        self._link = ProcrastinateLink()
        self._leases = Jsonb({k.value: t.lease_s for k, t in self._timeouts.items()})

    @staticmethod
    async def _get(tx: PgTransaction | PgDatabase, job_id: int) -> Job:
        row = await tx.fetchone("SELECT * FROM jobs WHERE id = %s", (job_id,))
        if row is None:
            raise JobNotFound(f"no job with id {job_id}")
        return job_from_row(row)

    @staticmethod
    async def _row(tx: PgTransaction, job_id: int, *, owner: str | None = None) -> dict[str, Any] | None:
        if owner is None:
            return await tx.fetchone("SELECT * FROM jobs WHERE id = %s FOR UPDATE", (job_id,))
        return await tx.fetchone(f"SELECT * FROM jobs WHERE {_OWNED} FOR UPDATE", (job_id, owner))

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
        max_attempts = request.max_attempts or self._timeouts[kind].max_attempts
        payload = _jsonb(request.payload, "payload")
        now = utcnow()
        key = request.dedupe_key
        async with self._db.write() as tx:
            if periodic is not None:
                earlier = await self._link.job_of_tick(tx, *periodic)
                if earlier is not None:
                    return EnqueueResult(job=await self._get(tx, earlier), created=False)
            # The partial unique index decides between concurrent enqueuers: a second insert of an active
            # key waits for the first transaction, then does nothing and joins the job it made.
            row = await tx.fetchone(
                "INSERT INTO jobs (kind, status, payload, priority, dedupe_key, max_attempts, requested_by, "
                "guild_id, channel_id, run_after, created_at) "
                "VALUES (%s, 'queued', %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                f"ON CONFLICT (dedupe_key) WHERE {_ACTIVE} DO NOTHING RETURNING *",
                (kind.value, payload, int(request.priority), key, max_attempts, request.requested_by,
                 request.guild_id, request.channel_id, now, now))
            if row is None:
                existing = await tx.fetchone(f"SELECT * FROM jobs WHERE dedupe_key = %s AND {_ACTIVE}", (key,))
                if existing is None:  # the other job ended in the meantime: one more try, from a fresh snapshot
                    raise _Retry()
                return EnqueueResult(job=job_from_row(existing), created=False)
            job_id = int(row["id"])
            if periodic is None:
                pjob: int | None = await self._link.defer(tx, job_id, kind, request.priority)
            else:
                pjob = await self._link.defer_periodic(tx, job_id, kind, request.priority,
                                                       periodic_id=periodic[0], tick=periodic[1])
                if pjob is None:  # another scheduler deferred this tick while we inserted: use its job
                    raise _TickTaken()
            await tx.execute("UPDATE jobs SET procrastinate_job_id = %s WHERE id = %s", (pjob, job_id))
            job = job_from_row(row)
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
            job = job_from_row(row)
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

    async def progress(self, job_id: int, worker_id: str, *, stage: str | None = None,
                       fraction: float | None = None, message: str | None = None) -> bool:
        sets: list[str] = []
        params: list[Any] = []
        if stage is not None:
            sets.append("stage = %s")
            params.append(stage)
        if fraction is not None and math.isfinite(fraction):
            sets.append("progress = %s")
            params.append(min(max(float(fraction), 0.0), 1.0))
        if message is not None:
            sets.append("progress_message = %s")
            params.append(message)
        if not sets:
            sets.append("id = id")
        async with self._db.write() as tx:
            changed = await tx.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE {_OWNED}",
                                       (*params, job_id, worker_id))
        return changed == 1

    async def complete(self, job_id: int, worker_id: str, result: dict[str, Any] | None = None) -> bool:
        encoded = None if result is None else _jsonb(result, "result")
        async with self._db.write() as tx:
            row = await tx.fetchone(
                "UPDATE jobs SET status = 'succeeded', progress = 1.0, result = %s, finished_at = %s, "
                f"lease_expires_at = NULL, error_code = NULL, error_message = NULL WHERE {_OWNED} "
                "RETURNING procrastinate_job_id", (encoded, utcnow(), job_id, worker_id))
            if row is None:
                return False
            await self._link.finished(tx, row["procrastinate_job_id"], "succeeded")
        log.info("worker %s completed job %d", worker_id, job_id)
        return True

    async def fail(self, job_id: int, worker_id: str, *, code: str, message: str,
                   retryable: bool = True) -> Job | None:
        now = utcnow()
        async with self._db.write() as tx:
            row = await self._row(tx, job_id, owner=worker_id)
            if row is None:
                return None
            job = job_from_row(row)
            if job.cancel_requested:
                status, run_after = JobStatus.CANCELLED, job.run_after
            elif retryable and job.attempts < job.max_attempts:
                status = JobStatus.QUEUED
                run_after = after(backoff_s(job.kind, job.attempts, self._timeouts), start=now)
            else:
                status, run_after = JobStatus.FAILED, job.run_after
            queued = status is JobStatus.QUEUED
            row = await tx.fetchone(
                "UPDATE jobs SET status = %s, run_after = %s, error_code = %s, error_message = %s, "
                "lease_owner = CASE WHEN %s THEN NULL ELSE lease_owner END, lease_expires_at = NULL, "
                f"finished_at = %s WHERE {_OWNED} RETURNING *",
                (status.value, run_after, code, message, queued, None if queued else now, job_id, worker_id))
            assert row is not None
            await self._after_run(tx, row, status)
            job = job_from_row(row)
        log.warning("job %d failed on worker %s with %s (%s): now %s", job_id, worker_id, code, message, job.status)
        return job

    async def cancelled(self, job_id: int, worker_id: str) -> bool:
        async with self._db.write() as tx:
            row = await tx.fetchone(
                "UPDATE jobs SET status = 'cancelled', finished_at = %s, lease_expires_at = NULL "
                f"WHERE {_OWNED} AND cancel_requested RETURNING procrastinate_job_id", (utcnow(), job_id, worker_id))
            if row is None:
                return False
            await self._link.finished(tx, row["procrastinate_job_id"], "aborted")
        return True

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

    # -- bot side -------------------------------------------------------------------------------------
    async def cancel(self, job_id: int, *, by: str | None = None) -> Job:
        async with self._db.write() as tx:
            row = await self._row(tx, job_id)
            if row is None:
                raise JobNotFound(f"no job with id {job_id}")
            job = job_from_row(row)
            pjob = row["procrastinate_job_id"]
            if job.status is JobStatus.QUEUED:
                await tx.execute("UPDATE jobs SET status = 'cancelled', cancel_requested = TRUE, cancelled_by = %s, "
                                 "finished_at = %s WHERE id = %s", (by, utcnow(), job_id))
                await self._link.cancelled_while_queued(tx, pjob)
            elif job.status is JobStatus.RUNNING and not job.cancel_requested:
                await tx.execute("UPDATE jobs SET cancel_requested = TRUE, cancelled_by = %s WHERE id = %s",
                                 (by, job_id))
                await self._link.abort_requested(tx, pjob)
            return await self._get(tx, job_id)

    async def get(self, job_id: int) -> Job:
        return await self._get(self._db, job_id)

    async def list_jobs(self, *, statuses: Sequence[JobStatus] | None = None, guild_id: str | None = None,
                        requested_by: str | None = None, limit: int = 50) -> list[Job]:
        where: list[str] = []
        params: list[Any] = []
        if statuses is not None:
            if not statuses:
                return []
            where.append("status = ANY(%s)")
            params.append([JobStatus(s).value for s in statuses])
        if guild_id is not None:
            where.append("guild_id = %s")
            params.append(guild_id)
        if requested_by is not None:
            where.append("requested_by = %s")
            params.append(requested_by)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self._db.fetchall(f"SELECT * FROM jobs {clause} ORDER BY id DESC LIMIT %s",
                                       (*params, max(int(limit), 0)))
        return [job_from_row(r) for r in rows]

    async def queue_position(self, job_id: int) -> int | None:
        job = await self.get(job_id)
        if job.status is not JobStatus.QUEUED:
            return None
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS ahead FROM jobs WHERE status = 'queued' AND kind = %s AND (priority > %s OR "
            "(priority = %s AND id < %s))", (job.kind.value, job.priority, job.priority, job.id))
        return 1 + (int(row["ahead"]) if row else 0)

    async def recover_stalled(self) -> list[int]:
        now = utcnow()
        recovered: list[int] = []
        async with self._db.write() as tx:
            # Only rows that may be stalled are locked, so healthy workers' heartbeats never wait here; SKIP
            # LOCKED: a row locked right now belongs to a worker that is writing to it, so it is alive.
            shortest_runtime = min(t.max_runtime_s for t in self._timeouts.values())
            rows = await tx.fetchall(
                "SELECT * FROM jobs WHERE status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < %s "
                "OR started_at < %s - make_interval(secs => %s)) FOR UPDATE SKIP LOCKED",
                (now, now, shortest_runtime))
            for row in rows:
                job = job_from_row(row)
                verdict = stall_verdict(job, self._timeouts[job.kind], now)
                if verdict is None:
                    continue
                status, queued = verdict.status, verdict.status is JobStatus.QUEUED
                updated = await tx.fetchone(
                    "UPDATE jobs SET status = %s, error_code = %s, error_message = %s, lease_expires_at = NULL, "
                    "lease_owner = CASE WHEN %s THEN NULL ELSE lease_owner END, run_after = %s, finished_at = %s "
                    "WHERE id = %s AND status = 'running' RETURNING *",
                    (status.value, verdict.error_code, verdict.error_message, queued,
                     now if queued else job.run_after, None if queued else now, job.id))
                assert updated is not None
                await self._after_run(tx, updated, status)
                recovered.append(job.id)
                log.warning("recovered stalled job %d from worker %s: %s (%s)", job.id, job.lease_owner,
                            status.value, verdict.error_message)
            await self._link.prune_workers(tx, 2 * max(t.lease_s for t in self._timeouts.values()))
        return recovered

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
            if self._owns_db:
                await self._db.close()


class _Retry(Exception):
    """Internal: the enqueue transaction must start again (a conflicting job ended meanwhile)."""


class _TickTaken(Exception):
    """Internal: another scheduler deferred this periodic tick first."""

"""What the SQLite and PostgreSQL ``JobQueue`` adapters share: the job transitions whose SQL is the same in both.

Consumes a database wrapper (``storage.sqlite_db`` or ``storage.pg_db``, seen through the protocols of
``storage.repo.sql_dialect``) and that database's ``Dialect``; produces ``Job`` records. The SQL here is
written once with ``?`` placeholders, which ``Dialect.sql`` rewrites to the driver's form, so it must hold
no literal ``?`` or ``%``. What truly differs stays in the adapters, which subclass ``SqlJobQueue``:
enqueue (dedupe on an IntegrityError or ``ON CONFLICT``), claim and heartbeat (``BEGIN IMMEDIATE`` or
``FOR UPDATE SKIP LOCKED``), release, and the hooks below through which PostgreSQL mirrors every
transition into procrastinate.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Generic

from storage.clock import after, utcnow
from storage.errors import JobNotFound, StorageError
from storage.queue.stalls import stall_verdict
from storage.queue.timeouts import KindTimeouts, backoff_s, with_overrides
from storage.records import Job, JobKind, JobRequest, JobStatus
from storage.repo.sql_dialect import Dialect, RowLike, SqlDatabase, SqlReader, TxT

OWNED = "id = ? AND lease_owner = ? AND status = 'running'"
"""The rows a worker may still write: its own lease on a running job."""
ACTIVE = "status IN ('queued', 'running')"
"""The jobs a dedupe key joins (the partial unique index covers these)."""
INSERT_JOB = (
    "INSERT INTO jobs (kind, status, payload, priority, dedupe_key, max_attempts, requested_by, "
    "guild_id, channel_id, run_after, created_at) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def job_from_row(row: RowLike, dialect: Dialect) -> Job:
    """A ``jobs`` row as a ``Job``, its times and JSON read back the way ``dialect`` stores them."""
    def time(value: Any) -> datetime | None:
        return None if value is None else dialect.time_value(value)

    return Job(
        id=int(row["id"]), kind=JobKind(row["kind"]), status=JobStatus(row["status"]),
        payload=dialect.json_value(row["payload"]), priority=row["priority"], dedupe_key=row["dedupe_key"],
        attempts=row["attempts"], max_attempts=row["max_attempts"], stage=row["stage"],
        progress=float(row["progress"]), progress_message=row["progress_message"],
        error_code=row["error_code"], error_message=row["error_message"], requested_by=row["requested_by"],
        guild_id=row["guild_id"], channel_id=row["channel_id"], cancel_requested=bool(row["cancel_requested"]),
        lease_owner=row["lease_owner"], lease_expires_at=time(row["lease_expires_at"]),
        run_after=dialect.time_value(row["run_after"]), created_at=dialect.time_value(row["created_at"]),
        started_at=time(row["started_at"]), finished_at=time(row["finished_at"]),
        result=None if row["result"] is None else dialect.json_value(row["result"]),
    )


class SqlJobQueue(ABC, Generic[TxT]):
    """The shared half of a ``JobQueue``; subclasses add claim, heartbeat, enqueue and release."""

    dialect: Dialect
    row_lock: str = ""
    """Appended to a ``SELECT`` of the row a transition is about to change (``" FOR UPDATE"`` where
    transactions do not already serialise writers)."""

    def __init__(self, db: SqlDatabase[TxT], *, timeouts: Mapping[JobKind, KindTimeouts] | None = None,
                 owns_db: bool = False) -> None:
        self._db = db
        self._timeouts = with_overrides(timeouts)
        self._owns_db = owns_db

    async def close(self) -> None:
        if self._owns_db:
            await self._db.close()

    # -- helpers --------------------------------------------------------------------------------------
    @property
    def _log(self) -> logging.Logger:
        """The adapter's module logger, so records keep naming the backend that wrote them."""
        return logging.getLogger(type(self).__module__)

    def _q(self, text: str) -> str:
        return self.dialect.sql(text)

    def _job(self, row: RowLike) -> Job:
        return job_from_row(row, self.dialect)

    def _json(self, value: Any, what: str) -> Any:
        try:
            return self.dialect.json_param(value)
        except StorageError as exc:
            cause = exc.__cause__ or exc
            raise StorageError(f"the job {what} must be JSON-serialisable (plain dicts, lists, str, finite "
                               f"numbers): {cause}") from cause

    def _insert_params(self, request: JobRequest, now: datetime) -> tuple[Any, ...]:
        """The values of ``INSERT_JOB`` for ``request`` (raises ``StorageError`` on a payload that is not JSON)."""
        kind = JobKind(request.kind)
        max_attempts = request.max_attempts or self._timeouts[kind].max_attempts
        payload = self._json(request.payload, "payload")
        stamp = self.dialect.time_param(now)
        return (kind.value, payload, int(request.priority), request.dedupe_key, max_attempts,
                request.requested_by, request.guild_id, request.channel_id, stamp, stamp)

    async def _get(self, reader: SqlReader, job_id: int) -> Job:
        row = await reader.fetchone(self._q("SELECT * FROM jobs WHERE id = ?"), (job_id,))
        if row is None:
            raise JobNotFound(f"no job with id {job_id}")
        return self._job(row)

    async def _row(self, tx: TxT, job_id: int, *, owner: str | None = None) -> RowLike | None:
        """The row of job ``job_id`` (only while ``owner`` holds its lease, if given), for changing it."""
        if owner is None:
            return await tx.fetchone(self._q(f"SELECT * FROM jobs WHERE id = ?{self.row_lock}"), (job_id,))
        return await tx.fetchone(self._q(f"SELECT * FROM jobs WHERE {OWNED}{self.row_lock}"), (job_id, owner))

    # -- hooks the adapters fill ----------------------------------------------------------------------
    @abstractmethod
    async def _end_run(self, tx: TxT, sql: str, params: Sequence[Any], end: str) -> bool:
        """Run ``sql``, an UPDATE ending a run the caller owns (``end``: procrastinate's ``succeeded`` or
        ``aborted``); False when it changed no row."""

    @abstractmethod
    async def _stop_run(self, tx: TxT, job_id: int, sql: str, params: Sequence[Any], status: JobStatus) -> Job:
        """Run ``sql``, an UPDATE that moves running job ``job_id`` (already read in ``tx``) to ``status``;
        return the job as it is now."""

    async def _cancel_mirrored(self, tx: TxT, row: RowLike, *, was_queued: bool) -> None:
        """Called after ``cancel`` marked the job in ``row`` (read before the change); nothing by default."""

    async def _stall_candidates(self, tx: TxT, now: datetime) -> Sequence[RowLike]:
        """The running jobs ``recover_stalled`` looks at; all of them by default."""
        return await tx.fetchall("SELECT * FROM jobs WHERE status = 'running'")

    async def _after_recovery(self, tx: TxT) -> None:
        """Called at the end of ``recover_stalled``'s transaction; nothing by default."""

    @abstractmethod
    def _any_of(self, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        """A condition that ``column`` is one of ``values`` (not empty), and its parameters."""

    # -- worker side ----------------------------------------------------------------------------------
    async def progress(self, job_id: int, worker_id: str, *, stage: str | None = None,
                       fraction: float | None = None, message: str | None = None) -> bool:
        sets: list[str] = []
        params: list[Any] = []
        if stage is not None:
            sets.append("stage = ?")
            params.append(stage)
        if fraction is not None and math.isfinite(fraction):
            sets.append("progress = ?")
            params.append(min(max(float(fraction), 0.0), 1.0))
        if message is not None:
            sets.append("progress_message = ?")
            params.append(message)
        if not sets:
            sets.append("id = id")
        async with self._db.write() as tx:
            changed = await tx.execute(self._q(f"UPDATE jobs SET {', '.join(sets)} WHERE {OWNED}"),
                                       (*params, job_id, worker_id))
        return changed == 1

    async def complete(self, job_id: int, worker_id: str, result: dict[str, Any] | None = None) -> bool:
        encoded = None if result is None else self._json(result, "result")
        async with self._db.write() as tx:
            done = await self._end_run(tx, self._q(
                "UPDATE jobs SET status = 'succeeded', progress = 1.0, result = ?, finished_at = ?, "
                f"lease_expires_at = NULL, error_code = NULL, error_message = NULL WHERE {OWNED}"),
                (encoded, self.dialect.time_param(utcnow()), job_id, worker_id), "succeeded")
        if done:
            self._log.info("worker %s completed job %d", worker_id, job_id)
        return done

    async def fail(self, job_id: int, worker_id: str, *, code: str, message: str,
                   retryable: bool = True) -> Job | None:
        now = utcnow()
        at = self.dialect.time_param
        async with self._db.write() as tx:
            row = await self._row(tx, job_id, owner=worker_id)
            if row is None:
                return None
            job = self._job(row)
            if job.cancel_requested:
                status, run_after = JobStatus.CANCELLED, job.run_after
            elif retryable and job.attempts < job.max_attempts:
                status = JobStatus.QUEUED
                run_after = after(backoff_s(job.kind, job.attempts, self._timeouts), start=now)
            else:
                status, run_after = JobStatus.FAILED, job.run_after
            queued = status is JobStatus.QUEUED
            job = await self._stop_run(tx, job_id, self._q(
                "UPDATE jobs SET status = ?, run_after = ?, error_code = ?, error_message = ?, "
                "lease_owner = CASE WHEN ? THEN NULL ELSE lease_owner END, lease_expires_at = NULL, "
                f"finished_at = ? WHERE {OWNED}"),
                (status.value, at(run_after), code, message, queued, None if queued else at(now), job_id, worker_id),
                status)
        self._log.warning("job %d failed on worker %s with %s (%s): now %s", job_id, worker_id, code, message, job.status)
        return job

    async def cancelled(self, job_id: int, worker_id: str) -> bool:
        async with self._db.write() as tx:
            return await self._end_run(tx, self._q(
                "UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_expires_at = NULL "
                f"WHERE {OWNED} AND cancel_requested = {self.dialect.true}"),
                (self.dialect.time_param(utcnow()), job_id, worker_id), "aborted")

    # -- bot side -------------------------------------------------------------------------------------
    async def cancel(self, job_id: int, *, by: str | None = None) -> Job:
        true = self.dialect.true
        async with self._db.write() as tx:
            row = await self._row(tx, job_id)
            if row is None:
                raise JobNotFound(f"no job with id {job_id}")
            job = self._job(row)
            if job.status is JobStatus.QUEUED:
                await tx.execute(self._q(f"UPDATE jobs SET status = 'cancelled', cancel_requested = {true}, "
                                         "cancelled_by = ?, finished_at = ? WHERE id = ?"),
                                 (by, self.dialect.time_param(utcnow()), job_id))
                await self._cancel_mirrored(tx, row, was_queued=True)
            elif job.status is JobStatus.RUNNING and not job.cancel_requested:
                await tx.execute(self._q(f"UPDATE jobs SET cancel_requested = {true}, cancelled_by = ? WHERE id = ?"),
                                 (by, job_id))
                await self._cancel_mirrored(tx, row, was_queued=False)
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
            condition, values = self._any_of("status", [JobStatus(s).value for s in statuses])
            where.append(condition)
            params += values
        if guild_id is not None:
            where.append("guild_id = ?")
            params.append(guild_id)
        if requested_by is not None:
            where.append("requested_by = ?")
            params.append(requested_by)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self._db.fetchall(self._q(f"SELECT * FROM jobs {clause} ORDER BY id DESC LIMIT ?"),
                                       (*params, max(int(limit), 0)))
        return [self._job(r) for r in rows]

    async def queue_position(self, job_id: int) -> int | None:
        job = await self.get(job_id)
        if job.status is not JobStatus.QUEUED:
            return None
        row = await self._db.fetchone(self._q(
            "SELECT COUNT(*) AS ahead FROM jobs WHERE status = 'queued' AND kind = ? AND (priority > ? OR "
            "(priority = ? AND id < ?))"), (job.kind.value, job.priority, job.priority, job.id))
        return 1 + (int(row["ahead"]) if row else 0)

    async def recover_stalled(self) -> list[int]:
        now = utcnow()
        at = self.dialect.time_param
        recovered: list[int] = []
        async with self._db.write() as tx:
            for row in await self._stall_candidates(tx, now):
                job = self._job(row)
                verdict = stall_verdict(job, self._timeouts[job.kind], now)
                if verdict is None:
                    continue
                status, queued = verdict.status, verdict.status is JobStatus.QUEUED
                await self._stop_run(tx, job.id, self._q(
                    "UPDATE jobs SET status = ?, error_code = ?, error_message = ?, lease_expires_at = NULL, "
                    "lease_owner = CASE WHEN ? THEN NULL ELSE lease_owner END, run_after = ?, finished_at = ? "
                    "WHERE id = ? AND status = 'running'"),
                    (status.value, verdict.error_code, verdict.error_message, queued,
                     at(now) if queued else at(job.run_after), None if queued else at(now), job.id), status)
                recovered.append(job.id)
                self._log.warning("recovered stalled job %d from worker %s: %s (%s)", job.id, job.lease_owner,
                            status.value, verdict.error_message)
            await self._after_recovery(tx)
        return recovered

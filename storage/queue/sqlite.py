"""The SQLite adapter of the ``JobQueue`` port: the embedded default for one machine.

Consumes ``JobRequest``s from the bot and claims/heartbeats/results from workers (other processes on
the same file); produces ``Job`` records. Every read-modify-write runs in a ``BEGIN IMMEDIATE``
transaction (``storage.sqlite_db``), so two workers never claim the same job and nobody sees
"database is locked" while another process writes. Dedupe is enforced by a partial UNIQUE index on
``dedupe_key`` over active jobs. Every worker write checks ``lease_owner`` and ``status = 'running'``.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from storage.clock import after, from_text, maybe_from_text, to_text, utcnow
from storage.errors import JobNotFound, StorageError
from storage.queue.stalls import stall_verdict
from storage.queue.timeouts import KindTimeouts, backoff_s, with_overrides
from storage.records import EnqueueResult, Heartbeat, Job, JobKind, JobRequest, JobStatus
from storage.sqlite_db import SqliteDatabase, Transaction

log = logging.getLogger(__name__)

_OWNED = "id = ? AND lease_owner = ? AND status = 'running'"
_ACTIVE = "status IN ('queued', 'running')"


def job_from_row(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"], kind=JobKind(row["kind"]), status=JobStatus(row["status"]),
        payload=json.loads(row["payload"]), priority=row["priority"], dedupe_key=row["dedupe_key"],
        attempts=row["attempts"], max_attempts=row["max_attempts"], stage=row["stage"],
        progress=float(row["progress"]), progress_message=row["progress_message"],
        error_code=row["error_code"], error_message=row["error_message"], requested_by=row["requested_by"],
        guild_id=row["guild_id"], channel_id=row["channel_id"], cancel_requested=bool(row["cancel_requested"]),
        lease_owner=row["lease_owner"], lease_expires_at=maybe_from_text(row["lease_expires_at"]),
        run_after=from_text(row["run_after"]), created_at=from_text(row["created_at"]),
        started_at=maybe_from_text(row["started_at"]), finished_at=maybe_from_text(row["finished_at"]),
        result=None if row["result"] is None else json.loads(row["result"]),
    )


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StorageError(f"the job {what} must be JSON-serialisable (plain dicts, lists, str, finite numbers): "
                           f"{exc}") from exc


class SqliteJobQueue:
    """``JobQueue`` on a SQLite file (see the module docstring)."""

    def __init__(self, db: SqliteDatabase, *, timeouts: Mapping[JobKind, KindTimeouts] | None = None,
                 owns_db: bool = False) -> None:
        self._db = db
        self._timeouts = with_overrides(timeouts)
        self._owns_db = owns_db

    async def _get(self, tx: Transaction, job_id: int) -> Job:
        row = await tx.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise JobNotFound(f"no job with id {job_id}")
        return job_from_row(row)

    async def enqueue(self, request: JobRequest) -> EnqueueResult:
        kind = JobKind(request.kind)
        max_attempts = request.max_attempts or self._timeouts[kind].max_attempts
        payload = _json(request.payload, "payload")
        now = to_text(utcnow())
        key = request.dedupe_key
        try:
            async with self._db.write() as tx:
                if key is not None:
                    row = await tx.fetchone(f"SELECT * FROM jobs WHERE dedupe_key = ? AND {_ACTIVE}", (key,))
                    if row is not None:
                        return EnqueueResult(job=job_from_row(row), created=False)
                job_id = await tx.insert(
                    "INSERT INTO jobs (kind, status, payload, priority, dedupe_key, max_attempts, requested_by, "
                    "guild_id, channel_id, run_after, created_at) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (kind.value, payload, int(request.priority), key, max_attempts, request.requested_by,
                     request.guild_id, request.channel_id, now, now))
                job = await self._get(tx, job_id)
        except sqlite3.IntegrityError as exc:
            # Another connection inserted the same active key between our check and insert.
            row = await self._db.fetchone(f"SELECT * FROM jobs WHERE dedupe_key = ? AND {_ACTIVE}", (key,))
            if key is None or row is None:
                raise StorageError(f"could not enqueue the {kind.value} job: {exc}") from exc
            return EnqueueResult(job=job_from_row(row), created=False)
        log.info("enqueued job %d (%s, priority %d, key %s)", job.id, kind.value, job.priority, key)
        return EnqueueResult(job=job, created=True)

    async def claim(self, worker_id: str, kinds: Sequence[JobKind]) -> Job | None:
        if not kinds:
            return None
        now = utcnow()
        marks = ", ".join("?" for _ in kinds)
        async with self._db.write() as tx:
            row = await tx.fetchone(
                f"SELECT id, kind FROM jobs WHERE status = 'queued' AND kind IN ({marks}) AND run_after <= ? "
                "ORDER BY priority DESC, id ASC LIMIT 1", (*[JobKind(k).value for k in kinds], to_text(now)))
            if row is None:
                return None
            lease = self._timeouts[JobKind(row["kind"])].lease_s
            await tx.execute(
                "UPDATE jobs SET status = 'running', lease_owner = ?, lease_expires_at = ?, "
                "attempts = attempts + 1, started_at = ?, finished_at = NULL WHERE id = ?",
                (worker_id, to_text(after(lease, start=now)), to_text(now), row["id"]))
            job = await self._get(tx, row["id"])
        log.info("worker %s claimed job %d (attempt %d/%d)", worker_id, job.id, job.attempts, job.max_attempts)
        return job

    async def heartbeat(self, job_id: int, worker_id: str) -> Heartbeat:
        async with self._db.write() as tx:
            row = await tx.fetchone(f"SELECT kind, cancel_requested FROM jobs WHERE {_OWNED}", (job_id, worker_id))
            if row is None:
                return Heartbeat(owned=False, cancel_requested=False)
            lease = self._timeouts[JobKind(row["kind"])].lease_s
            await tx.execute(f"UPDATE jobs SET lease_expires_at = ? WHERE {_OWNED}",
                             (to_text(after(lease)), job_id, worker_id))
        return Heartbeat(owned=True, cancel_requested=bool(row["cancel_requested"]))

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
            changed = await tx.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE {_OWNED}",
                                       (*params, job_id, worker_id))
        return changed == 1

    async def complete(self, job_id: int, worker_id: str, result: dict[str, Any] | None = None) -> bool:
        encoded = None if result is None else _json(result, "result")
        async with self._db.write() as tx:
            changed = await tx.execute(
                "UPDATE jobs SET status = 'succeeded', progress = 1.0, result = ?, finished_at = ?, "
                f"lease_expires_at = NULL, error_code = NULL, error_message = NULL WHERE {_OWNED}",
                (encoded, to_text(utcnow()), job_id, worker_id))
        if changed:
            log.info("worker %s completed job %d", worker_id, job_id)
        return changed == 1

    async def fail(self, job_id: int, worker_id: str, *, code: str, message: str,
                   retryable: bool = True) -> Job | None:
        now = utcnow()
        async with self._db.write() as tx:
            row = await tx.fetchone(f"SELECT * FROM jobs WHERE {_OWNED}", (job_id, worker_id))
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
            await tx.execute(
                "UPDATE jobs SET status = ?, run_after = ?, error_code = ?, error_message = ?, "
                "lease_owner = CASE WHEN ? = 'queued' THEN NULL ELSE lease_owner END, lease_expires_at = NULL, "
                f"finished_at = CASE WHEN ? = 'queued' THEN NULL ELSE ? END WHERE {_OWNED}",
                (status.value, to_text(run_after), code, message, status.value, status.value, to_text(now),
                 job_id, worker_id))
            job = await self._get(tx, job_id)
        log.warning("job %d failed on worker %s with %s (%s): now %s", job_id, worker_id, code, message, job.status)
        return job

    async def cancelled(self, job_id: int, worker_id: str) -> bool:
        async with self._db.write() as tx:
            changed = await tx.execute(
                "UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_expires_at = NULL "
                f"WHERE {_OWNED} AND cancel_requested = 1", (to_text(utcnow()), job_id, worker_id))
        return changed == 1

    async def release(self, job_id: int, worker_id: str) -> bool:
        now = to_text(utcnow())
        async with self._db.write() as tx:
            changed = await tx.execute(
                "UPDATE jobs SET status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END, "
                "attempts = CASE WHEN cancel_requested = 1 THEN attempts ELSE MAX(attempts - 1, 0) END, "
                "finished_at = CASE WHEN cancel_requested = 1 THEN ? ELSE NULL END, "
                f"lease_owner = NULL, lease_expires_at = NULL, run_after = ? WHERE {_OWNED}",
                (now, now, job_id, worker_id))
        if changed:
            log.info("worker %s released job %d", worker_id, job_id)
        return changed == 1

    async def cancel(self, job_id: int, *, by: str | None = None) -> Job:
        now = to_text(utcnow())
        async with self._db.write() as tx:
            job = await self._get(tx, job_id)
            if job.status is JobStatus.QUEUED:
                await tx.execute("UPDATE jobs SET status = 'cancelled', cancel_requested = 1, cancelled_by = ?, "
                                 "finished_at = ? WHERE id = ?", (by, now, job_id))
            elif job.status is JobStatus.RUNNING and not job.cancel_requested:
                await tx.execute("UPDATE jobs SET cancel_requested = 1, cancelled_by = ? WHERE id = ?", (by, job_id))
            return await self._get(tx, job_id)

    async def get(self, job_id: int) -> Job:
        row = await self._db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise JobNotFound(f"no job with id {job_id}")
        return job_from_row(row)

    async def list_jobs(self, *, statuses: Sequence[JobStatus] | None = None, guild_id: str | None = None,
                        requested_by: str | None = None, limit: int = 50) -> list[Job]:
        where: list[str] = []
        params: list[Any] = []
        if statuses is not None:
            if not statuses:
                return []
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params += [JobStatus(s).value for s in statuses]
        if guild_id is not None:
            where.append("guild_id = ?")
            params.append(guild_id)
        if requested_by is not None:
            where.append("requested_by = ?")
            params.append(requested_by)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self._db.fetchall(f"SELECT * FROM jobs {clause} ORDER BY id DESC LIMIT ?",
                                       (*params, max(int(limit), 0)))
        return [job_from_row(r) for r in rows]

    async def queue_position(self, job_id: int) -> int | None:
        job = await self.get(job_id)
        if job.status is not JobStatus.QUEUED:
            return None
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND kind = ? AND (priority > ? OR "
            "(priority = ? AND id < ?))", (job.kind.value, job.priority, job.priority, job.id))
        return 1 + (int(row[0]) if row else 0)

    async def recover_stalled(self) -> list[int]:
        now = utcnow()
        recovered: list[int] = []
        async with self._db.write() as tx:
            for row in await tx.fetchall("SELECT * FROM jobs WHERE status = 'running'"):
                job = job_from_row(row)
                verdict = stall_verdict(job, self._timeouts[job.kind], now)
                if verdict is None:
                    continue
                status, code, text = verdict.status, verdict.error_code, verdict.error_message
                queued = status is JobStatus.QUEUED
                await tx.execute(
                    "UPDATE jobs SET status = ?, error_code = ?, error_message = ?, lease_expires_at = NULL, "
                    "lease_owner = CASE WHEN ? THEN NULL ELSE lease_owner END, run_after = ?, finished_at = ? "
                    "WHERE id = ? AND status = 'running'",
                    (status.value, code, text, queued, to_text(now) if queued else to_text(job.run_after),
                     None if queued else to_text(now), job.id))
                recovered.append(job.id)
                log.warning("recovered stalled job %d from worker %s: %s (%s)", job.id, job.lease_owner,
                            status.value, text)
        return recovered

    async def close(self) -> None:
        if self._owns_db:
            await self._db.close()

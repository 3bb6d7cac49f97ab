"""The SQLite adapter of the ``JobQueue`` port: the embedded default for one machine.

Consumes ``JobRequest``s from the bot and claims/heartbeats/results from workers (other processes on
the same file); produces ``Job`` records. Every read-modify-write runs in a ``BEGIN IMMEDIATE``
transaction (``storage.sqlite_db``), so two workers never claim the same job and nobody sees
"database is locked" while another process writes. Dedupe is enforced by a partial UNIQUE index on
``dedupe_key`` over active jobs. Every worker write checks ``lease_owner`` and ``status = 'running'``.
The transitions both databases share live in ``storage.queue.sql_common``; this module keeps
SQLite's enqueue, claim, heartbeat and release.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from storage.clock import after, to_text, utcnow
from storage.errors import StorageError
from storage.queue.sql_common import ACTIVE, INSERT_JOB, OWNED, SqlJobQueue
from storage.queue.sql_common import job_from_row as _job_from_row
from storage.records import EnqueueResult, Heartbeat, Job, JobKind, JobRequest, JobStatus
from storage.repo.sqlite import SQLITE
from storage.sqlite_db import Transaction

log = logging.getLogger(__name__)


def job_from_row(row: sqlite3.Row) -> Job:
    return _job_from_row(row, SQLITE)


class SqliteJobQueue(SqlJobQueue[Transaction]):
    """``JobQueue`` on a SQLite file (see the module docstring)."""

    dialect = SQLITE

    async def enqueue(self, request: JobRequest) -> EnqueueResult:
        kind = JobKind(request.kind)
        params = self._insert_params(request, utcnow())
        key = request.dedupe_key
        try:
            async with self._db.write() as tx:
                if key is not None:
                    row = await tx.fetchone(f"SELECT * FROM jobs WHERE dedupe_key = ? AND {ACTIVE}", (key,))
                    if row is not None:
                        return EnqueueResult(job=self._job(row), created=False)
                job_id = await tx.insert(INSERT_JOB, params)
                job = await self._get(tx, job_id)
        except sqlite3.IntegrityError as exc:
            # Another connection inserted the same active key between our check and insert.
            existing = await self._db.fetchone(f"SELECT * FROM jobs WHERE dedupe_key = ? AND {ACTIVE}", (key,))
            if key is None or existing is None:
                raise StorageError(f"could not enqueue the {kind.value} job: {exc}") from exc
            return EnqueueResult(job=self._job(existing), created=False)
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
            row = await tx.fetchone(f"SELECT kind, cancel_requested FROM jobs WHERE {OWNED}", (job_id, worker_id))
            if row is None:
                return Heartbeat(owned=False, cancel_requested=False)
            lease = self._timeouts[JobKind(row["kind"])].lease_s
            await tx.execute(f"UPDATE jobs SET lease_expires_at = ? WHERE {OWNED}",
                             (to_text(after(lease)), job_id, worker_id))
        return Heartbeat(owned=True, cancel_requested=bool(row["cancel_requested"]))

    async def release(self, job_id: int, worker_id: str) -> bool:
        now = to_text(utcnow())
        async with self._db.write() as tx:
            changed = await tx.execute(
                "UPDATE jobs SET status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END, "
                "attempts = CASE WHEN cancel_requested = 1 THEN attempts ELSE MAX(attempts - 1, 0) END, "
                "finished_at = CASE WHEN cancel_requested = 1 THEN ? ELSE NULL END, "
                f"lease_owner = NULL, lease_expires_at = NULL, run_after = ? WHERE {OWNED}",
                (now, now, job_id, worker_id))
        if changed:
            log.info("worker %s released job %d", worker_id, job_id)
        return changed == 1

    # -- the hooks of SqlJobQueue: BEGIN IMMEDIATE already serialises writers, nothing to mirror ---------
    async def _end_run(self, tx: Transaction, sql: str, params: Sequence[Any], end: str) -> bool:
        return await tx.execute(sql, params) == 1

    async def _stop_run(self, tx: Transaction, job_id: int, sql: str, params: Sequence[Any],
                        status: JobStatus) -> Job:
        await tx.execute(sql, params)
        return await self._get(tx, job_id)

    def _any_of(self, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        return f"{column} IN ({', '.join('?' for _ in values)})", list(values)

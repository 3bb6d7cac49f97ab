"""The procrastinate side of the PostgreSQL queue: delivery records, worker liveness, periodic ticks.

Consumes our job rows' transitions inside the caller's transaction (a ``PgTransaction``); produces
procrastinate jobs (task ``highlights.run_job`` with our job id, queue ``gpu`` or ``control``) that
move with our rows — ``todo`` while queued, ``doing`` while running, then ``succeeded``, ``failed``,
``aborted`` or ``cancelled`` — through procrastinate's own job manager and SQL functions, so
procrastinate's NOTIFY channels wake idle workers on every machine and its tooling sees the queue.

Our ``jobs`` table stays the source of truth (status, lease, progress, cancel, dedupe). Two rules keep
procrastinate from getting in the way:

- procrastinate's ``queueing_lock`` is never set: dedupe happens in our table first (a partial unique
  index over active jobs). With a queueing lock, retrying a stalled job fails with ``UniqueViolation``
  while a duplicate waits in ``todo``.
- every transition is guarded by the procrastinate job's current status, so a procrastinate row that
  was pruned or moved by hand can never make one of our writes fail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg
from procrastinate import PsycopgConnector
from procrastinate import exceptions as pexceptions
from procrastinate import jobs as pjobs
from procrastinate import manager as pmanager
from procrastinate import sql as psql

from storage.errors import StorageError
from storage.pg_db import PgTransaction
from storage.queue.timeouts import GPU_KINDS
from storage.records import JobKind

log = logging.getLogger(__name__)

TASK_NAME = "highlights.run_job"
"""The procrastinate task of every job; its one argument is our ``job_id``."""
GPU_QUEUE = "gpu"
CONTROL_QUEUE = "control"
LISTEN_CONNECT_TIMEOUT_S = 10
"""An idle worker's LISTEN connection gives up on an unreachable server after this long (s)."""


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """procrastinate wraps driver errors in its own exceptions: make them ``StorageError``s."""
    try:
        yield
    except pexceptions.ProcrastinateException as exc:
        cause = exc.__cause__ or exc
        raise StorageError(f"could not {what}: {cause}") from exc


def queue_for(kind: JobKind) -> str:
    return GPU_QUEUE if JobKind(kind) in GPU_KINDS else CONTROL_QUEUE


def channels_for(kinds: Iterable[JobKind]) -> list[str]:
    """procrastinate's NOTIFY channels that announce new jobs of these kinds."""
    return list(pmanager.get_channel_for_queues(sorted({queue_for(k) for k in kinds})))


async def wait_for_announcement(dsn: str, kinds: Iterable[JobKind], timeout_s: float) -> bool:
    """Wait on procrastinate's NOTIFY channels of these kinds' queues: True when a new job was announced
    (on commit, from whichever machine enqueued it), False after ``timeout_s``."""
    timeout = max(float(timeout_s), 0.0)
    woken = False
    try:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True,
                                                         connect_timeout=LISTEN_CONNECT_TIMEOUT_S) as conn:
            for channel in channels_for(kinds):
                await conn.execute(f'LISTEN "{channel}"')  # names from procrastinate, not from input
            # Let the generator end by itself: leaving it early keeps the connection locked.
            async for _ in conn.notifies(timeout=timeout, stop_after=1):
                woken = True
    except (psycopg.Error, OSError) as exc:
        log.debug("waiting for job announcements failed (%s); sleeping instead", exc)
        await asyncio.sleep(timeout)
    return woken


class ProcrastinateLink:
    """procrastinate's job manager bound to the caller's connection (no pool of its own)."""

    def __init__(self) -> None:
        # Used only with explicit connections: the connector's own pool is never opened.
        self._connector = PsycopgConnector()
        self._manager = pmanager.JobManager(self._connector)
        self.worker_id: int | None = None
        """This process's row in ``procrastinate_workers`` once it claimed a job."""

    async def defer(self, tx: PgTransaction, job_id: int, kind: JobKind, priority: int) -> int:
        """Create the procrastinate job of our new job ``job_id``; return its id."""
        job = pjobs.Job(queue=queue_for(kind), task_name=TASK_NAME, priority=int(priority), lock=None,
                        queueing_lock=None, task_kwargs={"job_id": job_id})
        with _translated("defer the procrastinate job"):
            deferred = await self._manager.batch_defer_jobs_async([job], connection=tx.conn)
        assert deferred[0].id is not None
        return deferred[0].id

    async def defer_periodic(self, tx: PgTransaction, job_id: int, kind: JobKind, priority: int, *,
                             periodic_id: str, tick: int) -> int | None:
        """Like ``defer``, unless a job was already deferred for ``periodic_id`` at ``tick``: then None.

        procrastinate records each (task, periodic id, tick) under a unique constraint, so two
        schedulers ticking at once defer one job: the second waits for the first and gets None.
        """
        with _translated("defer the periodic procrastinate job"):
            row = await self._connector.execute_query_one_async_with_connection(
                tx.conn, psql.queries["defer_periodic_job"], queue=queue_for(kind), lock=None, queueing_lock=None,
                task_name=TASK_NAME, priority=int(priority), periodic_id=periodic_id, defer_timestamp=int(tick),
                args={"job_id": job_id, "timestamp": int(tick)})
        return None if row["id"] is None else int(row["id"])

    @staticmethod
    async def job_of_tick(tx: PgTransaction, periodic_id: str, tick: int) -> int | None:
        """Our job id deferred for ``periodic_id`` at ``tick``, or at a later tick that superseded it
        (a scheduler running behind the others skips moments already handled); None when there is none.

        procrastinate keeps only the newest tick per periodic id, so this answers "already done?" for
        the newest tick and for every older one.
        """
        row = await tx.fetchone(
            "SELECT j.id FROM procrastinate_periodic_defers d JOIN jobs j ON j.procrastinate_job_id = d.job_id "
            "WHERE d.task_name = %s AND d.periodic_id = %s AND d.defer_timestamp >= %s "
            "ORDER BY d.defer_timestamp LIMIT 1", (TASK_NAME, periodic_id, int(tick)))
        return None if row is None else int(row["id"])

    # -- transitions (each a no-op when the procrastinate job is not in the expected state) --------------
    async def started(self, tx: PgTransaction, pjob: int | None) -> None:
        if pjob is None:
            return
        worker = await self._live_worker(tx)
        await tx.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s "
                         "WHERE id = %s AND status = 'todo'", (worker, pjob))

    @staticmethod
    async def finished(tx: PgTransaction, pjob: int | None, end: str) -> None:
        """``end``: ``succeeded``, ``failed`` or ``aborted``."""
        if pjob is not None:
            await tx.execute(
                "SELECT procrastinate_finish_job_v1(id, %s::procrastinate_job_status, false) "
                "FROM procrastinate_jobs WHERE id = %s AND status IN ('todo', 'doing')", (end, pjob))

    @staticmethod
    async def requeued(tx: PgTransaction, pjob: int | None, run_after: datetime, priority: int) -> None:
        if pjob is not None:
            await tx.execute(
                "SELECT procrastinate_retry_job_v2(id, %s, %s, NULL, NULL) FROM procrastinate_jobs "
                "WHERE id = %s AND status IN ('doing', 'failed') AND NOT abort_requested",
                (run_after, int(priority), pjob))

    @staticmethod
    async def cancelled_while_queued(tx: PgTransaction, pjob: int | None) -> None:
        if pjob is not None:
            await tx.execute("SELECT procrastinate_cancel_job_v1(id, false, false) FROM procrastinate_jobs "
                             "WHERE id = %s AND status = 'todo'", (pjob,))

    @staticmethod
    async def abort_requested(tx: PgTransaction, pjob: int | None) -> None:
        """Flag a running job (procrastinate NOTIFYs its queue's channel with ``abort_job_requested``)."""
        if pjob is not None:
            await tx.execute("SELECT procrastinate_cancel_job_v1(id, true, false) FROM procrastinate_jobs "
                             "WHERE id = %s AND status = 'doing'", (pjob,))

    # -- worker liveness ------------------------------------------------------------------------------
    async def _live_worker(self, tx: PgTransaction) -> int:
        """This process's procrastinate worker id, registered (again, if pruned) and heartbeaten."""
        if self.worker_id is not None:
            row = await tx.fetchone("UPDATE procrastinate_workers SET last_heartbeat = now() WHERE id = %s "
                                    "RETURNING id", (self.worker_id,))
            if row is not None:
                return self.worker_id
        row = await tx.fetchone("SELECT worker_id FROM procrastinate_register_worker_v1()")
        assert row is not None
        self.worker_id = int(row["worker_id"])
        return self.worker_id

    async def heartbeat(self, tx: PgTransaction) -> None:
        if self.worker_id is not None:
            await tx.execute("SELECT procrastinate_update_heartbeat_v1(%s)", (self.worker_id,))

    @staticmethod
    async def prune_workers(tx: PgTransaction, older_than_s: float) -> None:
        """Forget procrastinate workers silent for ``older_than_s`` (their jobs keep our lease state)."""
        await tx.execute("SELECT procrastinate_prune_stalled_workers_v1(%s)", (float(older_than_s),))

    async def unregister(self, tx: PgTransaction) -> None:
        if self.worker_id is not None:
            await tx.execute("SELECT procrastinate_unregister_worker_v1(%s)", (self.worker_id,))
            self.worker_id = None


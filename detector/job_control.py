"""Job control: the link between a worker's event loop and the thread running one job.

Consumes the ``JobQueue`` port (heartbeats, progress writes) and the detector thread's progress
reports; produces the abort flag the pipeline polls and the reason a job stopped (cancel, lost
lease, shutdown). Also puts the job id on every log record made while the job runs, in any thread.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from storage.queue.port import JobQueue
from storage.records import Job

log = logging.getLogger(__name__)

_JOB_ID: ContextVar[int | None] = ContextVar("highlights_job_id", default=None)
T = TypeVar("T")
ABANDON_AFTER_S = 3.0
"""After a shutdown's grace period ran out and the abort flag is set, the job's thread gets this long to
stop; past it the worker stops waiting for it (releases the job and exits; the thread dies with the
process)."""


# -- the job id in log records ----------------------------------------------------------------------------
@contextmanager
def job_context(job_id: int) -> Iterator[None]:
    """Log records made inside (and in threads started by ``asyncio.to_thread``) carry ``job_id``."""
    token = _JOB_ID.set(job_id)
    try:
        yield
    finally:
        _JOB_ID.reset(token)


def install_job_log_records() -> None:
    """Give every log record ``job_id`` (int or None) and ``job`` (``job 12`` or ``-``) for formatters."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_adds_job_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        job_id = _JOB_ID.get()
        record.job_id = job_id
        record.job = f"job {job_id}" if job_id is not None else "-"
        return record

    factory._adds_job_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


# -- what the event loop and the detector thread share -----------------------------------------------------
class StopReason(enum.Enum):
    CANCEL = "cancel"
    """Someone cancelled the job: stop, clean up, confirm with ``queue.cancelled``."""
    LOST = "lost"
    """The lease is gone (another worker may own the job): stop and write nothing more."""
    SHUTDOWN = "shutdown"
    """The worker is stopping and the grace period ran out: stop and ``queue.release``."""


class StopRequested(Exception):
    """Raised inside the worker when a cancel, a lost lease or a shutdown stops a job between steps."""


class JobControl:
    """One running job's link between the event loop (heartbeats, progress writes) and its work thread.

    The thread calls ``report`` and ``should_abort`` (thread-safe); the loop runs ``supervise``, which
    heartbeats every ``heartbeat_s`` (the kind's, from the timeouts table) and at each new stage,
    writes the latest progress, and sets the abort flag on a cancel request, a lost lease or an
    expired shutdown grace period.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: JobQueue, job: Job, worker_id: str,
                 heartbeat_s: float) -> None:
        self._loop, self._queue, self.job, self._wid = loop, queue, job, worker_id
        self._abort = threading.Event()
        self.reason: StopReason | None = None
        self._lock = threading.Lock()
        self._pending: tuple[str, float] | None = None
        self._fraction = 0.0
        self._stage: str | None = None
        self._written_stage: str | None = None
        self._wake = asyncio.Event()
        self._heartbeat_s = heartbeat_s
        self._next_beat = loop.time() + self._heartbeat_s
        self._deadline: float | None = None

    # thread side
    def should_abort(self) -> bool:
        return self._abort.is_set()

    def report(self, stage: str, fraction: float) -> None:
        """Record progress (never going backwards); a new stage wakes the loop to write it at once."""
        with self._lock:
            self._fraction = max(self._fraction, min(max(float(fraction), 0.0), 1.0))
            self._pending = (stage, self._fraction)
            new_stage = stage != self._stage
            self._stage = stage
        if new_stage:
            self._loop.call_soon_threadsafe(self._wake.set)

    # loop side
    def stop(self, reason: StopReason) -> None:
        if self.reason is None:
            self.reason = reason
            log.info("job %d: stopping (%s)", self.job.id, reason.value)
        self._abort.set()
        self._wake.set()

    def begin_shutdown(self, grace_s: float) -> None:
        deadline = self._loop.time() + max(grace_s, 0.0)
        self._deadline = deadline if self._deadline is None else min(self._deadline, deadline)
        self._wake.set()

    def raise_if_stopped(self) -> None:
        if self.reason is not None:
            raise StopRequested(self.reason.value)

    async def confirm_owned(self) -> None:
        """Heartbeat now and raise ``StopRequested`` unless the job is still ours and not cancelled."""
        await self._tick(force_beat=True)
        self.raise_if_stopped()

    async def supervise(self, work: Awaitable[T]) -> T:
        """Await ``work`` (a thread) while heartbeating, writing progress and watching for stops."""
        task = asyncio.ensure_future(work)
        task.add_done_callback(lambda _: self._wake.set())
        abandon_at: float | None = None
        while not task.done():
            now = self._loop.time()
            wait = self._next_beat - now
            deadline = self._deadline if self.reason is None else None  # a shutdown not yet acted on
            if deadline is not None:
                wait = min(wait, deadline - now)
            if abandon_at is not None:
                wait = min(wait, abandon_at - now)
            if self._wake.is_set():
                await asyncio.sleep(0)  # let the loop deliver the thread's result before looking again
            else:
                try:
                    await asyncio.wait_for(self._wake.wait(), max(wait, 0.0))
                except TimeoutError:
                    pass
            self._wake.clear()
            await self._tick()  # also when the work just ended, so its last stage is written
            if deadline is not None and self._loop.time() >= deadline and not task.done():
                self.stop(StopReason.SHUTDOWN)
            if self.reason is StopReason.SHUTDOWN and not task.done():
                if abandon_at is None:
                    abandon_at = self._loop.time() + ABANDON_AFTER_S
                elif self._loop.time() >= abandon_at:
                    log.warning("job %d: its work did not stop within %.0f s of the abort; leaving it behind",
                                self.job.id, ABANDON_AFTER_S)
                    task.add_done_callback(_consume)
                    raise StopRequested(StopReason.SHUTDOWN.value)
        return task.result()

    async def _tick(self, *, force_beat: bool = False) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        new_stage = pending is not None and pending[0] != self._written_stage
        if pending is not None and self.reason is None:
            try:
                owned = await self._queue.progress(self.job.id, self._wid, stage=pending[0], fraction=pending[1])
            except Exception as exc:  # a database hiccup: the lease outlives a few missed writes
                log.warning("job %d: writing progress failed: %s", self.job.id, exc)
            else:
                self._written_stage = pending[0]
                if not owned:
                    self.stop(StopReason.LOST)
        if self.reason is StopReason.LOST or not (force_beat or new_stage or self._loop.time() >= self._next_beat):
            return
        self._next_beat = self._loop.time() + self._heartbeat_s
        try:
            beat = await self._queue.heartbeat(self.job.id, self._wid)
        except Exception as exc:
            log.warning("job %d: heartbeat failed (will retry): %s", self.job.id, exc)
            return
        if not beat.owned:
            self.stop(StopReason.LOST)
        elif beat.cancel_requested:
            self.stop(StopReason.CANCEL)


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned work's outcome whenever it ends (nothing logged as never retrieved)."""
    if not task.cancelled():
        task.exception()

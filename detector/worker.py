"""Worker stage: the queue loop around the job handlers — claimed jobs in, results and statuses out.

Consumes jobs from the ``JobQueue`` port and writes through the ``Repository`` port and an
``ArtifactStore``; never touches one backend's internals. DETECT jobs are run by
``detector.detect_job.DetectJob`` (payload → detection → clips → renders), RENDER jobs (a re-cut of one
stored clip, no detection) by ``detector.recut_job.RecutJob``, ADAPT jobs by
``detector.adapt_job.AdaptJob`` (viewers' clips and votes → a community's ranker), CLEANUP jobs here. The
heavy work runs in a thread while the event loop heartbeats every ``heartbeat_s`` of the job's kind
(``storage.queue.timeouts``), writes progress and watches for a cancel request, a lost lease or a
shutdown; whatever stops the job reaches it through ``JobControl.should_abort`` (a
``threading.Event``) which the pipeline polls. A ``DetectorError`` (bad input) fails the job for good
with its ``code`` (unless it says it may pass, as a Twitch outage does); a full disk fails it with
``disk_full``; anything else (OOM, I/O) is retryable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from detector.errors import ConfigError, DetectorError
from detector.job_control import JobControl, StopReason, job_context
from detector.scratch import sweep
from storage.artifacts import ArtifactStore
from storage.bounded import bounded, stop_task
from storage.errors import StorageError
from storage.queue.port import JobQueue
from storage.queue.timeouts import KindTimeouts, with_overrides
from storage.records import Job, JobKind, JobStatus
from storage.repo.port import Repository

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

IDLE_WAIT_SLACK_S = 5.0
"""How long past ``idle_s`` an idle worker waits for a queue's ``wait_for_jobs`` before giving up on it."""
RELEASE_TIMEOUT_S = 3.0
"""How long releasing a job on shutdown may take; past it the lease expires and recovery re-queues it."""

@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How one worker process behaves (``highlights worker`` options)."""

    worker_id: str
    kinds: tuple[JobKind, ...] = (JobKind.DETECT, JobKind.RENDER, JobKind.CLEANUP, JobKind.ADAPT)
    device: str = "auto"
    """Compute device for jobs that do not name one (``auto``: a GPU when one is visible)."""
    grace_s: float = 30.0
    """On SIGTERM, how long the current job may run on before it is aborted and released (s)."""
    retention_days: float = 30.0
    """CLEANUP jobs delete job folders not modified for this many days."""
    idle_s: float = 1.0
    """Pause between claims while the queue has nothing runnable (s)."""
    once: bool = False
    """Exit as soon as nothing is runnable, instead of waiting for more jobs."""
    timeouts: Mapping[JobKind, KindTimeouts] | None = None
    """Overrides of ``storage.queue.timeouts.TIMEOUTS`` (the same ones the queue was opened with)."""


class Worker:
    """Claims jobs of ``options.kinds`` one at a time and runs them (see the module docstring)."""

    def __init__(self, queue: JobQueue, repo: Repository, artifacts: ArtifactStore, options: WorkerOptions) -> None:
        self.queue = queue
        self.repo = repo
        self.artifacts = artifacts
        self.options = options
        self.timeouts = with_overrides(options.timeouts)
        self._stopping = asyncio.Event()
        self._recovered = asyncio.Event()
        """Set when this worker re-queued stalled jobs: the idle wait ends so it can claim them at once."""
        self._closing = asyncio.Event()
        """Set when ``run`` ends: background loops stop at their next step even if a cancellation is lost."""
        self._control: JobControl | None = None
        self.handled = 0

    # -- the loop ---------------------------------------------------------------------------------------
    def stop(self, *, grace_s: float | None = None) -> None:
        """Stop claiming; the current job gets ``grace_s`` (default the option) to finish.

        Safe to call from the event loop thread only (signal handlers added with
        ``loop.add_signal_handler`` run there); a second call with ``grace_s=0`` aborts at once.
        """
        if self._stopping.is_set() and grace_s is None:
            grace_s = 0.0
        self._stopping.set()
        if self._control is not None:
            self._control.begin_shutdown(self.options.grace_s if grace_s is None else grace_s)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> int:
        """Claim and run jobs until stopped (or, with ``once``, until nothing is runnable)."""
        recover = asyncio.create_task(self._recover_periodically())
        try:
            while not self._stopping.is_set():
                try:
                    job = await self.queue.claim(self.options.worker_id, self.options.kinds)
                except StorageError as exc:  # the database is briefly unreachable: try again
                    log.warning("claiming a job failed: %s", exc)
                    job = None
                if job is not None and self._stopping.is_set():
                    await bounded(self.queue.release(job.id, self.options.worker_id), RELEASE_TIMEOUT_S,
                                  what=f"releasing job {job.id}")
                    break
                if job is None:
                    if self.options.once:
                        break
                    await self._idle()
                    continue
                try:
                    await self.run_job(job)
                except StorageError as exc:
                    log.warning("job %d: the queue could not record how it ended (%s); its lease will expire "
                                "and it will be recovered", job.id, exc)
        finally:
            self._closing.set()
            await stop_task(recover, what="the stalled-job recovery")
        return self.handled

    async def _idle(self) -> None:
        """Wait before the next claim: at most ``idle_s``, less when stopped or when the queue announces work.

        A queue that offers ``wait_for_jobs`` (PostgreSQL: procrastinate's NOTIFY) wakes the worker as
        soon as a job of its kinds is enqueued on any machine; on SQLite the worker just sleeps. Jobs this
        worker's own recovery re-queued end the wait too (re-queues are not announced).
        """
        idle_s = self.options.idle_s
        wait_for_jobs = getattr(self.queue, "wait_for_jobs", None)
        waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._stopping.wait()),
                                           asyncio.ensure_future(self._recovered.wait())}
        announced: asyncio.Future[Any] | None = None
        if wait_for_jobs is not None:
            announced = asyncio.ensure_future(wait_for_jobs(self.options.kinds, idle_s))
            waits.add(announced)
        try:
            # With wait_for_jobs the timeout is a backstop (it has its own); without, it is the sleep.
            await asyncio.wait(waits, timeout=idle_s + (IDLE_WAIT_SLACK_S if announced else 0.0),
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            await asyncio.gather(*(stop_task(task, what="waiting for new jobs") for task in waits))
            self._recovered.clear()
        failure = announced.exception() if announced is not None and announced.done() \
            and not announced.cancelled() else None
        if failure is not None:  # never spin: sleep the interval instead
            log.warning("waiting for new jobs failed (%s); sleeping %g s instead", failure, idle_s)
            try:
                await asyncio.wait_for(self._stopping.wait(), idle_s)
            except TimeoutError:
                pass

    async def _recover_periodically(self) -> None:
        """Re-queue jobs whose worker died: cheap and idempotent, so every worker does it."""
        interval = min(t.heartbeat_s for t in self.timeouts.values())
        while not self._closing.is_set():
            try:
                recovered = await self.queue.recover_stalled()
                if recovered:
                    self._recovered.set()
                    log.warning("recovered stalled job(s) %s (their worker stopped heartbeating)", recovered)
            except Exception as exc:  # never let this task die: the next round may succeed
                log.warning("recovering stalled jobs failed: %s", exc)
            try:  # ends early when run() ends, even if this task's cancellation was lost in the driver
                await asyncio.wait_for(self._closing.wait(), interval)
            except TimeoutError:
                pass

    # -- one job ----------------------------------------------------------------------------------------
    async def run_job(self, job: Job) -> JobStatus | None:
        """Run one claimed job to its end; return the status it was left in (None: lease lost)."""
        control = JobControl(asyncio.get_running_loop(), self.queue, job, self.options.worker_id,
                             self.timeouts[job.kind].heartbeat_s)
        self._control = control
        if self._stopping.is_set():
            control.begin_shutdown(self.options.grace_s)
        with job_context(job.id):
            log.info("started %s job %d (attempt %d of %d)", job.kind, job.id, job.attempts, job.max_attempts)
            if job.attempts > 1:  # a dead attempt may have left .part files and scratch folders behind
                await asyncio.to_thread(sweep, self.artifacts.job_dir(job.id, create=False), 0.0)
            try:
                status = await self._finish(job, control)
            finally:
                self._control = None
                self.handled += 1
        return status

    async def _finish(self, job: Job, control: JobControl) -> JobStatus | None:
        wid = self.options.worker_id
        try:
            if job.kind is JobKind.DETECT:
                result = await self._detect(job, control)
            elif job.kind is JobKind.RENDER:
                result = await self._recut(job, control)
            elif job.kind is JobKind.CLEANUP:
                result = await self._cleanup(job, control)
            elif job.kind is JobKind.ADAPT:
                result = await self._adapt(job, control)
            else:
                raise ConfigError(f"This worker has no handler for {job.kind} jobs.")
        except BaseException as exc:
            if control.reason is not None and isinstance(exc, Exception):  # the stop caused it (or beat it)
                return await self._stopped(job, control)
            if isinstance(exc, DetectorError):
                log.warning("job %d failed: %s", job.id, exc)
                return await self._fail(job, exc.code, str(exc), retryable=exc.retryable)
            if isinstance(exc, StorageError) and exc.code == "disk_full":
                log.warning("job %d failed: %s", job.id, exc)
                return await self._fail(job, exc.code, str(exc), retryable=False)
            if not isinstance(exc, Exception):
                raise
            oom = isinstance(exc, MemoryError) or "OutOfMemory" in type(exc).__name__
            log.error("job %d raised %s (will be retried if attempts are left)", job.id, type(exc).__name__,
                      exc_info=exc)
            return await self._fail(job, "out_of_memory" if oom else "worker_error",
                                    f"{type(exc).__name__}: {exc}", retryable=True)
        if not (await self.queue.progress(job.id, wid, stage="done", fraction=1.0)
                and await self.queue.complete(job.id, wid, result)):
            log.warning("job %d finished but its lease was lost: another worker owns it now", job.id)
            return None
        log.info("job %d succeeded", job.id)
        return JobStatus.SUCCEEDED

    async def _stopped(self, job: Job, control: JobControl) -> JobStatus | None:
        wid = self.options.worker_id
        if control.reason is StopReason.LOST:
            log.warning("job %d: lease lost (another worker may run it); stopped without writing more", job.id)
            return None
        self.artifacts.remove_job(job.id)
        if control.reason is StopReason.CANCEL:
            await self.queue.cancelled(job.id, wid)
            log.info("job %d cancelled; partial artifacts removed", job.id)
            return JobStatus.CANCELLED
        released = await bounded(self.queue.release(job.id, wid), RELEASE_TIMEOUT_S, what=f"releasing job {job.id}")
        if released is None:
            log.warning("job %d: not released in time; its lease will expire and another worker will run it", job.id)
            return None
        if not released:
            log.warning("job %d: its lease was already lost when releasing it", job.id)
            return None
        log.info("job %d released for another worker (shutdown)", job.id)
        return JobStatus.QUEUED

    async def _fail(self, job: Job, code: str, message: str, *, retryable: bool) -> JobStatus | None:
        after = await self.queue.fail(job.id, self.options.worker_id, code=code, message=message,
                                      retryable=retryable)
        return None if after is None else after.status

    # -- handlers ---------------------------------------------------------------------------------------
    async def _detect(self, job: Job, control: JobControl) -> dict[str, Any]:
        from detector.detect_job import DetectJob

        return await DetectJob(self.repo, self.artifacts, self.options.device).run(job, control)

    async def _recut(self, job: Job, control: JobControl) -> dict[str, Any]:
        from detector.recut_job import RecutJob

        return await RecutJob(self.repo, self.artifacts).run(job, control)

    async def _adapt(self, job: Job, control: JobControl) -> dict[str, Any]:
        from detector.adapt_job import AdaptJob

        return await AdaptJob(self.repo, self.artifacts).run(job, control)

    async def _cleanup(self, job: Job, control: JobControl) -> dict[str, Any]:
        days = float(job.payload.get("days", self.options.retention_days))
        active = await self.queue.list_jobs(statuses=[JobStatus.QUEUED, JobStatus.RUNNING], limit=100_000)
        keep = {j.id for j in active}
        control.report("cleaning artifacts", 0.0)
        removed = await control.supervise(asyncio.to_thread(self.artifacts.clean_older_than, days, keep=keep))
        return {"days": days, "removed": [self.artifacts.relative(p) for p in removed]}

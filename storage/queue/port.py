"""The ``JobQueue`` port: the one interface the bot and the worker use to share jobs.

Semantics every adapter must keep (the contract tests in ``tests/storage`` check them on SQLite and
PostgreSQL alike):

- ``enqueue`` with a ``dedupe_key`` joins the active (queued or running) job with that key instead of
  adding a second one; ``EnqueueResult.created`` says which happened.
- ``claim`` hands the highest-priority runnable job (then the oldest) of the given kinds to exactly
  one worker, with a lease of the kind's ``lease_s``; a job is runnable when queued and its
  ``run_after`` has passed.
- ``heartbeat`` renews the lease while the caller still owns it and reports a cancel request.
- ``progress`` records stage/fraction/message (readable at once from any other connection).
- ``complete`` / ``fail`` end an owned job; a retryable failure with attempts left goes back to the
  queue after a backoff, otherwise the job fails with its error kept.
- ``cancel`` cancels a queued job at once and flags a running one; the worker sees the flag in its
  next heartbeat or abort check and then calls ``cancelled``.
- ``release`` gives an owned job back (graceful shutdown) without spending an attempt.
- ``recover_stalled`` re-queues running jobs whose lease expired (or fails them when out of
  attempts, or past ``max_runtime_s``); a job never runs twice at once, because a worker whose lease
  was lost gets ``owned=False`` and must stop, and every owner-checked write from it is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from storage.records import EnqueueResult, Heartbeat, Job, JobKind, JobRequest, JobStatus


class JobQueue(Protocol):
    async def enqueue(self, request: JobRequest) -> EnqueueResult: ...

    async def claim(self, worker_id: str, kinds: Sequence[JobKind]) -> Job | None: ...

    async def heartbeat(self, job_id: int, worker_id: str) -> Heartbeat: ...

    async def progress(self, job_id: int, worker_id: str, *, stage: str | None = None,
                       fraction: float | None = None, message: str | None = None) -> bool:
        """False when the caller no longer owns the job."""
        ...

    async def complete(self, job_id: int, worker_id: str, result: dict[str, Any] | None = None) -> bool: ...

    async def fail(self, job_id: int, worker_id: str, *, code: str, message: str,
                   retryable: bool = True) -> Job | None:
        """The job after the failure (queued again with a backoff, or failed); None if not owned."""
        ...

    async def cancelled(self, job_id: int, worker_id: str) -> bool:
        """A worker confirms it stopped a job whose cancel was requested."""
        ...

    async def release(self, job_id: int, worker_id: str) -> bool: ...

    async def cancel(self, job_id: int, *, by: str | None = None) -> Job: ...

    async def get(self, job_id: int) -> Job: ...

    async def list_jobs(self, *, statuses: Sequence[JobStatus] | None = None, guild_id: str | None = None,
                        requested_by: str | None = None, limit: int = 50) -> list[Job]: ...

    async def queue_position(self, job_id: int) -> int | None:
        """1 for the next job to be claimed among its kind; None when not queued."""
        ...

    async def recover_stalled(self) -> list[int]:
        """Ids of jobs re-queued or failed because their lease expired."""
        ...

    async def close(self) -> None: ...

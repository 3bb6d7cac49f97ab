"""What recovery does with a running job: the one rule both queue adapters apply in ``recover_stalled``.

Consumes a running ``Job``, its kind's ``KindTimeouts`` and the current time; produces ``None`` (the
job is healthy) or a ``StallVerdict``: fail it with ``timeout`` past ``max_runtime_s`` whatever its
heartbeats say; otherwise, once its lease expired, mark it cancelled if a cancel was requested, re-queue
it if attempts are left, or fail it with ``lease_expired``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.queue.timeouts import KindTimeouts
from storage.records import Job, JobStatus


@dataclass(frozen=True, slots=True)
class StallVerdict:
    status: JobStatus
    """``queued``, ``failed`` or ``cancelled``."""
    error_code: str | None
    error_message: str | None


def stall_verdict(job: Job, limits: KindTimeouts, now: datetime) -> StallVerdict | None:
    overran = job.started_at is not None and now - job.started_at > timedelta(seconds=limits.max_runtime_s)
    expired = job.lease_expires_at is None or job.lease_expires_at < now
    if overran:
        return StallVerdict(JobStatus.FAILED, "timeout", f"ran longer than its limit of {limits.max_runtime_s:.0f} s")
    if not expired:
        return None
    if job.cancel_requested:
        return StallVerdict(JobStatus.CANCELLED, job.error_code, job.error_message)
    status = JobStatus.QUEUED if job.attempts < job.max_attempts else JobStatus.FAILED
    return StallVerdict(status, "lease_expired", f"worker {job.lease_owner} stopped renewing its lease "
                                                  f"(attempt {job.attempts}/{job.max_attempts})")

"""Every queue timeout, per job kind, in one place.

Long GPU jobs need long leases kept alive by heartbeats, not long leases alone: a worker that dies
stops heartbeating and its job is recovered after ``lease_s``. Nothing else in the code base may
hard-code one of these numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from storage.records import JobKind


@dataclass(frozen=True, slots=True)
class KindTimeouts:
    lease_s: float
    """A claimed job is the worker's for this long after its last heartbeat."""
    heartbeat_s: float
    """How often a worker renews its lease (well under ``lease_s``)."""
    max_runtime_s: float
    """A job running longer than this is failed with ``timeout``, whatever its heartbeats say."""
    max_attempts: int
    """Tries before a job that keeps failing (or keeps losing its worker) is failed for good."""
    backoff_base_s: float
    """Retry n waits ``backoff_base_s * 2**(n-1)``, capped at ``backoff_max_s``."""
    backoff_max_s: float


# A 20 s lease renewed every 5 s survives three missed heartbeats (a database hiccup) and lets a dead
# worker's job run again within ~25 s (lease + one stalled-job scan): `highlights bench queue`.
TIMEOUTS: dict[JobKind, KindTimeouts] = {
    JobKind.DETECT: KindTimeouts(lease_s=20.0, heartbeat_s=5.0, max_runtime_s=6 * 3600.0, max_attempts=3,
                                 backoff_base_s=30.0, backoff_max_s=900.0),
    JobKind.POLL: KindTimeouts(lease_s=20.0, heartbeat_s=5.0, max_runtime_s=300.0, max_attempts=5,
                               backoff_base_s=10.0, backoff_max_s=600.0),
    JobKind.CLEANUP: KindTimeouts(lease_s=20.0, heartbeat_s=5.0, max_runtime_s=1800.0, max_attempts=2,
                                  backoff_base_s=60.0, backoff_max_s=600.0),
    # Downloads the chat replays of a few VODs (minutes each at worst) and fits in seconds.
    JobKind.ADAPT: KindTimeouts(lease_s=20.0, heartbeat_s=5.0, max_runtime_s=2 * 3600.0, max_attempts=3,
                                backoff_base_s=300.0, backoff_max_s=3600.0),
    # One clip re-cut from a stored candidate (a section download for a Twitch VOD, one encode): minutes at most.
    JobKind.RENDER: KindTimeouts(lease_s=20.0, heartbeat_s=5.0, max_runtime_s=1800.0, max_attempts=2,
                                 backoff_base_s=20.0, backoff_max_s=300.0),
}

GPU_KINDS = frozenset({JobKind.DETECT, JobKind.RENDER})
"""Kinds that need the GPU queue (one at a time per GPU); the rest go to the control queue."""


def backoff_s(kind: JobKind, attempt: int, table: Mapping[JobKind, KindTimeouts] | None = None) -> float:
    """Delay before retry number ``attempt`` (1 = the first retry), from ``table`` (default ``TIMEOUTS``)."""
    t = (TIMEOUTS if table is None else table)[kind]
    return float(min(t.backoff_base_s * 2 ** max(attempt - 1, 0), t.backoff_max_s))


def with_lease(lease_s: float, heartbeats_per_lease: float = 4.0) -> dict[JobKind, KindTimeouts]:
    """``TIMEOUTS`` with every kind's lease set to ``lease_s`` and heartbeats shortened to match
    (``highlights worker --lease``: tests and benches that kill workers and wait for recovery)."""
    from dataclasses import replace

    return {kind: replace(t, lease_s=lease_s, heartbeat_s=min(t.heartbeat_s, lease_s / heartbeats_per_lease))
            for kind, t in TIMEOUTS.items()}


def with_overrides(overrides: Mapping[JobKind, KindTimeouts] | None) -> dict[JobKind, KindTimeouts]:
    """``TIMEOUTS`` with some kinds replaced (tests use short leases; a deployment may lengthen them)."""
    table = dict(TIMEOUTS)
    table.update(overrides or {})
    return table

"""Per-user request limits: a rolling-hour rate limit (in memory) and a queue quota (from the queue).

Consumes request times and the queue's active jobs; raises ``RateLimited`` or ``QuotaExceeded``
with when to try again. The rate window lives in the bot process: a restart forgets it, which
errs on the side of the user; the quota always reads the queue, so it survives restarts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from bot.errors import QuotaExceeded, RateLimited
from bot.views.job_card import human_duration
from storage.queue.port import JobQueue
from storage.records import JobStatus

WINDOW_S = 3600.0


class RateLimiter:
    """At most ``limit`` requests per ``window_s`` for each key (guild × user)."""

    def __init__(self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}

    def check(self, key: tuple[str, str], limit: int, what: str = "requests") -> None:
        """Raise ``RateLimited`` when ``key`` already used up ``limit`` in the window (``what``: the word for them)."""
        hits = self._recent(key)
        if limit <= 0:
            raise RateLimited(f"{what.capitalize()} are turned off for members here (the per-hour limit is 0).")
        if len(hits) >= limit:
            wait = hits[0] + self.window_s - self._clock()
            raise RateLimited(f"You reached the limit of {limit} {what} per hour; "
                              f"try again in {human_duration(wait)}.")

    def record(self, key: tuple[str, str]) -> None:
        self._recent(key).append(self._clock())

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        cutoff = self._clock() - self.window_s
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return hits


async def check_quota(queue: JobQueue, guild_id: str, user_id: str, limit: int) -> None:
    """Raise ``QuotaExceeded`` when the user already has ``limit`` queued or running jobs here."""
    active = await queue.list_jobs(statuses=[JobStatus.QUEUED, JobStatus.RUNNING], guild_id=guild_id,
                                   requested_by=user_id, limit=max(limit, 0) + 1)
    if len(active) >= limit:
        ids = ", ".join(f"#{j.id}" for j in active[:5])
        raise QuotaExceeded(f"You already have {len(active)} job(s) waiting or running ({ids}); "
                            f"the limit here is {limit}. Wait for one to finish or /cancel one.")

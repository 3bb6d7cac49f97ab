"""Scheduler stage, adaptation refresh: every subscribed guild × streamer gets an ADAPT job now and then.

Consumes the enabled subscriptions and the jobs already queued; produces ADAPT jobs (dedupe key
``adapt:<guild>:<streamer id>``, ``Priority.SCHEDULED``) for the pairs whose last ADAPT job is older
than ``interval_s`` (or that never had one). A worker runs the job (``detector.adapt_job``): the
streamer's newest ``vods`` VODs' viewer clips (Helix) and the guild's votes → its adapted chat ranker,
stored beside its vote tuning. The check is idempotent — it reads the newest job with the pair's key,
whatever its status — so restarts and several schedulers neither skip nor repeat a refresh, and a
refresh that found too few labels waits for the next interval like any other.

Options (environment of the ``run`` process): ``HIGHLIGHTS_ADAPT_INTERVAL_S`` (default 604800, a
week; 0 turns refreshes off) and ``HIGHLIGHTS_ADAPT_VODS`` (default 10, at most 100).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.clock import utcnow
from storage.errors import RecordNotFound, StorageError
from storage.queue.port import JobQueue
from storage.records import EnqueueResult, JobKind, JobRequest, Priority
from storage.repo.port import Repository

log = logging.getLogger(__name__)

ENV_ADAPT_INTERVAL = "HIGHLIGHTS_ADAPT_INTERVAL_S"
ENV_ADAPT_VODS = "HIGHLIGHTS_ADAPT_VODS"
DEFAULT_ADAPT_INTERVAL_S = 7 * 24 * 3600.0
DEFAULT_ADAPT_VODS = 10
REQUESTED_BY = "scheduler"


@dataclass(frozen=True, slots=True)
class RefreshOptions:
    interval_s: float = DEFAULT_ADAPT_INTERVAL_S
    """Seconds between two ADAPT jobs of one guild × streamer (0: never)."""
    vods: int = DEFAULT_ADAPT_VODS
    """How many of the streamer's newest VODs each refresh learns from."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RefreshOptions:
        env = os.environ if environ is None else environ
        interval = _number(env, ENV_ADAPT_INTERVAL, DEFAULT_ADAPT_INTERVAL_S, 0.0, None)
        vods = _number(env, ENV_ADAPT_VODS, DEFAULT_ADAPT_VODS, 1.0, 100.0)
        if vods != int(vods):
            raise StorageError(f"{ENV_ADAPT_VODS}={env.get(ENV_ADAPT_VODS)!r} must be a whole number of VODs")
        return cls(interval_s=interval, vods=int(vods))


def _number(env: Mapping[str, str], name: str, default: float, minimum: float, maximum: float | None) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise StorageError(f"{name}={raw!r} is not a number") from None
    if not value >= minimum or (maximum is not None and value > maximum):
        raise StorageError(f"{name}={raw!r} must be between {minimum:g} and {maximum if maximum is not None else 'any'}")
    return value


def adapt_dedupe_key(guild_id: str, streamer_id: int) -> str:
    return f"adapt:{guild_id}:{int(streamer_id)}"


def adapt_request(guild_id: str, streamer_id: int, vods: int = DEFAULT_ADAPT_VODS, *,
                  requested_by: str = REQUESTED_BY, priority: int = Priority.SCHEDULED) -> JobRequest:
    return JobRequest(kind=JobKind.ADAPT, payload={"guild_id": guild_id, "streamer_id": int(streamer_id), "vods": vods},
                      dedupe_key=adapt_dedupe_key(guild_id, streamer_id), priority=priority,
                      requested_by=requested_by, guild_id=guild_id)


async def refresh_due(repo: Repository, queue: JobQueue, options: RefreshOptions, *,
                      now: datetime | None = None) -> list[EnqueueResult]:
    """Enqueue an ADAPT job for each subscribed guild × streamer whose last one is older than the interval."""
    if options.interval_s <= 0:
        return []
    moment = now or utcnow()
    pairs = sorted({(s.guild_id, s.streamer_id) for s in await repo.list_subscriptions(enabled_only=True)})
    queued = []
    for guild, streamer in pairs:
        key = adapt_dedupe_key(guild, streamer)
        last = await repo.find_job_with_key(key, guild_id=guild)
        if last is not None:
            try:
                job = await queue.get(last)
            except RecordNotFound:
                job = None
            if job is not None and job.created_at > moment - timedelta(seconds=options.interval_s):
                continue
        result = await queue.enqueue(adapt_request(guild, streamer, options.vods))
        log.info("guild %s × streamer %d: adaptation refresh queued (job %d)", guild, streamer, result.job.id)
        queued.append(result)
    return queued

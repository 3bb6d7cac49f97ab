"""Scheduler stage: one APScheduler interval job per enabled subscription, each tick a cheap POLL job.

Consumes the subscriptions in the repository (re-read every ``sync_s``, so subscriptions the bot adds,
moves, disables or removes are picked up without a restart) and the options below; produces POLL jobs
(dedupe key ``poll:<subscription id>``, ``Priority.SCHEDULED``), which ``storage.polling.PollConsumer``
— running in this same process — claims and turns into DETECT jobs. ``main(storage_url)`` is what
``highlights run`` starts in a process of its own; it returns when that process gets SIGTERM.

Options (environment of the ``run`` process):

- ``HIGHLIGHTS_POLL_INTERVAL_S``: seconds between polls of one subscription (default 600, at least 1);
- ``HIGHLIGHTS_POLL_JITTER_S``: up to this many seconds are added to each tick at random (default 60),
  so many subscriptions do not ask Twitch in the same second;
- ``HIGHLIGHTS_SCHEDULER_SYNC_S``: seconds between re-reads of the subscriptions (default 60); each
  re-read also queues the ADAPT jobs that are due (``storage.adapt_refresh``: weekly by default, from
  each streamer's newest VODs' viewer clips; ``HIGHLIGHTS_ADAPT_INTERVAL_S``, ``HIGHLIGHTS_ADAPT_VODS``);
- ``TWITCH_CLIENT_ID`` / ``TWITCH_CLIENT_SECRET`` (and the Helix base URLs, ``storage.twitch.helix``).
  Without credentials the scheduler logs why and exits with status 0; the other components run on.

A newly scheduled subscription is first polled within ``jitter_s`` (not a whole interval later). Ticks
missed while the event loop was busy are coalesced into one. Several schedulers on one PostgreSQL
database are safe: a subscription's POLL jobs share a dedupe key, and the poll itself is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from storage.adapt_refresh import RefreshOptions, refresh_due
from storage.clock import utcnow
from storage.errors import RecordNotFound, StorageError
from storage.factory import Storage, open_storage
from storage.polling import PollConsumer, poll_request
from storage.queue.port import JobQueue
from storage.records import EnqueueResult
from storage.repo.port import Repository
from storage.twitch.errors import TwitchCredentialsMissing
from storage.twitch.helix import Helix

log = logging.getLogger(__name__)

ENV_INTERVAL = "HIGHLIGHTS_POLL_INTERVAL_S"
ENV_JITTER = "HIGHLIGHTS_POLL_JITTER_S"
ENV_SYNC = "HIGHLIGHTS_SCHEDULER_SYNC_S"
DEFAULT_INTERVAL_S = 600.0
DEFAULT_JITTER_S = 60.0
DEFAULT_SYNC_S = 60.0
STOP_GRACE_S = 10.0
"""On SIGTERM, how long a POLL job in progress may run on before it is released."""


def _env_seconds(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise StorageError(f"{name}={raw!r} is not a number of seconds") from None
    if not value >= minimum:
        raise StorageError(f"{name}={raw!r} must be at least {minimum:g} s")
    return value


@dataclass(frozen=True, slots=True)
class SchedulerOptions:
    interval_s: float = DEFAULT_INTERVAL_S
    """Seconds between two polls of one subscription."""
    jitter_s: float = DEFAULT_JITTER_S
    """Each tick comes up to this many seconds late, at random (0: exactly on the interval)."""
    sync_s: float = DEFAULT_SYNC_S
    """Seconds between re-reads of the subscriptions."""
    idle_s: float = 1.0
    """How long the POLL consumer waits when no POLL job is runnable (it is woken by each enqueue)."""
    refresh: RefreshOptions = RefreshOptions()
    """When each guild × streamer's chat ranker is adapted again (``storage.adapt_refresh``); checked every sync."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SchedulerOptions:
        env = os.environ if environ is None else environ
        return cls(interval_s=_env_seconds(env, ENV_INTERVAL, DEFAULT_INTERVAL_S, 1.0),
                   jitter_s=_env_seconds(env, ENV_JITTER, DEFAULT_JITTER_S, 0.0),
                   sync_s=_env_seconds(env, ENV_SYNC, DEFAULT_SYNC_S, 0.1),
                   refresh=RefreshOptions.from_env(env))


class SubscriptionScheduler:
    """Keeps one APScheduler interval job per enabled subscription; each tick enqueues a POLL job."""

    SYNC_JOB = "sync-subscriptions"

    def __init__(self, repo: Repository, queue: JobQueue, options: SchedulerOptions | None = None, *,
                 on_enqueued: Callable[[], None] | None = None) -> None:
        self.repo = repo
        self.queue = queue
        self.options = options or SchedulerOptions()
        self.on_enqueued = on_enqueued
        self.ticks = 0
        self._scheduler: AsyncIOScheduler | None = None
        self._jobs: dict[int, str] = {}
        self._sync_lock = asyncio.Lock()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def scheduled(self) -> frozenset[int]:
        """Ids of the subscriptions that have an interval job now."""
        return frozenset(self._jobs)

    async def start(self) -> None:
        """Start APScheduler on the running loop and schedule every enabled subscription."""
        scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1,
                                                                 "misfire_grace_time": None})
        scheduler.add_listener(self._count_ticks, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
                               | EVENT_JOB_MISSED)
        scheduler.start()
        self._scheduler = scheduler
        scheduler.add_job(self._sync_tick, IntervalTrigger(seconds=self.options.sync_s, timezone=UTC),
                          id=self.SYNC_JOB, replace_existing=True)
        try:
            await self.sync()
        except StorageError as exc:  # the next sync tick tries again
            log.warning("reading the subscriptions failed: %s", exc)

    async def shutdown(self, grace_s: float = 5.0) -> None:
        """Stop ticking, let the ticks already submitted finish (at most ``grace_s``), then stop APScheduler.

        A tick whose task was created but has not started yet would otherwise be cancelled unstarted, and
        APScheduler logs that as an error; the ticks themselves are short (a query and an enqueue).
        """
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            scheduler.pause()
            try:
                await asyncio.wait_for(self._idle.wait(), grace_s)
            except TimeoutError:
                log.warning("the scheduler stops with a tick still running after %g s", grace_s)
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down in a loop callback
        self._scheduler = None
        self._jobs.clear()

    def _count_ticks(self, event: JobEvent) -> None:
        """APScheduler's listener (called on the loop): ticks submitted and not yet finished."""
        if event.code == EVENT_JOB_SUBMITTED:
            self._in_flight += 1
            self._idle.clear()
            return
        self._in_flight = max(self._in_flight - 1, 0)
        if self._in_flight == 0:
            self._idle.set()

    async def sync(self) -> frozenset[int]:
        """Add an interval job for each enabled subscription without one; remove those no longer enabled."""
        async with self._sync_lock:
            scheduler = self._scheduler
            if scheduler is None:
                raise StorageError("the subscription scheduler is not started")
            wanted = {s.id for s in await self.repo.list_subscriptions(enabled_only=True)}
            for sid in sorted(set(self._jobs) - wanted):
                job_id = self._jobs.pop(sid)
                if scheduler.get_job(job_id) is not None:
                    scheduler.remove_job(job_id)
                log.info("subscription %d: no longer polled", sid)
            for sid in sorted(wanted - set(self._jobs)):
                job_id = f"poll:{sid}"
                first = utcnow() + timedelta(seconds=random.uniform(0.0, min(self.options.jitter_s,
                                                                             self.options.interval_s)))
                trigger = IntervalTrigger(seconds=self.options.interval_s, jitter=self.options.jitter_s or None,
                                          timezone=UTC)
                scheduler.add_job(self._poll_tick, trigger, args=[sid], id=job_id, replace_existing=True,
                                  next_run_time=first)
                self._jobs[sid] = job_id
                log.info("subscription %d: polled every %g s (first at %s)", sid, self.options.interval_s,
                         first.strftime("%H:%M:%S"))
            return self.scheduled

    async def enqueue_poll(self, subscription_id: int) -> EnqueueResult | None:
        """Enqueue the subscription's POLL job (joining one still active); None when it is gone."""
        try:
            sub = await self.repo.get_subscription(subscription_id)
        except RecordNotFound:
            return None
        result = await self.queue.enqueue(poll_request(sub))
        self.ticks += 1
        if self.on_enqueued is not None:
            self.on_enqueued()
        return result

    # -- APScheduler job functions: never raise (APScheduler would log each failure as an error) ---------
    async def _poll_tick(self, subscription_id: int) -> None:
        try:
            if await self.enqueue_poll(subscription_id) is None:
                await self.sync()
        except asyncio.CancelledError:  # shutting down mid-tick: the poll job's dedupe makes a redo safe
            return
        except Exception as exc:
            log.warning("subscription %d: enqueueing its poll failed: %s", subscription_id, exc)

    async def _sync_tick(self) -> None:
        try:
            await self.sync()
        except asyncio.CancelledError:  # shutting down mid-tick (a later start syncs again)
            return
        except Exception as exc:
            log.warning("reading the subscriptions failed: %s", exc)
        try:
            await refresh_due(self.repo, self.queue, self.options.refresh)
        except asyncio.CancelledError:  # the scheduler is shutting down: the next start checks again
            return
        except Exception as exc:
            log.warning("queueing adaptation refreshes failed: %s", exc)


async def run_scheduler(storage: Storage, helix: Helix, stop: asyncio.Event, options: SchedulerOptions | None = None,
                        *, worker_id: str | None = None, grace_s: float = STOP_GRACE_S) -> int:
    """Run the subscription scheduler and the POLL consumer until ``stop`` is set; POLL jobs handled."""
    options = options or SchedulerOptions()
    consumer = PollConsumer(storage.queue, storage.repo, helix, worker_id=worker_id, timeouts=storage.timeouts,
                            idle_s=options.idle_s)
    scheduler = SubscriptionScheduler(storage.repo, storage.queue, options, on_enqueued=consumer.wake)
    consuming = asyncio.create_task(consumer.run(stop), name="poll-consumer")
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await scheduler.start()
        await asyncio.wait({consuming, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await scheduler.shutdown()
        stop.set()
        stopping.cancel()
        done, _ = await asyncio.wait({consuming}, timeout=grace_s)
        if not done:  # a poll stuck on Twitch: its job is released for the next run
            consuming.cancel()
        await asyncio.gather(consuming, return_exceptions=True)
    if consuming.done() and not consuming.cancelled() and consuming.exception() is not None:
        raise consuming.exception()  # type: ignore[misc]
    return consumer.handled


def main(storage_url: str) -> int | None:
    """``highlights run``'s scheduler process: returns 0 on SIGTERM (or at once without Twitch credentials)."""
    return asyncio.run(_main(storage_url))


async def _main(storage_url: str) -> int:
    if not log.isEnabledFor(logging.DEBUG):  # APScheduler logs two INFO lines per tick; keep them for -vv
        for name in ("apscheduler.executors.default", "apscheduler.scheduler"):
            logging.getLogger(name).setLevel(logging.WARNING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # run by hand rather than supervised
        loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        options = SchedulerOptions.from_env()
        helix = Helix.from_env()
    except TwitchCredentialsMissing as exc:
        log.warning("scheduler not started: %s; subscriptions are not polled until then (restart after setting "
                    "them)", exc)
        return 0
    except StorageError as exc:  # a malformed option: say which, and stop `highlights run` with it
        log.error("scheduler not started: %s", exc)
        return 2
    storage = await open_storage(storage_url)
    try:
        handled = await run_scheduler(storage, helix, stop, options)
    finally:
        await helix.close()
        await storage.close()
    log.info("scheduler stopped after %d poll(s)", handled)
    return 0

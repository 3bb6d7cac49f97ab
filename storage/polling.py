"""Scheduler stage, second half: the POLL job handler and the loop that claims POLL jobs.

Consumes POLL jobs (payload ``{"subscription_id": N}``, enqueued by ``storage.scheduler``) from the
queue, the subscription and its streamer from the repository, and Helix's answers; produces at most
one DETECT job per new finished VOD per subscription (``Priority.SCHEDULED``, the subscription's guild
and channel, dedupe key ``detect:<guild>:twitch:<vod id>`` — the key the bot uses for the same VOD, so
a person's request and the scheduler's join one job) and the subscription's ``last_seen_vod``.
The scheduler process runs ``PollConsumer``; workers take only DETECT and CLEANUP jobs.

What a poll does, in this order:

1. the subscription (gone or disabled: nothing to do) and the streamer's Twitch user id (looked up by
   login once, then kept on the streamer);
2. the streamer's newest archived VOD; nothing new when it is ``last_seen_vod`` or older than it
   (Twitch's ids grow with time);
3. a VOD still being recorded (its broadcast is live) waits: no job, ``last_seen_vod`` unchanged;
4. the DETECT job: enqueued unless a job with its dedupe key was EVER enqueued in this guild (finished
   ones included — ``Repository.find_job_with_key``); an active one is joined by the queue's dedupe;
5. then ``last_seen_vod`` is set to the VOD.

Crash safety (nothing skipped, nothing repeated): the job is written before ``last_seen_vod``, so a
crash after 4 and before 5 leaves a VOD that looks new; the POLL job's lease expires, it runs again
and step 4 finds the job it already wrote — still queued or running (the queue's dedupe joins it), or
already finished (the key lookup sees it) — so it only completes step 5. Writing ``last_seen_vod``
first would lose the VOD on such a crash. One POLL per subscription is active at a time (its dedupe
key ``poll:<subscription id>``), so two polls never race on one subscription.

Helix errors fail the POLL job with the error's code and message (retryable when trying later may
help, through the queue's backoff); nothing here stops the loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from storage.errors import RecordNotFound, StorageError
from storage.queue.port import JobQueue
from storage.queue.timeouts import KindTimeouts, with_overrides
from storage.records import Job, JobKind, JobRequest, JobStatus, Priority, Subscription
from storage.repo.port import Repository
from storage.twitch.errors import TwitchApiError, TwitchUserNotFound
from storage.twitch.helix import Helix
from storage.twitch.records import TwitchVideo

log = logging.getLogger(__name__)

REQUESTED_BY = "scheduler"
DEFAULT_RENDER: dict[str, Any] = {"layout": "16:9", "top": 5, "captions": False}
"""What a scheduled DETECT job renders: the five best clips, 16:9, no captions."""


def poll_dedupe_key(subscription_id: int) -> str:
    return f"poll:{subscription_id}"


def detect_dedupe_key(guild_id: str, vod_id: str) -> str:
    """The DETECT job's key for a Twitch VOD in a guild (the bot's ``VodRef.dedupe_key`` makes the same)."""
    return f"detect:{guild_id}:twitch:{vod_id}"


def poll_request(subscription: Subscription) -> JobRequest:
    return JobRequest(kind=JobKind.POLL, payload={"subscription_id": subscription.id},
                      dedupe_key=poll_dedupe_key(subscription.id), priority=Priority.SCHEDULED,
                      requested_by=REQUESTED_BY, guild_id=subscription.guild_id, channel_id=subscription.channel_id)


def detect_request(subscription: Subscription, streamer_id: int, video: TwitchVideo) -> JobRequest:
    payload = {"vod": {"twitch_vod_id": video.id, "streamer_id": streamer_id, "title": video.title,
                       "channel": video.user_login, "source": video.url},
               "render": dict(DEFAULT_RENDER), "transcript": True, "hybrid": True}
    return JobRequest(kind=JobKind.DETECT, payload=payload, dedupe_key=detect_dedupe_key(subscription.guild_id, video.id),
                      priority=Priority.SCHEDULED, requested_by=REQUESTED_BY, guild_id=subscription.guild_id,
                      channel_id=subscription.channel_id)


def is_newer(vod_id: str, than: str) -> bool:
    """Whether VOD ``vod_id`` came after ``than`` (numeric ids grow with time; other ids: just different)."""
    if vod_id.isdigit() and than.isdigit():
        return int(vod_id) > int(than)
    return vod_id != than


@dataclass(frozen=True, slots=True)
class PollOutcome:
    subscription_id: int
    action: str
    """``queued`` (a new DETECT job), ``joined`` (an active one), ``known`` (one was enqueued before),
    ``recording`` (still live: wait), ``seen``, ``older``, ``no_vod``, ``disabled`` or ``unsubscribed``."""
    vod_id: str | None = None
    job_id: int | None = None
    """The DETECT job, when one was enqueued, joined or found."""

    def as_result(self) -> dict[str, Any]:
        return asdict(self)


async def poll_subscription(subscription_id: int, *, repo: Repository, queue: JobQueue, helix: Helix) -> PollOutcome:
    """One poll of one subscription (see the module docstring for the steps and their order)."""
    try:
        sub = await repo.get_subscription(subscription_id)
    except RecordNotFound:
        return PollOutcome(subscription_id, "unsubscribed")
    if not sub.enabled:
        return PollOutcome(sub.id, "disabled")
    streamer = await repo.get_streamer(sub.streamer_id)
    user_id = streamer.twitch_user_id
    if not user_id:
        user = await helix.user_by_login(streamer.login)
        if user is None:
            raise TwitchUserNotFound(f"Twitch has no channel {streamer.login!r} (renamed, banned or mistyped?); "
                                     "subscribe again with the channel's current name")
        streamer = await repo.upsert_streamer(streamer.login, display_name=user.display_name, twitch_user_id=user.id)
        user_id = user.id
    video = await helix.newest_archive(user_id)
    if video is None:
        return PollOutcome(sub.id, "no_vod")
    if video.id == sub.last_seen_vod:
        return PollOutcome(sub.id, "seen", video.id)
    if sub.last_seen_vod and not is_newer(video.id, sub.last_seen_vod):
        return PollOutcome(sub.id, "older", video.id)
    if await helix.is_recording(video):
        log.info("subscription %d: VOD %s of %s is still being recorded; waiting", sub.id, video.id, streamer.login)
        return PollOutcome(sub.id, "recording", video.id)
    key = detect_dedupe_key(sub.guild_id, video.id)
    job_id = await repo.find_job_with_key(key, guild_id=sub.guild_id)
    action = "known"
    if job_id is None:
        enqueued = await queue.enqueue(detect_request(sub, streamer.id, video))
        job_id, action = enqueued.job.id, "queued" if enqueued.created else "joined"
    await repo.set_last_seen_vod(sub.id, video.id)
    log.info("subscription %d (guild %s): VOD %s of %s → DETECT job %d (%s)", sub.id, sub.guild_id, video.id,
             streamer.login, job_id, action)
    return PollOutcome(sub.id, action, video.id, job_id)


class PollConsumer:
    """Claims POLL jobs and runs ``poll_subscription`` for each, heartbeating while it asks Twitch."""

    def __init__(self, queue: JobQueue, repo: Repository, helix: Helix, *, worker_id: str | None = None,
                 timeouts: Mapping[JobKind, KindTimeouts] | None = None, idle_s: float = 1.0) -> None:
        self.queue = queue
        self.repo = repo
        self.helix = helix
        self.worker_id = worker_id or f"scheduler-{socket.gethostname()}-{os.getpid()}"
        self.timeouts = with_overrides(timeouts)
        self.idle_s = idle_s
        self.handled = 0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A POLL job was just enqueued in this process: claim it without waiting out the idle time."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> int:
        """Claim and handle POLL jobs until ``stop`` is set; return how many were handled."""
        loop = asyncio.get_running_loop()
        recover_every = min(t.heartbeat_s for t in self.timeouts.values())
        next_recovery = loop.time()
        while not stop.is_set():
            if loop.time() >= next_recovery:
                next_recovery = loop.time() + recover_every
                try:
                    await self.queue.recover_stalled()
                except Exception as exc:
                    log.warning("recovering stalled jobs failed: %s", exc)
            try:
                job = await self.run_once()
            except Exception as exc:  # the database briefly unreachable, or a bug: log it, keep polling
                log.warning("claiming or ending a POLL job failed: %s", exc, exc_info=not isinstance(exc, StorageError))
                job = None
            if job is None:
                await self._idle(stop)
        return self.handled

    async def _idle(self, stop: asyncio.Event) -> None:
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
        try:
            await asyncio.wait(waits, timeout=self.idle_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
            self._wake.clear()

    async def run_once(self) -> Job | None:
        """Claim one runnable POLL job and handle it; the job as it ended, or None when none was runnable."""
        job = await self.queue.claim(self.worker_id, [JobKind.POLL])
        if job is None:
            return None
        await self.handle(job)
        self.handled += 1
        return await self.queue.get(job.id)

    async def handle(self, job: Job) -> JobStatus | None:
        """Run one claimed POLL job to its end; the status it was left in (None: the lease was lost)."""
        wid = self.worker_id
        sid = (job.payload or {}).get("subscription_id")
        if not isinstance(sid, int) or isinstance(sid, bool):
            await self.queue.fail(job.id, wid, code="bad_payload", retryable=False,
                                  message=f"a POLL job needs {{\"subscription_id\": <int>}}, got {job.payload!r}")
            return JobStatus.FAILED
        work = asyncio.ensure_future(poll_subscription(sid, repo=self.repo, queue=self.queue, helix=self.helix))
        stopped: list[str] = []
        beat = asyncio.ensure_future(self._heartbeat(job, work, stopped))
        try:
            outcome = await work
        except asyncio.CancelledError:
            if not stopped:  # our own task was cancelled (shutdown): give the job back for another try
                await self.queue.release(job.id, wid)
                raise
            if stopped[0] == "cancel":
                await self.queue.cancelled(job.id, wid)
                return JobStatus.CANCELLED
            log.warning("POLL job %d: lease lost; another scheduler may run it", job.id)
            return None
        except TwitchApiError as exc:
            return await self._fail(job, exc.code, str(exc), exc.retryable)
        except StorageError as exc:
            return await self._fail(job, exc.code, str(exc), True)
        except Exception as exc:  # a bug or an unforeseen answer: keep the loop alive, keep the error on the job
            log.warning("POLL job %d failed unexpectedly", job.id, exc_info=True)
            return await self._fail(job, "poll_error", f"{type(exc).__name__}: {exc}", True)
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
        if not await self.queue.complete(job.id, wid, outcome.as_result()):
            log.warning("POLL job %d: lease lost before it completed; its next run finds the work done", job.id)
            return None
        return JobStatus.SUCCEEDED

    async def _fail(self, job: Job, code: str, message: str, retryable: bool) -> JobStatus | None:
        after = await self.queue.fail(job.id, self.worker_id, code=code, message=message, retryable=retryable)
        log.warning("POLL job %d (subscription %s) failed%s: %s", job.id, job.payload.get("subscription_id"),
                    " (will retry)" if after is not None and after.status is JobStatus.QUEUED else "", message)
        return None if after is None else after.status

    async def _heartbeat(self, job: Job, work: asyncio.Future[Any], stopped: list[str]) -> None:
        every = self.timeouts[JobKind.POLL].heartbeat_s
        while not work.done():
            await asyncio.sleep(every)
            try:
                beat = await self.queue.heartbeat(job.id, self.worker_id)
            except StorageError as exc:
                log.warning("POLL job %d: heartbeat failed (%s)", job.id, exc)
                continue
            if not beat.owned or beat.cancel_requested:
                stopped.append("lost" if not beat.owned else "cancel")
                work.cancel()
                return

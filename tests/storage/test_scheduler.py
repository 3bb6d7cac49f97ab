"""The subscription scheduler and the POLL handler, on SQLite and PostgreSQL, against the local Helix double.

APScheduler runs for real with sub-second intervals; the POLL handler is also driven one job at a time.
Checked: a new finished VOD → exactly one DETECT job (per guild), also across a crash between the
enqueue and ``last_seen_vod`` and across a restart of the scheduler; a VOD still being recorded →
none until it ends; Helix 500s → the POLL job fails retryably and nothing is enqueued; missing
credentials → a clear message; ``main`` returns on SIGTERM.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from storage import Storage
from storage.errors import StorageError
from storage.polling import (
    DEFAULT_RENDER,
    PollConsumer,
    detect_dedupe_key,
    detect_request,
    is_newer,
    poll_subscription,
)
from storage.records import Job, JobKind, JobRequest, JobStatus, Priority, Subscription
from storage.scheduler import SchedulerOptions, SubscriptionScheduler, main, run_scheduler
from storage.twitch import Helix, TwitchCredentialsMissing
from tests.helix_double import HelixDouble
from tests.storage.harness import REPO_ROOT, Backend, eventually

FAST_SCHEDULE = SchedulerOptions(interval_s=0.3, jitter_s=0.05, sync_s=0.2, idle_s=0.05)


@pytest.fixture
def double() -> Iterator[HelixDouble]:
    with HelixDouble() as d:
        d.add_user("streamer")
        d.add_user("other")
        yield d


def make_helix(double: HelixDouble) -> Helix:
    return Helix.from_env(double.env(), backoff_s=0.01, attempts=2, timeout_s=5.0)


async def subscribe(storage: Storage, guild: str = "g1", channel: str = "c1", login: str = "streamer") -> Subscription:
    streamer = await storage.repo.upsert_streamer(login)
    return await storage.repo.subscribe(guild, streamer.id, channel, created_by="admin")


async def detect_jobs(storage: Storage, guild: str | None = None) -> list[Job]:
    return [j for j in await storage.queue.list_jobs(guild_id=guild, limit=1000) if j.kind is JobKind.DETECT]


async def poll(storage: Storage, helix: Helix, sub: Subscription) -> str:
    outcome = await poll_subscription(sub.id, repo=storage.repo, queue=storage.queue, helix=helix)
    return outcome.action


# -- the poll handler, one call at a time --------------------------------------------------------------------
async def test_a_new_vod_becomes_exactly_one_detect_job(backend: Backend, double: HelixDouble) -> None:
    storage, helix = await backend.connect(), make_helix(double)
    sub = await subscribe(storage)
    assert await poll(storage, helix, sub) == "no_vod"
    vod = double.add_vod("streamer", title="Grand final")
    outcome = await poll_subscription(sub.id, repo=storage.repo, queue=storage.queue, helix=helix)
    assert (outcome.action, outcome.vod_id) == ("queued", vod["id"])
    [job] = await detect_jobs(storage)
    assert job.id == outcome.job_id and job.status is JobStatus.QUEUED
    assert job.priority == Priority.SCHEDULED < Priority.PERSON
    assert (job.guild_id, job.channel_id, job.requested_by) == ("g1", "c1", "scheduler")
    assert job.dedupe_key == f"detect:g1:twitch:{vod['id']}" == detect_dedupe_key("g1", vod["id"])
    streamer = await storage.repo.find_streamer("streamer")
    assert streamer is not None and streamer.twitch_user_id == double.users["streamer"]["id"]
    assert job.payload == {"vod": {"twitch_vod_id": vod["id"], "streamer_id": streamer.id, "title": "Grand final",
                                   "channel": "streamer", "source": f"https://www.twitch.tv/videos/{vod['id']}"},
                           "render": DEFAULT_RENDER, "transcript": True, "hybrid": True}
    assert (await storage.repo.get_subscription(sub.id)).last_seen_vod == vod["id"]
    assert await poll(storage, helix, sub) == "seen"
    assert len(await detect_jobs(storage)) == 1
    newer = double.add_vod("streamer")
    assert await poll(storage, helix, sub) == "queued"
    assert sorted(j.payload["vod"]["twitch_vod_id"] for j in await detect_jobs(storage)) == [vod["id"], newer["id"]]
    assert double.hits["/helix/users"] == 1  # the user id is kept on the streamer


async def test_a_crash_between_enqueue_and_last_seen_neither_skips_nor_repeats(backend: Backend,
                                                                               double: HelixDouble) -> None:
    first = await backend.connect()
    vod = double.add_vod("streamer")
    video = await make_helix(double).video(vod["id"])
    assert video is not None
    active = await subscribe(first, guild="g1")
    finished = await subscribe(first, guild="g2", channel="c2")
    streamer_id = active.streamer_id
    # What a poll that died after step 4 left behind: its DETECT job, but not last_seen_vod.
    await first.queue.enqueue(detect_request(active, streamer_id, video))
    done = await first.queue.enqueue(detect_request(finished, streamer_id, video))
    claimed = await first.queue.claim("gpu-worker", [JobKind.DETECT])
    while claimed is not None and claimed.id != done.job.id:  # finish g2's job the way a worker would
        await first.queue.release(claimed.id, "gpu-worker")
        claimed = await first.queue.claim("gpu-worker-2", [JobKind.DETECT])
    assert claimed is not None
    assert await first.queue.complete(claimed.id, claimed.lease_owner or "", {"clips": 5})
    await first.close()
    # The restart: new connections, a new Helix client.
    storage, helix = await backend.connect(), make_helix(double)
    for sub in (active, finished):
        outcome = await poll_subscription(sub.id, repo=storage.repo, queue=storage.queue, helix=helix)
        assert outcome.action == "known"
        assert (await storage.repo.get_subscription(sub.id)).last_seen_vod == vod["id"]
    assert len(await detect_jobs(storage, "g1")) == 1
    assert [j.status for j in await detect_jobs(storage, "g2")] == [JobStatus.SUCCEEDED]
    assert await poll(storage, helix, active) == "seen"


async def test_a_vod_still_being_recorded_waits_until_it_ends(backend: Backend, double: HelixDouble) -> None:
    storage, helix = await backend.connect(), make_helix(double)
    sub = await subscribe(storage)
    earlier = double.add_vod("streamer")
    assert await poll(storage, helix, sub) == "queued"
    _, live = double.go_live("streamer")
    assert live is not None
    assert await poll(storage, helix, sub) == "recording"
    assert await poll(storage, helix, sub) == "recording"
    assert len(await detect_jobs(storage)) == 1
    assert (await storage.repo.get_subscription(sub.id)).last_seen_vod == earlier["id"]
    double.end_live("streamer")
    assert await poll(storage, helix, sub) == "queued"
    jobs = await detect_jobs(storage)
    assert sorted(j.payload["vod"]["twitch_vod_id"] for j in jobs) == [earlier["id"], live["id"]]


async def test_two_guilds_subscribed_to_one_streamer_get_one_job_each(backend: Backend, double: HelixDouble) -> None:
    storage, helix = await backend.connect(), make_helix(double)
    subs = [await subscribe(storage, guild="g1", channel="c1"), await subscribe(storage, guild="g2", channel="c2")]
    vod = double.add_vod("streamer")
    for _ in range(2):
        for sub in subs:
            await poll(storage, helix, sub)
    jobs = await detect_jobs(storage)
    assert sorted((j.guild_id, j.channel_id, j.dedupe_key) for j in jobs) == [
        ("g1", "c1", f"detect:g1:twitch:{vod['id']}"), ("g2", "c2", f"detect:g2:twitch:{vod['id']}")]


async def test_a_persons_request_for_the_same_vod_is_not_repeated(backend: Backend, double: HelixDouble) -> None:
    storage, helix = await backend.connect(), make_helix(double)
    sub = await subscribe(storage)
    vod = double.add_vod("streamer")
    person = await storage.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload={"vod": {"twitch_vod_id": vod["id"]}},
                                                    dedupe_key=detect_dedupe_key("g1", vod["id"]), guild_id="g1",
                                                    requested_by="user-1"))
    outcome = await poll_subscription(sub.id, repo=storage.repo, queue=storage.queue, helix=helix)
    assert (outcome.action, outcome.job_id) == ("known", person.job.id)
    assert len(await detect_jobs(storage)) == 1


async def test_older_gone_and_disabled(backend: Backend, double: HelixDouble) -> None:
    storage, helix = await backend.connect(), make_helix(double)
    sub = await subscribe(storage)
    double.add_vod("streamer")
    await storage.repo.set_last_seen_vod(sub.id, "2999999999")  # the newest seen was deleted since
    assert await poll(storage, helix, sub) == "older"
    await storage.repo.set_subscription_enabled(sub.id, False)
    assert await poll(storage, helix, sub) == "disabled"
    await storage.repo.unsubscribe("g1", sub.streamer_id)
    assert await poll(storage, helix, sub) == "unsubscribed"
    assert await detect_jobs(storage) == []
    assert is_newer("2000000010", "2000000009") and not is_newer("999", "1000") and is_newer("b", "a")


async def test_find_job_with_key_sees_finished_jobs(backend: Backend) -> None:
    storage = await backend.connect()
    assert await storage.repo.find_job_with_key("k") is None
    first = await storage.queue.enqueue(JobRequest(kind=JobKind.POLL, payload={}, dedupe_key="k", guild_id="g1"))
    await storage.queue.cancel(first.job.id)
    second = await storage.queue.enqueue(JobRequest(kind=JobKind.POLL, payload={}, dedupe_key="k", guild_id="g1"))
    assert second.created and second.job.id != first.job.id
    assert await storage.repo.find_job_with_key("k") == second.job.id
    assert await storage.repo.find_job_with_key("k", guild_id="g1") == second.job.id
    assert await storage.repo.find_job_with_key("k", guild_id="g2") is None


# -- the POLL consumer -----------------------------------------------------------------------------------------
async def test_helix_500s_fail_the_poll_retryably_and_enqueue_nothing(backend: Backend, double: HelixDouble) -> None:
    storage, helix = await backend.connect(), make_helix(double)
    sub = await subscribe(storage)
    double.add_vod("streamer")
    scheduler = SubscriptionScheduler(storage.repo, storage.queue, FAST_SCHEDULE)
    consumer = PollConsumer(storage.queue, storage.repo, helix, worker_id="sched-1", timeouts=storage.timeouts)
    await scheduler.enqueue_poll(sub.id)
    double.fail("/helix", 500, times=None)
    job = await consumer.run_once()
    assert job is not None and job.kind is JobKind.POLL
    assert (job.status, job.attempts, job.error_code) == (JobStatus.QUEUED, 1, "twitch_unavailable")
    assert "500" in (job.error_message or "") and "try again later" in (job.error_message or "")
    again = await scheduler.enqueue_poll(sub.id)  # a tick while the retry waits joins it
    assert again is not None and not again.created and again.job.id == job.id
    assert await detect_jobs(storage) == []
    assert (await storage.repo.get_subscription(sub.id)).last_seen_vod is None
    double.clear_faults()

    async def retried() -> Job | None:
        return await consumer.run_once()

    done = await eventually(retried, what="the POLL job's retry")
    assert done is not None
    assert (done.id, done.status, done.attempts) == (job.id, JobStatus.SUCCEEDED, 2)
    assert done.result is not None and done.result["action"] == "queued"
    assert len(await detect_jobs(storage)) == 1


async def test_an_unknown_channel_fails_the_poll_for_good(backend: Backend, double: HelixDouble) -> None:
    storage, helix = await backend.connect(), make_helix(double)
    sub = await subscribe(storage, login="ghost_channel")
    await storage.queue.enqueue(JobRequest(kind=JobKind.POLL, payload={"subscription_id": sub.id}))
    await storage.queue.enqueue(JobRequest(kind=JobKind.POLL, payload={"subscription": "?"}))
    consumer = PollConsumer(storage.queue, storage.repo, helix, worker_id="sched-1", timeouts=storage.timeouts)
    ghost, bad = await consumer.run_once(), await consumer.run_once()
    assert ghost is not None and (ghost.status, ghost.error_code) == (JobStatus.FAILED, "twitch_user_not_found")
    assert "ghost_channel" in (ghost.error_message or "")
    assert bad is not None and (bad.status, bad.error_code) == (JobStatus.FAILED, "bad_payload")


# -- APScheduler, for real --------------------------------------------------------------------------------------
async def test_the_scheduler_follows_subscription_changes(backend: Backend, double: HelixDouble) -> None:
    storage, helix = await backend.connect(), make_helix(double)
    g1 = await subscribe(storage, guild="g1")
    vod = double.add_vod("streamer")
    consumer = PollConsumer(storage.queue, storage.repo, helix, worker_id="sched-1", timeouts=storage.timeouts,
                            idle_s=0.05)
    scheduler = SubscriptionScheduler(storage.repo, storage.queue, FAST_SCHEDULE, on_enqueued=consumer.wake)
    stop = asyncio.Event()
    consuming = asyncio.create_task(consumer.run(stop))
    await scheduler.start()
    try:
        assert scheduler.scheduled == {g1.id}
        await eventually(lambda: detect_jobs(storage, "g1"), what="g1's DETECT job")
        g2 = await subscribe(storage, guild="g2", channel="c2")
        await eventually(lambda: detect_jobs(storage, "g2"), what="g2's DETECT job (after a re-sync)")
        await storage.repo.set_subscription_enabled(g1.id, False)

        async def only_g2() -> bool:
            return scheduler.scheduled == {g2.id}

        await eventually(only_g2, what="g1 to be unscheduled")
        ticks = scheduler.ticks

        async def ticked_twice() -> bool:
            return scheduler.ticks >= ticks + 2

        await eventually(ticked_twice, what="two more ticks")
    finally:
        await scheduler.shutdown()
        stop.set()
        await consuming
    jobs = await detect_jobs(storage)
    assert sorted(j.guild_id or "" for j in jobs) == ["g1", "g2"]
    assert {j.payload["vod"]["twitch_vod_id"] for j in jobs} == {vod["id"]}


async def test_shutdown_lets_a_tick_it_raced_finish(backend: Backend) -> None:
    """A tick submitted just before shutdown (its task created, not yet started) is let finish, not
    cancelled unstarted (APScheduler logs such a cancelled job as an error; seen under load)."""
    storage = await backend.connect()
    await subscribe(storage)
    scheduler = SubscriptionScheduler(storage.repo, storage.queue, SchedulerOptions(interval_s=3600, sync_s=3600))
    await scheduler.start()
    before = scheduler.ticks
    apscheduler = scheduler._scheduler
    assert apscheduler is not None
    poll = next(job for job in apscheduler.get_jobs() if job.id.startswith("poll:"))
    # Due now: modify_job wakes the scheduler with a loop callback queued before the shutdown's first step,
    # so the tick's task is created but has not run when shutdown begins.
    poll.modify(next_run_time=datetime.now(UTC))
    await asyncio.ensure_future(scheduler.shutdown())
    assert scheduler.ticks == before + 1
    assert [j.kind for j in await storage.queue.list_jobs()] == [JobKind.POLL]


async def test_a_restarted_scheduler_does_not_repeat_a_vod(backend: Backend, double: HelixDouble) -> None:
    first = await backend.connect()
    await subscribe(first)
    vod = double.add_vod("streamer")
    for round_ in range(2):  # the second round is the restart: new storage, Helix, scheduler and consumer
        storage = first if round_ == 0 else await backend.connect()
        stop = asyncio.Event()
        running = asyncio.create_task(run_scheduler(storage, make_helix(double), stop, FAST_SCHEDULE,
                                                    worker_id=f"sched-{round_}"))
        before = await _succeeded_polls(storage)
        await eventually(functools.partial(_polled_twice, storage, before), what="two more polls")
        stop.set()
        assert await asyncio.wait_for(running, 15) >= 2
    assert [j.payload["vod"]["twitch_vod_id"] for j in await detect_jobs(storage)] == [vod["id"]]


async def _polled_twice(storage: Storage, before: int) -> bool:
    return await _succeeded_polls(storage) >= before + 2 and bool(await detect_jobs(storage))


async def _succeeded_polls(storage: Storage) -> int:
    jobs = await storage.queue.list_jobs(statuses=[JobStatus.SUCCEEDED], limit=1000)
    return sum(j.kind is JobKind.POLL for j in jobs)


# -- main(): credentials, options, SIGTERM -------------------------------------------------------------------
def test_main_without_credentials_says_what_to_set(monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("TWITCH_CLIENT_ID", raising=False)
    monkeypatch.delenv("TWITCH_CLIENT_SECRET", raising=False)
    with caplog.at_level(logging.WARNING, logger="storage.scheduler"):
        assert main("sqlite:///never-opened.db") == 0
    assert "TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET" in caplog.text
    with pytest.raises(TwitchCredentialsMissing, match="TWITCH_CLIENT_SECRET"):
        Helix.from_env({"TWITCH_CLIENT_ID": "x"})


def test_scheduler_options_from_the_environment() -> None:
    assert SchedulerOptions.from_env({}) == SchedulerOptions(interval_s=600.0, jitter_s=60.0, sync_s=60.0)
    got = SchedulerOptions.from_env({"HIGHLIGHTS_POLL_INTERVAL_S": "120", "HIGHLIGHTS_POLL_JITTER_S": "0"})
    assert (got.interval_s, got.jitter_s) == (120.0, 0.0)
    with pytest.raises(StorageError, match="HIGHLIGHTS_POLL_INTERVAL_S"):
        SchedulerOptions.from_env({"HIGHLIGHTS_POLL_INTERVAL_S": "soon"})
    with pytest.raises(StorageError, match="at least 1"):
        SchedulerOptions.from_env({"HIGHLIGHTS_POLL_INTERVAL_S": "0"})


async def test_main_runs_until_sigterm(backend: Backend, double: HelixDouble) -> None:
    storage = await backend.connect()
    await subscribe(storage)
    vod = double.add_vod("streamer")
    env = {**os.environ, **double.env(), "HIGHLIGHTS_POLL_INTERVAL_S": "1", "HIGHLIGHTS_POLL_JITTER_S": "0",
           "HIGHLIGHTS_SCHEDULER_SYNC_S": "0.5",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    code = "import sys; from storage.scheduler import main; sys.exit(main(sys.argv[1]))"
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, backend.url, cwd=REPO_ROOT, env=env)
    try:
        [job] = await eventually(lambda: detect_jobs(storage), what="the DETECT job from the scheduler process",
                                 timeout_s=20.0)
        assert job.payload["vod"]["twitch_vod_id"] == vod["id"]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

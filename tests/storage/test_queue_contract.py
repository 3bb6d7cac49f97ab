"""The ``JobQueue`` contract, run unchanged on every backend (``backend`` fixture in conftest).

Two ``Storage`` connections on one database stand for the bot and the worker; real worker processes
(``tests.storage.worker_proc``) are SIGKILLed or run side by side to prove a job runs exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from storage import JobNotFound
from storage.clock import utcnow
from storage.queue.timeouts import KindTimeouts
from storage.records import JobKind, JobRequest, JobStatus, Priority
from tests.storage.harness import FAST, LEASE_S, Backend, Workers, eventually

DETECT = [JobKind.DETECT]


def request(n: int = 0, **kw: object) -> JobRequest:
    fields: dict = {"kind": JobKind.DETECT, "payload": {"vod": f"v{n}", "settings": {"top": 5}}}
    fields.update(kw)
    return JobRequest(**fields)


def timeouts(**kw: float) -> dict[JobKind, KindTimeouts]:
    base = FAST[JobKind.DETECT]
    fields = {f: getattr(base, f) for f in base.__slots__}
    fields.update(kw)
    return {kind: KindTimeouts(**fields) for kind in JobKind}


async def test_enqueue_and_dedupe(backend: Backend) -> None:
    bot, worker = await backend.connect(), await backend.connect()
    first = await bot.queue.enqueue(request(1, dedupe_key="vod:1", requested_by="u1", guild_id="g1",
                                            channel_id="c1", priority=Priority.PERSON))
    assert first.created
    job = first.job
    assert (job.status, job.kind, job.payload) == (JobStatus.QUEUED, JobKind.DETECT, {"vod": "v1", "settings": {"top": 5}})
    assert (job.requested_by, job.guild_id, job.channel_id, job.priority) == ("u1", "g1", "c1", Priority.PERSON)
    assert (job.attempts, job.max_attempts, job.progress, job.cancel_requested) == (0, 3, 0.0, False)

    joined = await worker.queue.enqueue(request(1, dedupe_key="vod:1", requested_by="u2"))
    assert not joined.created and joined.job.id == job.id and joined.job.requested_by == "u1"
    other = await bot.queue.enqueue(request(2, dedupe_key="vod:2"))
    assert other.created and other.job.id != job.id
    unkeyed = [await bot.queue.enqueue(request(3)) for _ in range(2)]
    assert all(r.created for r in unkeyed) and unkeyed[0].job.id != unkeyed[1].job.id

    claimed = await worker.queue.claim("w1", DETECT)
    assert claimed is not None and claimed.id == job.id
    while_running = await bot.queue.enqueue(request(1, dedupe_key="vod:1"))
    assert not while_running.created and while_running.job.id == job.id
    assert await worker.queue.complete(job.id, "w1", {"clips": 3})

    again = await bot.queue.enqueue(request(1, dedupe_key="vod:1"))
    assert again.created and again.job.id != job.id
    assert (await bot.queue.get(job.id)).result == {"clips": 3}


async def test_concurrent_enqueues_of_one_key_make_one_job(backend: Backend) -> None:
    a, b = await backend.connect(), await backend.connect()
    results = await asyncio.gather(*[(a if i % 2 else b).queue.enqueue(request(9, dedupe_key="same"))
                                     for i in range(12)])
    assert sum(r.created for r in results) == 1
    assert len({r.job.id for r in results}) == 1


async def test_claim_takes_highest_priority_then_oldest(backend: Backend) -> None:
    bot, worker = await backend.connect(), await backend.connect()
    ids = {}
    for name, priority in [("a", Priority.SCHEDULED), ("b", Priority.PERSON), ("c", Priority.ADMIN),
                           ("d", Priority.PERSON), ("e", Priority.SCHEDULED)]:
        ids[name] = (await bot.queue.enqueue(request(priority=priority, dedupe_key=name))).job.id
    poll = (await bot.queue.enqueue(JobRequest(kind=JobKind.POLL, payload={}))).job.id

    assert await worker.queue.claim("w", []) is None
    order = []
    while (job := await worker.queue.claim("w", DETECT)) is not None:
        assert job.status is JobStatus.RUNNING and job.lease_owner == "w" and job.attempts == 1
        assert job.lease_expires_at is not None and job.started_at is not None
        order.append(job.id)
    assert order == [ids[n] for n in "cbdae"]
    polled = await worker.queue.claim("w", [JobKind.POLL, JobKind.CLEANUP])
    assert polled is not None and polled.id == poll


async def test_progress_is_seen_from_another_connection(backend: Backend) -> None:
    bot, worker = await backend.connect(), await backend.connect()
    job = (await bot.queue.enqueue(request())).job
    assert await worker.queue.claim("w", DETECT)
    assert await worker.queue.progress(job.id, "w", stage="audio", fraction=0.25, message="decoding")
    seen = await bot.queue.get(job.id)
    assert (seen.stage, seen.progress, seen.progress_message) == ("audio", 0.25, "decoding")
    assert await worker.queue.progress(job.id, "w", fraction=7.0)
    seen = await bot.queue.get(job.id)
    assert (seen.stage, seen.progress, seen.progress_message) == ("audio", 1.0, "decoding")
    assert not await worker.queue.progress(job.id, "someone-else", stage="x")


async def test_cancel_while_queued(backend: Backend) -> None:
    bot, worker = await backend.connect(), await backend.connect()
    job = (await bot.queue.enqueue(request(dedupe_key="k"))).job
    cancelled = await bot.queue.cancel(job.id, by="u1")
    assert cancelled.status is JobStatus.CANCELLED and cancelled.finished_at is not None
    assert await worker.queue.claim("w", DETECT) is None
    assert await bot.queue.queue_position(job.id) is None
    assert (await bot.queue.cancel(job.id)).status is JobStatus.CANCELLED
    assert (await bot.queue.enqueue(request(dedupe_key="k"))).created  # a cancelled job frees its key
    with pytest.raises(JobNotFound):
        await bot.queue.cancel(10**9)
    with pytest.raises(JobNotFound):
        await bot.queue.get(10**9)


async def test_cancel_while_running(backend: Backend) -> None:
    bot, worker = await backend.connect(), await backend.connect()
    job = (await bot.queue.enqueue(request())).job
    assert await worker.queue.claim("w", DETECT)
    assert not await worker.queue.cancelled(job.id, "w")  # nobody asked yet
    assert (await worker.queue.heartbeat(job.id, "w")).cancel_requested is False

    flagged = await bot.queue.cancel(job.id, by="u1")
    assert flagged.status is JobStatus.RUNNING and flagged.cancel_requested
    beat = await worker.queue.heartbeat(job.id, "w")
    assert beat.owned and beat.cancel_requested
    assert await worker.queue.cancelled(job.id, "w")
    done = await bot.queue.get(job.id)
    assert done.status is JobStatus.CANCELLED and done.finished_at is not None
    assert not (await worker.queue.heartbeat(job.id, "w")).owned
    assert not await worker.queue.complete(job.id, "w")
    assert (await bot.queue.cancel(job.id)).status is JobStatus.CANCELLED

    finished = (await bot.queue.enqueue(request(2))).job
    assert await worker.queue.claim("w", DETECT)
    assert await worker.queue.complete(finished.id, "w")
    assert (await bot.queue.cancel(finished.id)).status is JobStatus.SUCCEEDED


async def test_lost_lease_refuses_every_owner_checked_write(backend: Backend) -> None:
    bot, old, new = await backend.connect(), await backend.connect(), await backend.connect()
    job = (await bot.queue.enqueue(request())).job
    assert await old.queue.claim("old", DETECT)
    # "old" stops heartbeating; after the lease someone recovers the job and "new" takes it.
    assert await eventually(bot.queue.recover_stalled, what="the lease to expire") == [job.id]
    requeued = await bot.queue.get(job.id)
    assert requeued.status is JobStatus.QUEUED and requeued.attempts == 1 and requeued.lease_owner is None
    taken = await new.queue.claim("new", DETECT)
    assert taken is not None and taken.id == job.id and taken.attempts == 2

    assert not (await old.queue.heartbeat(job.id, "old")).owned
    assert not await old.queue.progress(job.id, "old", stage="late", fraction=0.9)
    assert not await old.queue.complete(job.id, "old", {"by": "old"})
    assert await old.queue.fail(job.id, "old", code="boom", message="late") is None
    assert not await old.queue.cancelled(job.id, "old")
    assert not await old.queue.release(job.id, "old")

    assert (await new.queue.heartbeat(job.id, "new")).owned
    assert await new.queue.complete(job.id, "new", {"by": "new"})
    final = await bot.queue.get(job.id)
    assert (final.status, final.result, final.stage) == (JobStatus.SUCCEEDED, {"by": "new"}, None)


async def test_release_gives_the_job_back_without_spending_an_attempt(backend: Backend) -> None:
    bot, worker = await backend.connect(), await backend.connect()
    job = (await bot.queue.enqueue(request())).job
    assert (await worker.queue.claim("w", DETECT)).attempts == 1
    assert await worker.queue.release(job.id, "w")
    back = await bot.queue.get(job.id)
    assert (back.status, back.attempts, back.lease_owner) == (JobStatus.QUEUED, 0, None)
    assert not await worker.queue.release(job.id, "w")
    again = await worker.queue.claim("w2", DETECT)
    assert again is not None and (again.id, again.attempts, again.lease_owner) == (job.id, 1, "w2")

    await bot.queue.cancel(job.id)
    assert await worker.queue.release(job.id, "w2")  # a cancel request wins over going back
    assert (await bot.queue.get(job.id)).status is JobStatus.CANCELLED


async def test_failing_job_is_retried_with_backoff_then_failed_with_its_error(backend: Backend) -> None:
    bot, worker = await backend.connect(), await backend.connect()
    limits = FAST[JobKind.DETECT]
    job = (await bot.queue.enqueue(request())).job
    for attempt in range(1, limits.max_attempts + 1):
        claimed = await eventually(lambda: worker.queue.claim("w", DETECT), what=f"attempt {attempt}")
        assert (claimed.id, claimed.attempts) == (job.id, attempt)
        before = utcnow()
        after_fail = await worker.queue.fail(job.id, "w", code="handler_error", message=f"ValueError: boom {attempt}")
        assert after_fail is not None
        assert (after_fail.error_code, after_fail.error_message) == ("handler_error", f"ValueError: boom {attempt}")
        if attempt < limits.max_attempts:
            assert after_fail.status is JobStatus.QUEUED and after_fail.lease_owner is None
            delay = min(limits.backoff_base_s * 2 ** (attempt - 1), limits.backoff_max_s)
            assert after_fail.run_after >= before + timedelta(seconds=delay)
            early = await worker.queue.claim("w", DETECT)
            if utcnow() < after_fail.run_after:
                assert early is None  # not runnable before its backoff has passed
            elif early is not None:
                assert await worker.queue.release(job.id, "w")
        else:
            assert after_fail.status is JobStatus.FAILED and after_fail.finished_at is not None
    final = await bot.queue.get(job.id)
    assert (final.status, final.attempts, final.error_code) == (JobStatus.FAILED, 3, "handler_error")
    assert final.error_message == "ValueError: boom 3"
    assert await worker.queue.claim("w", DETECT) is None

    fatal = (await bot.queue.enqueue(request(2))).job
    assert await worker.queue.claim("w", DETECT)
    failed = await worker.queue.fail(fatal.id, "w", code="media_error", message="no audio", retryable=False)
    assert failed is not None and (failed.status, failed.attempts) == (JobStatus.FAILED, 1)


async def test_recover_stalled_fails_overlong_jobs_and_jobs_out_of_attempts(backend: Backend) -> None:
    bot = await backend.connect()
    slow = await backend.connect(timeouts=timeouts(lease_s=60.0, max_runtime_s=0.3))
    job = (await bot.queue.enqueue(request(1))).job
    assert await slow.queue.claim("w", DETECT)
    assert (await slow.queue.heartbeat(job.id, "w")).owned
    assert await eventually(slow.queue.recover_stalled, what="the runtime limit") == [job.id]
    timed_out = await bot.queue.get(job.id)
    assert (timed_out.status, timed_out.error_code) == (JobStatus.FAILED, "timeout")

    last = await backend.connect(timeouts=timeouts(lease_s=0.3))
    job = (await bot.queue.enqueue(request(2, max_attempts=1))).job
    assert await last.queue.claim("w", DETECT)
    assert await eventually(last.queue.recover_stalled, what="the lease to expire") == [job.id]
    lost = await bot.queue.get(job.id)
    assert (lost.status, lost.error_code, lost.attempts) == (JobStatus.FAILED, "lease_expired", 1)
    assert await bot.queue.recover_stalled() == []


async def test_queue_position(backend: Backend) -> None:
    bot, worker = await backend.connect(), await backend.connect()
    person = (await bot.queue.enqueue(request(1, priority=Priority.PERSON))).job
    scheduled = (await bot.queue.enqueue(request(2, priority=Priority.SCHEDULED))).job
    admin = (await bot.queue.enqueue(request(3, priority=Priority.ADMIN))).job
    poll = (await bot.queue.enqueue(JobRequest(kind=JobKind.POLL, payload={}))).job
    assert [await bot.queue.queue_position(j.id) for j in (admin, person, scheduled, poll)] == [1, 2, 3, 1]
    assert await worker.queue.claim("w", DETECT)
    assert [await bot.queue.queue_position(j.id) for j in (admin, person, scheduled)] == [None, 1, 2]
    with pytest.raises(JobNotFound):
        await bot.queue.queue_position(10**9)


async def test_list_jobs_filters(backend: Backend) -> None:
    bot, worker = await backend.connect(), await backend.connect()
    made = [(await bot.queue.enqueue(request(i, guild_id=f"g{i % 2}", requested_by=f"u{i % 3}"))).job
            for i in range(6)]
    assert await worker.queue.claim("w", DETECT)  # made[0]
    await bot.queue.cancel(made[1].id)

    everything = await bot.queue.list_jobs()
    assert [j.id for j in everything] == [j.id for j in reversed(made)]  # newest first
    assert [j.id for j in await bot.queue.list_jobs(limit=2)] == [made[5].id, made[4].id]
    assert {j.id for j in await bot.queue.list_jobs(guild_id="g0")} == {made[0].id, made[2].id, made[4].id}
    assert {j.id for j in await bot.queue.list_jobs(requested_by="u1")} == {made[1].id, made[4].id}
    running = await bot.queue.list_jobs(statuses=[JobStatus.RUNNING])
    assert [j.id for j in running] == [made[0].id]
    active = await bot.queue.list_jobs(statuses=[JobStatus.QUEUED, JobStatus.RUNNING], guild_id="g1")
    assert {j.id for j in active} == {made[3].id, made[5].id}
    assert await bot.queue.list_jobs(statuses=[]) == []


async def test_sigkilled_worker_job_is_completed_once_by_another(backend: Backend, workers: Workers,
                                                                 tmp_path: Path) -> None:
    bot, survivor = await backend.connect(), await backend.connect()
    job = (await bot.queue.enqueue(request(dedupe_key="vod:kill"))).job
    ready = tmp_path / "victim.ready"
    victim = await workers.start("hold", backend.url, ready)

    async def victim_ready() -> bool:
        assert victim.returncode is None, f"the victim worker exited early with {victim.returncode}"
        return ready.exists()

    await eventually(victim_ready, what="the victim worker to claim the job", timeout_s=30)
    assert int(ready.read_text()) == job.id
    # While the victim heartbeats, its job is neither recovered nor claimable, well past one lease.
    loop = asyncio.get_running_loop()
    hold_until = loop.time() + 1.5 * LEASE_S
    while loop.time() < hold_until:
        assert await survivor.queue.recover_stalled() == []
        assert await survivor.queue.claim("survivor", DETECT) is None
        await asyncio.sleep(0.1)
    seen = await bot.queue.get(job.id)
    assert (seen.status, seen.stage) == (JobStatus.RUNNING, "download") and seen.lease_owner != "survivor"

    victim.send_signal(signal.SIGKILL)
    assert await victim.wait() == -signal.SIGKILL

    async def recover_and_claim():
        await survivor.queue.recover_stalled()
        return await survivor.queue.claim("survivor", DETECT)

    executions = Counter()
    taken = await eventually(recover_and_claim, what="the job to be recovered after SIGKILL")
    assert (taken.id, taken.attempts) == (job.id, 2)
    executions[taken.id] += 1
    assert await survivor.queue.complete(taken.id, "survivor", {"by": "survivor"})
    assert await survivor.queue.claim("survivor", DETECT) is None
    assert await survivor.queue.recover_stalled() == []
    final = await bot.queue.get(job.id)
    assert (final.status, final.result, final.attempts) == (JobStatus.SUCCEEDED, {"by": "survivor"}, 2)
    assert executions == {job.id: 1}


async def test_two_worker_processes_run_fifty_jobs_exactly_once(backend: Backend, workers: Workers,
                                                                tmp_path: Path) -> None:
    bot = await backend.connect()
    ids = [(await bot.queue.enqueue(request(i, dedupe_key=f"job-{i}"))).job.id for i in range(50)]
    outs = [tmp_path / "w1.ids", tmp_path / "w2.ids"]
    go = tmp_path / "go"
    procs = [await workers.start("drain", backend.url, out, f"w{n}", go) for n, out in enumerate(outs, start=1)]

    async def both_ready() -> bool:
        assert all(p.returncode is None for p in procs), "a worker process exited before starting"
        return all(out.with_name(out.name + ".ready").exists() for out in outs)

    await eventually(both_ready, what="both worker processes to connect", timeout_s=30)
    go.touch()  # both start claiming at once
    codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), timeout=120)
    assert codes == [0, 0]
    executed = Counter(int(line) for out in outs if out.exists() for line in out.read_text().split())
    assert sorted(executed) == sorted(ids)
    assert set(executed.values()) == {1}
    jobs = await bot.queue.list_jobs(limit=100)
    assert {j.status for j in jobs} == {JobStatus.SUCCEEDED}
    assert {j.attempts for j in jobs} == {1}


async def test_bot_reading_while_workers_write_never_sees_a_locked_database(backend: Backend, workers: Workers,
                                                                            ) -> None:
    bot, writer = await backend.connect(), await backend.connect()
    churner = await workers.start("churn", backend.url, 2.0, "churner", capture=True)
    reads = writes = 0

    async def read_loop() -> None:
        nonlocal reads
        while churner.returncode is None:
            jobs = await bot.queue.list_jobs(limit=30)
            for job in jobs[:5]:
                await bot.queue.get(job.id)
                await bot.queue.queue_position(job.id)
            reads += 1
            await asyncio.sleep(0)

    async def write_loop() -> None:
        nonlocal writes
        n = 0
        while churner.returncode is None:
            n += 1
            job = (await writer.queue.enqueue(request(n, dedupe_key=f"bot-{n}"))).job
            await writer.queue.cancel(job.id, by="bot")
            writes += 1
            await asyncio.sleep(0)

    async def wait_churner() -> bytes:
        out, _ = await churner.communicate()
        return out

    out, _, _ = await asyncio.wait_for(asyncio.gather(wait_churner(), read_loop(), write_loop()), timeout=60)
    assert churner.returncode == 0, "the writing worker process failed (see its traceback above)"
    assert int(out.decode().split()[-1]) > 0 and reads > 0 and writes > 0


async def test_cancelled_calls_leave_the_storage_usable(backend: Backend) -> None:
    bot, worker = await backend.connect(), await backend.connect()
    for steps in range(12):  # cancel each call after a different number of event-loop turns
        call = asyncio.ensure_future(bot.queue.enqueue(request(steps, dedupe_key=f"c{steps}")))
        for _ in range(steps):
            await asyncio.sleep(0)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
    # Neither connection is left inside a transaction: both still write, and see each other's writes.
    made = await bot.queue.enqueue(request(99, dedupe_key="after"))
    assert made.created
    assert (await worker.queue.enqueue(request(99, dedupe_key="after"))).job.id == made.job.id
    claimed = await asyncio.wait_for(worker.queue.claim("w", DETECT), timeout=30)
    assert claimed is not None
    assert await worker.queue.complete(claimed.id, "w")

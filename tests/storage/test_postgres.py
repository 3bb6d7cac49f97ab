"""PostgreSQL-only storage tests: the test server, migrations, and what procrastinate adds.

The backend-neutral behaviour is in the contract suite (``test_*_contract.py``); here: the server and
``scripts/pg.sh`` start, migrations (with procrastinate's schema) apply once and are idempotent, every
job transition moves its procrastinate job in the same transaction, the queueing-lock trap is avoided,
two schedulers ticking at once enqueue one job, and idle workers are woken by procrastinate's NOTIFY.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

psycopg = pytest.importorskip("psycopg", reason="the postgres extra is not installed")
procrastinate = pytest.importorskip("procrastinate", reason="the postgres extra is not installed")

from storage import Storage, open_storage  # noqa: E402
from storage.errors import StorageError  # noqa: E402
from storage.migrations.migrate import latest_version, migrate  # noqa: E402
from storage.pg_db import PgDatabase, pending_procrastinate_migrations  # noqa: E402
from storage.queue.pg_procrastinate import TASK_NAME  # noqa: E402
from storage.records import JobKind, JobRequest, JobStatus, Priority  # noqa: E402
from tests.storage import pg_server  # noqa: E402
from tests.storage.harness import FAST, eventually  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]


def detect(n: int, **kw: object) -> JobRequest:
    return JobRequest(kind=JobKind.DETECT, payload={"vod": f"v{n}"}, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def store(pg_database_url: str) -> AsyncIterator[Storage]:
    storage = await open_storage(pg_database_url, timeouts=FAST)
    try:
        yield storage
    finally:
        await storage.close()


async def pjob_of(url: str, job_id: int) -> dict[str, object]:
    """The procrastinate job of our job ``job_id``."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        await cur.execute("SELECT p.* FROM jobs j JOIN procrastinate_jobs p ON p.id = j.procrastinate_job_id "
                          "WHERE j.id = %s", (job_id,))
        row = await cur.fetchone()
    assert row is not None, f"job {job_id} has no procrastinate job"
    return row


# -- the server ---------------------------------------------------------------------------------------
def test_fresh_databases_are_empty_and_separate(pg_database_url: str) -> None:
    other = pg_server.fresh_database_url()
    assert other != pg_database_url
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE marker (x int)")
    with psycopg.connect(other) as conn:
        assert conn.execute("SELECT to_regclass('marker')").fetchone() == (None,)
        host = conn.execute("SELECT inet_server_addr()::text").fetchone()
    assert host is not None and host[0].startswith("127.0.0.1")
    assert pg_server.pg_url().startswith("postgresql://")


def test_missing_binaries_skip_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pg_server.ENV_URL, raising=False)
    monkeypatch.setattr(pg_server, "find_bindir", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="initdb, pg_ctl"):
        pg_server._Session().ensure()


async def test_an_unreachable_server_is_a_storage_error_naming_it() -> None:
    with pytest.raises(StorageError, match="127.0.0.1:1/") as caught:
        await open_storage("postgresql://highlights:secret@127.0.0.1:1/highlights")
    assert "secret" not in str(caught.value)


@pytest.mark.skipif(os.environ.get(pg_server.ENV_URL) is not None or pg_server.find_bindir() is None,
                    reason="a CI server is already running, or no PostgreSQL binaries")
def test_ci_script_starts_and_stops_a_server(tmp_path: Path) -> None:
    env = {**os.environ, "HIGHLIGHTS_PG_DIR": str(tmp_path.parent / f"{tmp_path.name}-pg")}
    if os.geteuid() == 0:  # pytest's tmp dirs are root-only: the server's folder must be elsewhere
        env["HIGHLIGHTS_PG_DIR"] = f"/tmp/highlights-test-pgsh-{os.getpid()}"
    script = str(REPO_ROOT / "scripts" / "pg.sh")
    url = subprocess.run([script, "start"], env=env, capture_output=True, text=True, timeout=120, check=True).stdout
    try:
        assert url.strip().startswith("postgresql://postgres@127.0.0.1:")
        with psycopg.connect(url.strip()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True, timeout=120, check=True)
    assert not Path(env["HIGHLIGHTS_PG_DIR"]).exists()


# -- migrations -----------------------------------------------------------------------------------------
async def test_migrations_apply_once_with_procrastinate_schema(pg_database_url: str) -> None:
    first = await open_storage(pg_database_url, timeouts=FAST)
    second = await open_storage(pg_database_url, timeouts=FAST)  # a second start-up: nothing left to do
    await first.close()
    await second.close()
    db = await PgDatabase.open(pg_database_url)
    try:
        assert await migrate(db) == []
        assert await db.sync_procrastinate() == []
        versions = [r["version"] for r in await db.fetchall("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == list(range(1, latest_version("postgres") + 1))
        recorded = await db.fetchone("SELECT version FROM procrastinate_schema_version")
        assert recorded == {"version": procrastinate.__version__}
        tables = await db.fetchone("SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS jobs, "
                                   "to_regclass('procrastinate_periodic_defers') IS NOT NULL AS defers")
        assert tables == {"jobs": True, "defers": True}
    finally:
        await db.close()


async def test_procrastinate_tables_of_another_app_are_not_taken_over(pg_database_url: str) -> None:
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE procrastinate_jobs (id bigint)")
    with pytest.raises(StorageError, match="database of its own"):
        await open_storage(pg_database_url)


def test_procrastinate_upgrades_pick_the_files_between_versions() -> None:
    names = ["03.02.00_50_post_b.sql", "03.02.00_01_pre_a.sql", "03.01.00_01_pre_x.sql", "03.04.00_01_pre_c.sql",
             "__init__.py"]
    assert pending_procrastinate_migrations("3.1.0", "3.3.0", names) == ["03.02.00_01_pre_a.sql",
                                                                          "03.02.00_50_post_b.sql"]
    assert pending_procrastinate_migrations("3.4.0", "3.10.0", names) == []


# -- procrastinate delivery records ---------------------------------------------------------------------
async def test_each_transition_moves_the_procrastinate_job(store: Storage, pg_database_url: str) -> None:
    q = store.queue
    gpu = (await q.enqueue(detect(1, priority=Priority.PERSON))).job
    control = (await q.enqueue(JobRequest(kind=JobKind.POLL, payload={}))).job
    p = await pjob_of(pg_database_url, gpu.id)
    assert (p["queue_name"], p["task_name"], p["status"], p["args"], p["priority"], p["queueing_lock"]) == (
        "gpu", TASK_NAME, "todo", {"job_id": gpu.id}, int(Priority.PERSON), None)
    assert (await pjob_of(pg_database_url, control.id))["queue_name"] == "control"

    claimed = await q.claim("w1", [JobKind.DETECT])
    assert claimed is not None and claimed.id == gpu.id
    p = await pjob_of(pg_database_url, gpu.id)
    assert p["status"] == "doing" and p["worker_id"] is not None

    after_fail = await q.fail(gpu.id, "w1", code="boom", message="x", retryable=True)
    assert after_fail is not None and after_fail.status is JobStatus.QUEUED
    assert (await pjob_of(pg_database_url, gpu.id))["status"] == "todo"

    await eventually(lambda: q.claim("w1", [JobKind.DETECT]), what="the retry to come due")
    assert await q.complete(gpu.id, "w1", {"clips": 3})
    assert (await pjob_of(pg_database_url, gpu.id))["status"] == "succeeded"

    await q.cancel(control.id, by="u")
    assert (await pjob_of(pg_database_url, control.id))["status"] == "cancelled"

    running = (await q.enqueue(detect(2))).job
    assert (await q.claim("w2", [JobKind.DETECT])) is not None
    await q.cancel(running.id, by="u")
    assert (await pjob_of(pg_database_url, running.id))["abort_requested"] is True
    assert await q.cancelled(running.id, "w2")
    assert (await pjob_of(pg_database_url, running.id))["status"] == "aborted"


async def test_enqueue_writes_both_rows_or_neither(store: Storage, pg_database_url: str) -> None:
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute("ALTER FUNCTION procrastinate_defer_jobs_v1 RENAME TO defer_jobs_away")
    with pytest.raises(StorageError):
        await store.queue.enqueue(detect(1))
    assert await store.queue.list_jobs() == []


async def test_stalled_retry_does_not_deadlock_against_a_waiting_duplicate(store: Storage,
                                                                          pg_database_url: str) -> None:
    # The trap, shown on procrastinate alone: with a queueing lock, retrying a stalled job fails while a
    # duplicate waits in "todo".
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        defer = ("SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW('gpu', 't', 0, NULL, 'vod-1', '{}'::jsonb, "
                 "NULL)]::procrastinate_job_to_defer_v1[]))")
        stalled = conn.execute(defer).fetchone()
        assert stalled is not None
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", stalled)
        conn.execute(defer)  # the duplicate, waiting
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("SELECT procrastinate_retry_job_v2(%s, NULL, NULL, NULL, NULL)", stalled)

    # Ours: the duplicate joins the running job in our table, so the stalled job's retry just works.
    q = store.queue
    first = await q.enqueue(detect(1, dedupe_key="vod-1"))
    assert (await q.claim("dead-worker", [JobKind.DETECT])) is not None
    duplicate = await q.enqueue(detect(1, dedupe_key="vod-1"))
    assert duplicate.created is False and duplicate.job.id == first.job.id
    await asyncio.sleep(FAST[JobKind.DETECT].lease_s + 0.1)
    assert await q.recover_stalled() == [first.job.id]
    assert (await pjob_of(pg_database_url, first.job.id))["status"] == "todo"
    again = await q.claim("w2", [JobKind.DETECT])
    assert again is not None and again.id == first.job.id and again.attempts == 2


# -- periodic ticks -------------------------------------------------------------------------------------
async def test_two_schedulers_ticking_at_once_enqueue_one_job(pg_database_url: str) -> None:
    a = await open_storage(pg_database_url, timeouts=FAST)
    b = await open_storage(pg_database_url, timeouts=FAST)
    try:
        cleanup = JobRequest(kind=JobKind.CLEANUP, payload={}, priority=Priority.SCHEDULED, requested_by="scheduler")
        ticks = [1_700_000_000 + 60 * n for n in range(6)]
        for tick in ticks:  # each moment, both schedulers fire together
            pair = await asyncio.gather(*[s.queue.enqueue_periodic(cleanup, periodic_id="cleanup", tick=tick)
                                          for s in (a, b)])
            assert sorted(r.created for r in pair) == [False, True]
            assert pair[0].job.id == pair[1].job.id
        jobs = await a.queue.list_jobs(limit=100)
        assert len(jobs) == len(ticks)

        # A scheduler running behind ticks a moment already superseded: nothing new either.
        newest = max(j.id for j in jobs)
        stale = await b.queue.enqueue_periodic(cleanup, periodic_id="cleanup", tick=ticks[2])
        assert stale.created is False and stale.job.id == newest

        # A late scheduler ticking the newest moment again, after its job finished, adds nothing.
        claimed = await a.queue.claim("w", [JobKind.CLEANUP])
        while claimed is not None and claimed.id != newest:
            await a.queue.complete(claimed.id, "w")
            claimed = await a.queue.claim("w", [JobKind.CLEANUP])
        assert claimed is not None and await a.queue.complete(newest, "w")
        late = await b.queue.enqueue_periodic(cleanup, periodic_id="cleanup", tick=ticks[-1])
        assert late.created is False and late.job.id == newest and late.job.status is JobStatus.SUCCEEDED
    finally:
        await a.close()
        await b.close()


async def test_a_periodic_tick_joins_an_active_job_with_its_dedupe_key(store: Storage) -> None:
    poll = JobRequest(kind=JobKind.POLL, payload={"sub": 1}, dedupe_key="poll:1", priority=Priority.SCHEDULED)
    first = await store.queue.enqueue_periodic(poll, periodic_id="poll:1", tick=100)
    second = await store.queue.enqueue_periodic(poll, periodic_id="poll:1", tick=160)  # still queued: joins
    assert first.created and not second.created and second.job.id == first.job.id


# -- waking idle workers ---------------------------------------------------------------------------------
async def test_an_idle_worker_is_woken_by_procrastinate_notify(store: Storage, pg_database_url: str) -> None:
    bot = await open_storage(pg_database_url, timeouts=FAST)
    try:
        assert await store.queue.wait_for_jobs([JobKind.DETECT], 0.05) is False
        waiter = asyncio.create_task(store.queue.wait_for_jobs([JobKind.DETECT], 30.0))
        await asyncio.sleep(0.3)  # let it LISTEN
        await bot.queue.enqueue(JobRequest(kind=JobKind.POLL, payload={}))  # another queue: no wake-up
        await asyncio.sleep(0.2)
        assert not waiter.done()
        await bot.queue.enqueue(detect(1))
        assert await asyncio.wait_for(waiter, 10.0) is True
    finally:
        await bot.close()

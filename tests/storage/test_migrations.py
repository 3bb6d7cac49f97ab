"""Schema migrations on every backend: an old database upgrades without losing rows, concurrent
start-ups migrate once, a failed file rolls back, and a database newer than the code is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage import MigrationError, open_storage
from storage.factory import migration_target
from storage.migrations import discover, latest_version, migrate
from storage.records import JobKind, JobStatus
from storage.sqlite_db import split_statements
from tests.storage.harness import Backend

T0 = "2024-05-01T12:00:00.000000Z"

# Rows written by revision 1 of the schema, in SQL that both backends accept (ids come from the
# database; JSON and times are literals the columns convert).
REV1_ROWS = f"""
INSERT INTO streamers (login, display_name, twitch_user_id) VALUES ('oldcaster', 'OldCaster', '777');
INSERT INTO subscriptions (guild_id, streamer_id, channel_id, created_by, last_seen_vod, created_at)
    SELECT 'g1', id, 'chan1', 'u1', 'v41', '{T0}' FROM streamers WHERE login = 'oldcaster';
INSERT INTO vods (twitch_vod_id, source, streamer_id, title, duration_s, created_at)
    SELECT '41', 'https://www.twitch.tv/videos/41', id, 'Old finals', 3600.0, '{T0}'
    FROM streamers WHERE login = 'oldcaster';
INSERT INTO jobs (kind, status, payload, priority, dedupe_key, max_attempts, requested_by, guild_id, run_after,
                  created_at)
    VALUES ('detect', 'queued', '{{"vod": "41"}}', 10, 'old-queued', 3, 'u1', 'g1', '{T0}', '{T0}');
INSERT INTO jobs (kind, status, payload, priority, dedupe_key, max_attempts, attempts, guild_id, run_after,
                  created_at, started_at, finished_at, result, progress)
    VALUES ('detect', 'succeeded', '{{"vod": "40"}}', 0, 'old-done', 3, 1, 'g1', '{T0}', '{T0}', '{T0}', '{T0}',
            '{{"clips": 1}}', 1.0);
INSERT INTO clips (job_id, vod_id, rank, start_s, end_s, peak_s, score, signals, explanation, message_id,
                   channel_id, created_at)
    SELECT j.id, v.id, 1, 10.0, 40.0, 22.0, 0.9, '{{"chat": 0.8}}', '{{"why": "old"}}', 'm1', 'chan1', '{T0}'
    FROM jobs j, vods v WHERE j.dedupe_key = 'old-done' AND v.twitch_vod_id = '41';
INSERT INTO votes (clip_id, user_id, value, voted_at) SELECT id, 'u1', 1, '{T0}' FROM clips WHERE message_id = 'm1';
INSERT INTO votes (clip_id, user_id, value, voted_at) SELECT id, 'u2', -1, '{T0}' FROM clips WHERE message_id = 'm1';
"""


async def schema_version(url: str) -> int:
    async with migration_target(url) as target, target.transaction() as tx:
        return await tx.current_version()


async def test_revision_1_database_upgrades_without_losing_rows(backend: Backend) -> None:
    async with migration_target(backend.url) as target:
        dialect = target.dialect
        assert await migrate(target, upto=1) == [1]
        async with target.transaction() as tx:
            await tx.execute_script(REV1_ROWS)
    assert await schema_version(backend.url) == 1

    storage = await backend.connect()  # migrates to the latest version at start-up
    assert await schema_version(backend.url) == latest_version(dialect) >= 2
    repo, queue = storage.repo, storage.queue
    streamer = await repo.find_streamer("oldcaster")
    assert streamer is not None and (streamer.display_name, streamer.twitch_user_id) == ("OldCaster", "777")
    [sub] = await repo.list_subscriptions(guild_id="g1")
    assert (sub.streamer_id, sub.channel_id, sub.last_seen_vod, sub.enabled) == (streamer.id, "chan1", "v41", True)
    vod = await repo.find_vod(twitch_vod_id="41")
    assert vod is not None and (vod.title, vod.duration_s, vod.streamer_id) == ("Old finals", 3600.0, streamer.id)

    jobs = {j.dedupe_key: j for j in await queue.list_jobs()}
    assert set(jobs) == {"old-queued", "old-done"}
    done = jobs["old-done"]
    assert (done.status, done.result, done.attempts, done.payload) == (JobStatus.SUCCEEDED, {"clips": 1}, 1,
                                                                        {"vod": "40"})
    assert done.created_at.isoformat() == "2024-05-01T12:00:00+00:00"
    clip = await repo.find_clip_by_message("m1")
    assert clip is not None and (clip.job_id, clip.vod_id, clip.signals) == (done.id, vod.id, {"chat": 0.8})
    assert (clip.up_votes, clip.down_votes) == (1, 1)
    assert await repo.list_voted_clips("g1", streamer.id) == [clip]

    # Old rows work with what later revisions added: the queued job runs, tuning attaches to the streamer.
    claimed = await queue.claim("w", [JobKind.DETECT])
    assert claimed is not None and claimed.id == jobs["old-queued"].id
    assert (await queue.cancel(claimed.id, by="u1")).cancel_requested
    assert await queue.cancelled(claimed.id, "w")
    tuned = await repo.new_tuning_version("g1", streamer.id, {"min_score": 0.4}, reason="after upgrade")
    assert tuned.version == 1


async def test_concurrent_start_ups_migrate_once(backend: Backend) -> None:
    opened = await asyncio.gather(*(open_storage(backend.url) for _ in range(3)))
    try:
        async with migration_target(backend.url) as target:
            assert await migrate(target) == []
            assert await schema_version(backend.url) == latest_version(target.dialect)
    finally:
        for storage in opened:
            await storage.close()


async def test_database_newer_than_the_code_is_refused(backend: Backend) -> None:
    await (await backend.connect()).close()
    async with migration_target(backend.url) as target, target.transaction() as tx:
        await tx.execute_script(
            f"INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future', '{T0}')")
    with pytest.raises(MigrationError, match="newer than this code"):
        await open_storage(backend.url)


async def test_a_failing_migration_rolls_back_and_can_be_fixed(backend: Backend, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_first.sql").write_text("CREATE TABLE t_first (x INTEGER);\n")
    (folder / "0002_second.sql").write_text("CREATE TABLE t_second (x INTEGER);\nINSERT INTO t_missing VALUES (1);\n")
    async with migration_target(backend.url) as target:
        with pytest.raises(MigrationError, match="0002_second"):
            await migrate(target, directory=folder)
        async with target.transaction() as tx:
            assert await tx.current_version() == 1
        with pytest.raises(MigrationError):  # t_second was rolled back with the failed file
            async with target.transaction() as tx:
                await tx.execute_script("INSERT INTO t_second VALUES (1)")
        (folder / "0002_second.sql").write_text("CREATE TABLE t_second (x INTEGER);\n"
                                                "INSERT INTO t_second VALUES (1);\n")
        assert await migrate(target, directory=folder) == [2]
        assert await migrate(target, directory=folder) == []


def test_migration_files_are_numbered_without_gaps(tmp_path: Path) -> None:
    for dialect in ("sqlite", "postgres"):
        files = discover(dialect)
        assert [f.version for f in files] == list(range(1, len(files) + 1)) and len(files) >= 2
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0003_c.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="without gaps"):
        discover("sqlite", tmp_path)
    (tmp_path / "0002-b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_lowercase_name"):
        discover("sqlite", tmp_path)
    with pytest.raises(MigrationError, match="no migrations folder"):
        discover("oracle")


def test_sqlite_scripts_split_into_whole_statements() -> None:
    script = """-- a comment; with a semicolon
CREATE TABLE a (x TEXT DEFAULT ';');
CREATE TRIGGER t AFTER INSERT ON a BEGIN
    UPDATE a SET x = 'y;z';
END;
-- trailing comment
SELECT 1"""
    statements = split_statements(script)
    assert len(statements) == 3
    assert statements[0].endswith("DEFAULT ';');")
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    assert statements[2] == "SELECT 1"  # the trailing comment is dropped

"""Tests for ``highlights bench queue``: every row on SQLite and on a real PostgreSQL, no lost or
duplicated job, the choice of databases, option errors, and the idle worker woken by NOTIFY.

Runs the real benchmark (real worker processes, a real SIGKILL) with 50 jobs, 5 latency samples
and a 2 s lease. No wall-clock assertions: only that every row is there with a number.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from detector.bench.queue_databases import ENV_PG_URL, BenchTarget, Skipped, choose_targets
from detector.bench.queue_worker import BenchWorker
from detector.errors import ConfigError
from detector.worker import WorkerOptions
from highlights.cli import main
from storage.artifacts import ArtifactStore
from storage.factory import open_storage
from storage.records import JobKind, JobRequest, JobStatus
from storage.url import sqlite_url

pytestmark = pytest.mark.timeout(120)
try:  # the session's PostgreSQL server, shared with the storage contract tests
    from tests.storage.pg_server import pg_database_url, pg_server  # noqa: F401  (fixtures, found by name)
    _PG_MISSING: str | None = None
except ImportError as exc:
    _PG_MISSING = f"tests.storage.pg_server is not available ({exc})"

SMALL = ["--jobs", "50", "--samples", "5", "--lease", "2"]
ROWS = {
    "enqueue→claim median (ms)": r"\d+\.\d",
    "enqueue→claim p95 (ms)": r"\d+\.\d",
    "enqueue rate (jobs/s)": r"\d+\.\d",
    "claim+complete, 2 workers (jobs/s)": r"\d+\.\d",
    "SIGKILL → running again (s)": r"\d+\.\d",
    "recovery target ≤ 30 s": r"met|NOT met",
    "lost / duplicated": r"0 / 0",
}


def _cells(table: str, label: str) -> list[str]:
    line = next((ln for ln in table.splitlines() if ln.startswith(label)), None)
    assert line is not None, f"no {label!r} row in:\n{table}"
    return re.split(r"\s{2,}", line[len(label):].strip())


def _check_table(table: str, backends: list[str]) -> None:
    header = next(ln for ln in table.splitlines() if ln.strip() and ln.strip().split() == backends)
    assert header
    for label, pattern in ROWS.items():
        cells = _cells(table, label)
        assert len(cells) == len(backends), (label, cells)
        assert all(re.fullmatch(pattern, c) for c in cells), (label, cells)
    assert "lease 2 s (--lease)" in table
    assert re.search(r"^lost 0, duplicated 0 \(\d+ jobs", table, re.MULTILINE)


def test_bench_queue_on_sqlite_prints_every_row_and_no_lost_job(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "queue.json"
    assert main(["bench", "queue", "--backend", "sqlite", *SMALL, "--json", str(out)]) == 0
    captured = capsys.readouterr()
    _check_table(captured.out, ["sqlite"])
    assert "bench queue: sqlite: job" in captured.err and "after w" in captured.err  # progress on stderr
    data = json.loads(out.read_text())
    sq = data["backends"]["sqlite"]
    assert sq["jobs"] == 50 + 5 + 1 and sq["lost"] == 0 and sq["duplicated"] == 0
    assert len(sq["latency_ms"]["samples"]) == 5 and sq["recovery_s"] > 0
    assert data["options"]["lease_s"] == 2.0 and data["options"]["lease_from"] == "option"


def test_bench_queue_on_postgres_prints_every_row_and_no_lost_job(pg_database_url: str,  # noqa: F811
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "queue", "--backend", "postgres", "--storage", pg_database_url, *SMALL]) == 0
    captured = capsys.readouterr()
    _check_table(captured.out, ["postgres"])
    assert "a scratch database on postgresql://" in captured.out


def test_targets_skip_postgres_with_a_note_and_refuse_what_cannot_run(tmp_path: Path) -> None:
    both = choose_targets("both", None, env={})
    assert isinstance(both[0], BenchTarget) and both[0].backend == "sqlite"
    assert isinstance(both[1], Skipped) and ENV_PG_URL in both[1].reason and "--storage" in both[1].reason
    from_env = choose_targets("both", None, env={ENV_PG_URL: "postgresql://u@db:5432/x"})
    assert isinstance(from_env[1], BenchTarget) and "db:5432" in from_env[1].where
    with pytest.raises(ConfigError, match="needs a PostgreSQL server"):
        choose_targets("postgres", None, env={})
    existing = tmp_path / "busy.db"
    existing.write_bytes(b"")
    with pytest.raises(ConfigError, match="already exists"):
        choose_targets("sqlite", sqlite_url(existing), env={})
    with pytest.raises(ConfigError, match="--backend is sqlite"):
        choose_targets("sqlite", "postgresql://u@db/x", env={})


def test_bench_queue_option_errors_are_one_line(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(ENV_PG_URL, raising=False)
    assert main(["bench", "queue", "--backend", "postgres"]) == 2
    assert "needs a PostgreSQL server" in capsys.readouterr().err
    assert main(["bench", "queue", "--minutes", "5"]) == 2
    assert "--minutes only apply to 'highlights bench detector'" in capsys.readouterr().err
    assert main(["bench", "--jobs", "5"]) == 2
    assert "--jobs only apply to 'highlights bench queue'" in capsys.readouterr().err
    assert main(["bench", "queue", "--lease", "0.1"]) == 2
    assert "--lease 0.1 is out of range" in capsys.readouterr().err


async def test_an_idle_worker_on_postgres_wakes_on_notify_and_stops_at_once(pg_database_url: str,  # noqa: F811
                                                                            tmp_path: Path) -> None:
    """With a 60 s poll interval only procrastinate's NOTIFY can bring the job to the worker in time."""
    async with await open_storage(pg_database_url) as worker_side, await open_storage(pg_database_url) as bot:
        claimed: list[str] = []
        options = WorkerOptions(worker_id="idle-test", kinds=(JobKind.DETECT,), idle_s=60.0,
                                timeouts=worker_side.timeouts)
        worker = BenchWorker(worker_side.queue, worker_side.repo, ArtifactStore(root=tmp_path), options,
                             emit=claimed.append)
        running = asyncio.create_task(worker.run())
        await asyncio.sleep(0.5)  # the worker found nothing and is waiting
        job = (await bot.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload={"bench": "idle"}))).job
        for _ in range(300):
            if (await bot.queue.get(job.id)).status is JobStatus.SUCCEEDED:
                break
            await asyncio.sleep(0.05)
        assert (await bot.queue.get(job.id)).status is JobStatus.SUCCEEDED
        assert claimed[0].startswith(f"claimed {job.id} 1 ")
        worker.stop()
        assert await asyncio.wait_for(running, 15.0) == 1  # the idle wait ends with the stop, not after 60 s


async def test_a_bench_worker_stopped_while_holding_releases_the_job(tmp_path: Path) -> None:
    async with await open_storage(sqlite_url(tmp_path / "q.db")) as storage:
        job = (await storage.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload={"hold": True}))).job
        claimed: list[str] = []
        options = WorkerOptions(worker_id="holder", kinds=(JobKind.DETECT,), idle_s=0.05, timeouts=storage.timeouts)
        worker = BenchWorker(storage.queue, storage.repo, ArtifactStore(root=tmp_path), options, emit=claimed.append)
        running = asyncio.create_task(worker.run())
        for _ in range(300):
            if claimed:
                break
            await asyncio.sleep(0.05)
        assert claimed and claimed[0].startswith(f"claimed {job.id} 1 ")
        worker.stop(grace_s=0.0)
        assert await asyncio.wait_for(running, 15.0) == 1
        after = await storage.queue.get(job.id)
        assert after.status is JobStatus.QUEUED and after.attempts == 0  # given back, no attempt spent

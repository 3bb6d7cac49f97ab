"""The worker end to end on real SQLite storage and the real detector over synthetic VODs.

``highlights jobs add`` → ``highlights worker --once`` (in-process and as a subprocess); progress,
cancel (mid-detection and while artifacts are written), graceful shutdown (release, then another
worker completes the job exactly once; SIGTERM to a real worker process), a corrupt file's error
code kept without retry, a full disk, I/O errors retried, retention, ``highlights run`` under
SIGTERM, the bot's import weight, and the steps the Docker images run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue as queue_module
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from detector.job_control import install_job_log_records
from detector.synthetic.vod import SyntheticVod
from detector.worker import Worker, WorkerOptions
from highlights.cli import main
from highlights.cmd_jobs import detect_payload
from storage.artifacts import ArtifactStore
from storage.factory import Storage, open_storage
from storage.queue.timeouts import KindTimeouts
from storage.records import Job, JobKind, JobRequest, JobStatus
from storage.url import sqlite_url

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[1]
try:  # the session's PostgreSQL server, shared with the storage contract tests
    from tests.storage.pg_server import pg_database_url, pg_server  # noqa: F401  (fixtures, found by name)
    _PG_MISSING: str | None = None
except ImportError as exc:
    _PG_MISSING = f"tests.storage.pg_server is not available ({exc})"
SHORT = {kind: KindTimeouts(lease_s=5.0, heartbeat_s=0.1, max_runtime_s=600.0, max_attempts=3,
                            backoff_base_s=0.2, backoff_max_s=1.0) for kind in JobKind}
"""Heartbeats every 0.1 s, so cancel requests reach in-process workers quickly."""


# -- helpers ----------------------------------------------------------------------------------------------
class RecordingQueue:
    """The real queue, with each progress write recorded and handed to an optional hook."""

    def __init__(self, inner: Any, hook: Callable[[int, str | None], Awaitable[None]] | None = None) -> None:
        self.inner = inner
        self.hook = hook
        self.writes: list[tuple[str | None, float | None]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def progress(self, job_id: int, worker_id: str, *, stage: str | None = None,
                       fraction: float | None = None, message: str | None = None) -> bool:
        owned = await self.inner.progress(job_id, worker_id, stage=stage, fraction=fraction, message=message)
        self.writes.append((stage, fraction))
        if self.hook is not None:
            await self.hook(job_id, stage)
        return owned


@pytest.fixture
def url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path / "queue.db")


@pytest.fixture(params=["sqlite", "postgres"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database on either backend (PostgreSQL from ``tests/storage/pg_server.py``)."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "queue.db")
    if _PG_MISSING:
        pytest.skip(_PG_MISSING)
    return str(request.getfixturevalue("pg_database_url"))


@pytest.fixture
async def storage(url: str) -> AsyncIterator[Storage]:
    async with await open_storage(url, timeouts=SHORT) as st:
        yield st


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore.for_storage(None, tmp_path / "artifacts")


def worker(queue: Any, st: Storage, artifacts: ArtifactStore, worker_id: str = "w1", **options: Any) -> Worker:
    return Worker(queue, st.repo, artifacts, WorkerOptions(worker_id=worker_id, once=True, idle_s=0.05,
                                                           timeouts=SHORT, **options))


async def enqueue_detect(st: Storage, vod: SyntheticVod, *, media: bool = True, chat: bool = True,
                         media_path: Path | None = None) -> Job:
    payload, key = detect_payload(media_path or (vod.media_path if media else None),
                                  vod.chat_path if chat else None, ["min_gap_s=30"], top=3)
    return (await st.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload=payload, dedupe_key=key))).job


def job_and_clips(url: str, job_id: int) -> tuple[Job, list[Any]]:
    async def read() -> tuple[Job, list[Any]]:
        async with await open_storage(url) as st:
            return await st.queue.get(job_id), await st.repo.list_clips(job_id)

    return asyncio.run(read())


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HIGHLIGHTS_STORAGE_URL", None)
    env.pop("HIGHLIGHTS_ARTIFACTS", None)
    return env


class LineReader:
    """Reads a subprocess's stderr in a thread so a test can wait for a line with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue_module.Queue[str] = queue_module.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout_s: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue_module.Empty:
                continue
            self.seen.append(line)
            if m := re.search(pattern, line):
                return m
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.seen)}")

    def rest(self) -> str:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)


# -- the happy path -----------------------------------------------------------------------------------------
def test_jobs_add_then_worker_once_stores_clips_and_artifacts(sample_vod: SyntheticVod, backend_url: str,
                                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = backend_url
    art = tmp_path / "art"
    add = ["jobs", "add", str(sample_vod.media_path), "--chat", str(sample_vod.chat_path), "--top", "3",
           "--set", "min_gap_s=30", "--storage", url]
    assert main(add) == 0
    assert main(add) == 0  # the same files and settings join the queued job
    assert main(["jobs", "add", "--chat", str(tmp_path / "missing.json"), "--storage", url]) == 2
    out = capsys.readouterr()
    assert "queued job 1" in out.out and "joined job 1" in out.out and "missing.json" in out.err

    assert main(["worker", "--once", "--storage", url, "--artifacts", str(art)]) == 0
    job, clips = job_and_clips(url, 1)
    assert job.status is JobStatus.SUCCEEDED and job.progress == 1.0 and job.attempts == 1
    assert job.result is not None and job.result["candidates"] == len(clips) and 1 <= len(clips) <= 3
    assert [c.rank for c in clips] == list(range(1, len(clips) + 1))
    assert all(c.explanation["summary"] and "chat" in c.explanation["summary"] for c in clips)
    assert all(c.vod_id == job.result["vod_id"] for c in clips)
    assert job.result["artifacts"] == {"json": "jobs/1/result.json", "html": "jobs/1/report.html"}
    written = json.loads((art / "jobs/1/result.json").read_text())
    assert [c["start"] for c in written["clips"]] == [c.start_s for c in clips]
    assert "<svg" in (art / "jobs/1/report.html").read_text()

    assert main(["jobs", "show", "1", "--storage", url]) == 0
    assert main(["jobs", "list", "--storage", url]) == 0
    assert main(["jobs", "show", "99", "--storage", url]) == 2
    out = capsys.readouterr()
    assert "job 1: detect, succeeded" in out.out and "clips (" in out.out and "succeeded" in out.out
    assert "99" in out.err


def test_worker_as_a_subprocess_runs_a_job(sample_vod: SyntheticVod, url: str, tmp_path: Path) -> None:
    assert main(["jobs", "add", "--chat", str(sample_vod.chat_path), "--storage", url]) == 0
    done = subprocess.run([sys.executable, "-m", "highlights", "worker", "--once", "--storage", url,
                           "--artifacts", str(tmp_path / "art")], capture_output=True, text=True, timeout=120,
                          env=clean_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    job, clips = job_and_clips(url, 1)
    assert job.status is JobStatus.SUCCEEDED and clips and (tmp_path / "art/jobs/1/report.html").is_file()


async def test_progress_rises_through_stages_and_logs_carry_the_job_id(
        storage: Storage, artifacts: ArtifactStore, sample_vod: SyntheticVod, caplog: pytest.LogCaptureFixture) -> None:
    install_job_log_records()
    job = await enqueue_detect(storage, sample_vod)
    recording = RecordingQueue(storage.queue)
    with caplog.at_level(logging.INFO):
        assert await worker(recording, storage, artifacts).run() == 1
    assert (await storage.queue.get(job.id)).status is JobStatus.SUCCEEDED
    fractions = [f for _, f in recording.writes]
    stages = [s for s, _ in recording.writes]
    assert fractions == sorted(fractions) and fractions[0] < 0.5 and fractions[-1] == 1.0
    assert {"writing artifacts", "storing clips", "done"} <= set(stages)
    assert {"signal chat", "signal audio", "decode audio"} & set(stages)
    chat_records = [r for r in caplog.records if r.name.startswith("detector.sources.chat")]
    assert chat_records and all(getattr(r, "job_id", None) == job.id for r in chat_records)


# -- stopping a job -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cancel_at", ["starting", "writing artifacts"])
async def test_cancel_while_running_stops_and_removes_partial_artifacts(
        cancel_at: str, storage: Storage, artifacts: ArtifactStore, sample_vod: SyntheticVod, url: str) -> None:
    job = await enqueue_detect(storage, sample_vod)
    seen: dict[str, Any] = {}

    async def hook(job_id: int, stage: str | None) -> None:
        if stage == cancel_at and not seen:
            async with await open_storage(url) as other:  # another connection, as the bot would be
                seen["status"] = (await other.queue.cancel(job_id, by="test")).status
            seen["folder"] = artifacts.job_dir(job_id, create=False).exists()

    recording = RecordingQueue(storage.queue, hook)
    await worker(recording, storage, artifacts).run()
    after = await storage.queue.get(job.id)
    assert seen["status"] is JobStatus.RUNNING  # it was cancelled while running
    assert after.status is JobStatus.CANCELLED
    assert await storage.repo.list_clips(job.id) == []
    assert not artifacts.job_dir(job.id, create=False).exists()
    stages = [s for s, _ in recording.writes]
    if cancel_at == "starting":  # the abort reached the detector: it never got to write artifacts
        assert "writing artifacts" not in stages
    else:
        assert seen["folder"]  # files were being written, and were removed


@pytest.mark.parametrize("grace_s", [0.0, 30.0])
async def test_shutdown_finishes_or_releases_the_job_and_it_completes_once(
        grace_s: float, backend_url: str, artifacts: ArtifactStore, sample_vod: SyntheticVod) -> None:
    async with await open_storage(backend_url, timeouts=SHORT) as storage:
        await _shutdown_then_second_worker(storage, artifacts, sample_vod, grace_s)


async def _shutdown_then_second_worker(storage: Storage, artifacts: ArtifactStore, vod: SyntheticVod,
                                       grace_s: float) -> None:
    job = await enqueue_detect(storage, vod)
    await enqueue_detect(storage, vod, media=False)  # a second job, which a stopping worker must not claim
    first: Worker | None = None

    async def hook(job_id: int, stage: str | None) -> None:
        # At the job's first progress write, whichever stage it names (under load the worker may
        # coalesce "starting" with the next stage into one write).
        if first is not None and not first.stopping:
            first.stop()  # as SIGTERM, with the worker's --grace

    first = worker(RecordingQueue(storage.queue, hook), storage, artifacts, "first", grace_s=grace_s)
    assert await first.run() == 1
    after = await storage.queue.get(job.id)
    if grace_s == 0:  # aborted and given back, without spending an attempt
        assert after.status is JobStatus.QUEUED and after.attempts == 0
        assert await storage.repo.list_clips(job.id) == []
    else:  # finished within its grace period
        assert after.status is JobStatus.SUCCEEDED and after.lease_owner == "first"
    assert await worker(storage.queue, storage, artifacts, "second").run() == (2 if grace_s == 0 else 1)
    done = await storage.queue.get(job.id)
    clips = await storage.repo.list_clips(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.attempts == 1
    assert done.lease_owner == ("second" if grace_s == 0 else "first")
    assert [c.rank for c in clips] == list(range(1, done.result["candidates"] + 1))


async def test_a_lost_lease_stops_the_job_without_writing_more(
        storage: Storage, artifacts: ArtifactStore, sample_vod: SyntheticVod) -> None:
    job = await enqueue_detect(storage, sample_vod)

    async def hook(job_id: int, stage: str | None) -> None:
        if stage == "starting":  # as when the lease expired and another worker took the job over
            assert await storage.queue.release(job_id, "w1")
            assert (await storage.queue.claim("thief", [JobKind.DETECT])) is not None

    recording = RecordingQueue(storage.queue, hook)
    await worker(recording, storage, artifacts).run()
    after = await storage.queue.get(job.id)
    assert after.status is JobStatus.RUNNING and after.lease_owner == "thief" and after.error_code is None
    assert [s for s, _ in recording.writes] == ["starting"]
    assert await storage.repo.list_clips(job.id) == []
    assert not (artifacts.job_dir(job.id, create=False) / "result.json").exists()


def test_sigterm_to_a_worker_process_releases_or_finishes_its_job_once(sample_vod: SyntheticVod, url: str,
                                                                         tmp_path: Path) -> None:
    art = str(tmp_path / "art")
    assert main(["jobs", "add", str(sample_vod.media_path), "--chat", str(sample_vod.chat_path),
                 "--storage", url]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "highlights", "-v", "worker", "--once", "--grace", "0",
                             "--storage", url, "--artifacts", art], stderr=subprocess.PIPE, text=True,
                            env=clean_env(), cwd=tmp_path)
    reader = LineReader(proc)
    try:
        reader.wait_for(r"claimed job 1")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log_text = reader.rest()
    released = "released for another worker" in log_text
    assert released or "job 1 succeeded" in log_text, log_text
    assert main(["worker", "--once", "--storage", url, "--artifacts", art]) == 0
    job, clips = job_and_clips(url, 1)
    assert job.status is JobStatus.SUCCEEDED and job.attempts == 1
    assert (job.lease_owner != f"{os.uname().nodename}:{proc.pid}") == released
    assert [c.rank for c in clips] == list(range(1, job.result["candidates"] + 1))


# -- failures ---------------------------------------------------------------------------------------------------
async def test_a_corrupt_media_file_fails_with_its_code_and_no_retry(
        storage: Storage, artifacts: ArtifactStore, corrupt_media: Path, sample_vod: SyntheticVod) -> None:
    job = await enqueue_detect(storage, sample_vod, chat=False, media_path=corrupt_media)
    await worker(storage.queue, storage, artifacts).run()
    failed = await storage.queue.get(job.id)
    assert failed.status is JobStatus.FAILED and failed.attempts == 1
    assert failed.error_code == "media_error" and "corrupt.mp4" in (failed.error_message or "")


async def test_a_bad_payload_is_a_config_error(storage: Storage, artifacts: ArtifactStore) -> None:
    job = (await storage.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload={"video": "x.mp4"}))).job
    await worker(storage.queue, storage, artifacts).run()
    failed = await storage.queue.get(job.id)
    assert failed.status is JobStatus.FAILED and failed.error_code == "config_error" and "video" in failed.error_message


def test_a_full_disk_is_a_clear_failure(sample_vod: SyntheticVod, url: str, tmp_path: Path) -> None:
    assert main(["jobs", "add", "--chat", str(sample_vod.chat_path), "--storage", url]) == 0
    assert main(["worker", "--once", "--storage", url, "--artifacts", str(tmp_path / "art"),
                 "--min-free-gb", "1e9"]) == 0
    job, clips = job_and_clips(url, 1)
    assert job.status is JobStatus.FAILED and job.error_code == "disk_full" and clips == []
    assert "free" in job.error_message and "--min-free-gb" in job.error_message


@pytest.mark.allow_error_logs
async def test_an_io_error_is_retried(storage: Storage, sample_vod: SyntheticVod, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("the artifact root is a file, so creating folders under it fails")
    job = await enqueue_detect(storage, sample_vod, media=False)
    await worker(storage.queue, storage, ArtifactStore(root=not_a_folder)).run()
    again = await storage.queue.get(job.id)
    assert again.status is JobStatus.QUEUED and again.attempts == 1 and again.error_code == "worker_error"


# -- retention ----------------------------------------------------------------------------------------------------
async def test_retention_removes_old_job_folders_only(storage: Storage, artifacts: ArtifactStore) -> None:
    old = time.time() - 10 * 86400
    for name in ("1", "2", "3", "notes"):
        folder = artifacts.jobs_root / name
        folder.mkdir(parents=True)
        (folder / "result.json").write_text("{}")
        if name != "3":
            os.utime(folder / "result.json", (old, old))
            os.utime(folder, (old, old))
    assert artifacts.clean_older_than(7, keep={2}) == [artifacts.jobs_root / "1"]
    assert sorted(p.name for p in artifacts.jobs_root.iterdir()) == ["2", "3", "notes"]

    cleanup = (await storage.queue.enqueue(JobRequest(kind=JobKind.CLEANUP, payload={"days": 7}))).job
    await worker(storage.queue, storage, artifacts, kinds=(JobKind.CLEANUP,)).run()
    done = await storage.queue.get(cleanup.id)
    assert done.status is JobStatus.SUCCEEDED and done.result == {"days": 7.0, "removed": ["jobs/2"]}
    assert sorted(p.name for p in artifacts.jobs_root.iterdir()) == ["3", "notes"]


def test_the_worker_applies_retention_when_it_starts(url: str, tmp_path: Path) -> None:
    store = ArtifactStore(root=tmp_path / "art")
    old = time.time() - 10 * 86400
    for name in ("7", "8"):
        (store.jobs_root / name).mkdir(parents=True)
    os.utime(store.jobs_root / "7", (old, old))
    assert main(["worker", "--once", "--retention-days", "7", "--storage", url, "--artifacts", str(store.root)]) == 0
    assert [p.name for p in store.jobs_root.iterdir()] == ["8"]


def test_free_space_check_names_the_root(tmp_path: Path) -> None:
    from storage.artifacts import DiskFull

    store = ArtifactStore(root=tmp_path / "a")
    assert store.ensure_free_space(1) > 0
    with pytest.raises(DiskFull) as err:
        store.ensure_free_space(1 << 60)
    assert err.value.code == "disk_full" and str(tmp_path / "a") in str(err.value)


# -- processes and packaging ----------------------------------------------------------------------------------------
def test_run_starts_a_worker_and_stops_cleanly_on_sigterm(url: str, tmp_path: Path) -> None:
    from highlights.cmd_run import COMPONENTS, available

    missing = [name for name, module, _ in COMPONENTS if not available(module)]
    only = [] if len(missing) == len(COMPONENTS) else ["--only", "worker"]  # real bots need real tokens
    proc = subprocess.Popen([sys.executable, "-m", "highlights", "-v", "run", "--storage", url, "--artifacts",
                             str(tmp_path / "art"), *only], stderr=subprocess.PIPE, text=True, env=clean_env(),
                            cwd=tmp_path)
    reader = LineReader(proc)
    try:
        child = int(reader.wait_for(r"started worker \(pid (\d+)\)").group(1))
        reader.wait_for(r"claiming detect,cleanup,render jobs")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = reader.rest()
    assert all(f"{name} not started" in text for name in missing) or only
    assert not Path(f"/proc/{child}").exists(), "the worker child outlived `highlights run`"


def test_the_bot_package_does_not_import_torch_or_the_detector() -> None:
    code = "import bot, sys; assert 'torch' not in sys.modules and 'detector' not in sys.modules, sorted(sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=clean_env())
    assert done.returncode == 0, done.stderr


def _requirement_name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: set[str]) -> set[str]:
    """Installed distributions these names pull in (extras of dependencies not followed)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here (e.g. discord.py): only its own name is checked
        todo.extend(_requirement_name(r) for r in requires if "extra ==" not in r)
    return seen


def test_dockerfile_stages_use_extras_that_exist_and_the_bot_image_has_no_torch() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = dict(re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)\s*$(.*?)(?=^FROM\s|\Z)", dockerfile, re.M | re.S))
    assert {"bot", "worker"} <= set(stages)
    installed: dict[str, set[str]] = {}
    for stage in ("bot", "worker"):
        m = re.search(r'pip install "\.\[([\w,]+)\]"', stages[stage])
        assert m, f"stage {stage} installs no extras"
        installed[stage] = set(m.group(1).split(","))
        assert installed[stage] <= set(extras), f"stage {stage} names extras missing from pyproject.toml"
    assert "worker" in installed["worker"] and "bot" in installed["bot"]
    bot_requirements = [*project["dependencies"], *(r for e in installed["bot"] for r in extras[e])]
    closure = _closure({_requirement_name(r) for r in bot_requirements})
    assert not closure & {"torch", "nvidia-cudnn-cu12", "triton"}, closure
    # The GPU worker image adds the vision extra (torch, transformers); the worker extra alone stays torch-free
    # (the CPU path, the demo and the tests run without it).
    assert "vision" in installed["worker"]
    assert "torch" in {_requirement_name(r) for r in extras["vision"]}
    assert not {"torch", "transformers"} & {_requirement_name(r) for r in extras["worker"]}

    compose = (ROOT / "compose.yaml").read_text()
    assert re.search(r"^\s+image: postgres:15\s*$", compose, re.M)
    assert re.search(r"target: bot\b", compose) and re.search(r"target: worker\b", compose)
    assert re.search(r"^\s+replicas: \$\{WORKER_REPLICAS:-\d+\}", compose, re.M)
    assert "artifacts:/data/artifacts" in compose and "path: .env" in compose
    commands = re.findall(r'command: \["(\w+)"', compose)
    parser_help = subprocess.run([sys.executable, "-m", "highlights", "--help"], capture_output=True, text=True,
                                 timeout=60, env=clean_env()).stdout
    assert commands and all(c in parser_help for c in commands)

"""Issue 14, finding 2: a PostgreSQL worker that neither ``--once`` nor SIGTERM could stop.

``highlights worker --once --storage postgresql://…`` never exited (5 of 5) and then ignored SIGTERM:
``Worker.run`` awaited the stalled-job recovery, whose cancellation psycopg_pool lost while it waited
for a pooled connection (psycopg issue 1345). Now every await on the way out is bounded
(``storage.bounded``), a watchdog ends a stop that overruns (``highlights.hard_exit``), and a second
signal exits at once. The hung database is real: PostgreSQL behind a relay that stops relaying.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from detector.bench.chaos_kills import JobSpec, enqueue
from detector.bench.chaos_procs import start_worker, wait_for_child, worker_env
from detector.bench.chaos_stall import sigterm_while_hung
from detector.synthetic.vod import SyntheticVod
from detector.worker import Worker, WorkerOptions
from highlights.cmd_worker import HARD_EXIT_MARGIN_S, SECOND_SIGNAL_EXIT_S
from storage.artifacts import ArtifactStore
from storage.factory import open_storage
from storage.url import sqlite_url

pytestmark = pytest.mark.timeout(300)


def test_worker_once_exits_on_both_backends(backend_url: tuple[str, str], tmp_path: Path) -> None:
    _, url = backend_url
    proc = subprocess.run([sys.executable, "-m", "highlights", "-v", "worker", "--once", "--storage", url,
                           "--artifacts", str(tmp_path / "art")], capture_output=True, text=True, timeout=120,
                          env=worker_env(tmp_path / "tmp"))
    assert proc.returncode == 0, proc.stderr
    assert "stopped after 0 job(s)" in proc.stderr and "Traceback" not in proc.stderr


class LosesCancellation:
    """The real queue, except that ``recover_stalled`` swallows a cancellation delivered while it waits
    for a connection and returns normally — what psycopg_pool did (psycopg issue 1345)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.waiting = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def recover_stalled(self) -> list[int]:
        self.waiting.set()
        try:
            await asyncio.Event().wait()  # a pool with no connection to give
        except asyncio.CancelledError:
            return []  # the cancellation is lost: the caller never sees it
        return []


async def test_a_cancellation_lost_in_the_driver_does_not_hold_the_worker(tmp_path: Path) -> None:
    async with await open_storage(sqlite_url(tmp_path / "q.db")) as storage:
        queue = LosesCancellation(storage.queue)
        worker = Worker(queue, storage.repo, ArtifactStore.for_storage(None, tmp_path / "art"),
                        WorkerOptions(worker_id="w", once=True, idle_s=0.05))
        run = asyncio.ensure_future(worker.run())
        await queue.waiting.wait()
        done, _ = await asyncio.wait({run}, timeout=60)  # before the fix: never
        assert run in done and run.result() == 0


def test_sigterm_ends_a_worker_whose_database_hangs(backend_url: tuple[str, str], tmp_path: Path) -> None:
    backend, url = backend_url
    outcome = sigterm_while_hung(url, backend, tmp_path, margin_s=HARD_EXIT_MARGIN_S, grace_s=1.0, lease_s=4.0)
    assert outcome.blocked, "the worker was never seen waiting on its database"
    assert outcome.ok, f"{outcome}\n{(tmp_path / 'worker.log').read_text(errors='replace')}"
    assert "Traceback" not in (tmp_path / "worker.log").read_text(errors="replace")


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_exits_at_once(second: signal.Signals, sample_vod: SyntheticVod, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "q.db")
    spec = JobSpec(media=sample_vod.media_path, chat=sample_vod.chat_path,
                   render={"layouts": ["9:16"], "top": 2, "reel": True})
    asyncio.run(enqueue(url, spec))
    worker = start_worker(url, tmp_path / "art", tmp_path / "tmp", tmp_path / "worker.log", grace_s=600.0)
    try:
        busy = wait_for_child(worker.pid, lambda p: "ffmpeg" in p.text, 120.0,
                              lambda: worker.poll() is None)
        assert busy, (tmp_path / "worker.log").read_text(errors="replace")
        worker.send_signal(signal.SIGTERM)  # the job may run on for --grace 600 s …
        assert wait_for_line(tmp_path / "worker.log", "SIGTERM received", worker), "the first SIGTERM was not seen"
        worker.send_signal(second)  # … unless asked again: then the process leaves at once
        assert worker.wait(timeout=SECOND_SIGNAL_EXIT_S + 10.0) is not None
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "received again" in log or "aborting the running job and exiting now" in log, log
    assert "Traceback" not in log


def wait_for_line(log: Path, text: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> bool:
    """Poll ``log`` until it holds ``text`` (a signal must be handled before the next one is sent:
    two identical signals sent back to back are merged into one by the kernel)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if text in log.read_text(errors="replace"):
            return True
        time.sleep(0.02)
    return text in log.read_text(errors="replace")


def test_the_watchdog_ends_a_process_whose_stop_overruns() -> None:
    code = ("import time\nfrom highlights.hard_exit import HardExit\nHardExit().arm(0.2, 'stuck')\n"
            "time.sleep(120)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "stuck; exiting now" in proc.stderr

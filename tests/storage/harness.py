"""Helpers of the storage contract suite: short timeouts, the ``Backend`` handle, worker processes, polling.

Imported by ``conftest.py`` and the test modules as ``tests.storage.harness``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

from storage import Storage, open_storage
from storage.queue.timeouts import KindTimeouts
from storage.records import JobKind

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]

LEASE_S = 1.0
"""Short leases so lease expiry and recovery happen within a test."""

FAST: dict[JobKind, KindTimeouts] = {
    kind: KindTimeouts(lease_s=LEASE_S, heartbeat_s=LEASE_S / 5, max_runtime_s=600.0, max_attempts=3,
                       backoff_base_s=0.2, backoff_max_s=1.0)
    for kind in JobKind
}


class Backend:
    """One fresh database; ``connect()`` opens another ``Storage`` on it."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self._opened: list[Storage] = []

    async def connect(self, *, timeouts: Mapping[JobKind, KindTimeouts] | None = None) -> Storage:
        storage = await open_storage(self.url, timeouts=FAST if timeouts is None else timeouts)
        self._opened.append(storage)
        return storage

    async def aclose(self) -> None:
        for storage in reversed(self._opened):
            await storage.close()
        self._opened.clear()


class Workers:
    """Starts ``tests.storage.worker_proc`` processes and kills any still running at the end."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, mode: str, url: str, *args: object, lease_s: float = LEASE_S,
                    capture: bool = False) -> asyncio.subprocess.Process:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.storage.worker_proc", mode, url, str(lease_s), *map(str, args),
            cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.PIPE if capture else None)
        self.procs.append(proc)
        return proc

    async def stop_all(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()


async def eventually(probe: Callable[[], Awaitable[T]], *, what: str, timeout_s: float = 15.0) -> T:
    """Poll ``probe`` until it returns something truthy, or fail after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)

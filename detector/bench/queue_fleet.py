"""Queue benchmark (``highlights bench queue``): the worker processes and what they report.

Consumes a storage URL and the bench's lease and poll interval; starts ``detector.bench.queue_worker``
processes (fresh interpreters, never forked), reads their event lines as they come and keeps them as
``Claim`` and ``Completion`` records; ``until`` waits for a condition on those records, failing fast
when a worker process dies that was not killed on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from detector.errors import DetectorError

log = logging.getLogger(__name__)

_PACKAGES_DIR = Path(__file__).resolve().parents[2]
"""The folder holding the ``detector`` package: the children import it from there, as this process did."""
STOP_TIMEOUT_S = 20.0
"""A worker gets this long to exit after its stdin closes before it is killed."""


class QueueBenchError(DetectorError):
    """The queue benchmark could not finish (a worker died, or jobs stopped moving)."""

    code = "queue_bench"


@dataclass(frozen=True, slots=True)
class Claim:
    worker: str
    job_id: int
    attempt: int
    at: float
    """Unix time (s) the worker's claim returned."""


@dataclass(frozen=True, slots=True)
class Completion:
    worker: str
    job_id: int
    at: float


class Fleet:
    """Bench worker processes on one database (see the module docstring)."""

    def __init__(self, url: str, lease_s: float | None, idle_s: float) -> None:
        self.url, self.lease_s, self.idle_s = url, lease_s, idle_s
        self.claims: list[Claim] = []
        self.completions: list[Completion] = []
        self.completed_ids: set[int] = set()
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._ready: set[str] = set()
        self._killed: set[str] = set()
        self._died: list[str] = []
        self._changed = asyncio.Event()

    async def start(self, count: int, *, timeout_s: float = 60.0) -> None:
        """Start ``count`` workers and wait until each is connected and waiting for ``go``."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGES_DIR), env.get("PYTHONPATH", "")) if p)
        lease = "default" if self.lease_s is None else repr(self.lease_s)
        for _ in range(count):
            name = f"w{len(self._procs) + 1}"
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "detector.bench.queue_worker", self.url, lease, repr(self.idle_s), name,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env)
            self._procs[name] = proc
            self._readers.append(asyncio.create_task(self._read(name, proc)))
        names = set(self._procs)
        await self.until(lambda: names <= self._ready, timeout_s=timeout_s, what=f"{count} worker(s) to start")

    def go(self) -> None:
        """Let every started worker begin claiming."""
        for proc in self._procs.values():
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")

    @property
    def alive(self) -> list[str]:
        return [n for n, p in self._procs.items() if p.returncode is None and n not in self._killed]

    def kill(self, name: str) -> None:
        """SIGKILL worker ``name`` (it gets no chance to release anything)."""
        self._killed.add(name)
        with contextlib.suppress(ProcessLookupError):
            self._procs[name].send_signal(signal.SIGKILL)

    def claims_of(self, job_id: int) -> list[Claim]:
        return [c for c in self.claims if c.job_id == job_id]

    async def until(self, ready: Callable[[], bool], *, timeout_s: float, what: str) -> None:
        """Wait until ``ready()`` holds; ``QueueBenchError`` after ``timeout_s`` or when a worker dies."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not ready():
            if self._died:
                raise QueueBenchError(f"bench worker {self._died[0]} exited on its own while waiting for {what}; "
                                      "its error is above.")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise QueueBenchError(f"gave up after {timeout_s:.0f} s waiting for {what}.")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def close(self) -> None:
        """Close every worker's stdin (they stop claiming and exit); kill those that do not exit in time."""
        for proc in self._procs.values():
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
        for name, proc in self._procs.items():
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("bench worker %s did not stop within %.0f s; killing it", name, STOP_TIMEOUT_S)
                self.kill(name)
                await proc.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)

    async def _read(self, name: str, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            self._record(name, raw.decode(errors="replace").split())
            self._changed.set()
        code = await proc.wait()
        if name not in self._killed and (code != 0 or name not in self._ready):
            self._died.append(f"{name} (exit status {code})")
        self._changed.set()

    def _record(self, name: str, words: list[str]) -> None:
        if words[:1] == ["ready"]:
            self._ready.add(name)
        elif words[:1] == ["claimed"] and len(words) == 4:
            self.claims.append(Claim(name, int(words[1]), int(words[2]), float(words[3])))
        elif words[:1] == ["completed"] and len(words) == 3:
            self.completions.append(Completion(name, int(words[1]), float(words[2])))
            self.completed_ids.add(int(words[1]))
        elif words:
            log.debug("bench worker %s said %s", name, " ".join(words))

"""Chaos bench: SIGTERM a worker while its database hangs, and time how long it takes to exit.

Consumes a storage URL and the worker's ``--grace``; produces a ``StallOutcome``: how many seconds
after SIGTERM the worker exited (None: it had to be killed), its exit status, and the limit it must
keep (``--grace`` + the worker's hard-exit margin, given by the caller). The database is made to hang
while the worker waits on it: on PostgreSQL the worker talks through ``StallProxy``, a TCP relay
that stops relaying (connections stay open, bytes are held) so every query, the stalled-job
recovery's included, waits for an answer that never comes — the case where psycopg_pool lost the
cancellation and SIGTERM was ignored; on SQLite another connection holds an exclusive lock, so every
statement waits out the busy timeout.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from detector.bench.chaos_procs import start_worker, stop

READY_LINE = b"claiming "
"""What a worker logs (at INFO) once its storage is open and its loop is about to start."""


@dataclass(frozen=True, slots=True)
class StallOutcome:
    backend: str
    grace_s: float
    limit_s: float
    exit_s: float | None
    code: int | None
    blocked: bool
    """Whether the worker was seen waiting on the hung database when SIGTERM was sent."""

    @property
    def ok(self) -> bool:
        return self.exit_s is not None and self.exit_s <= self.limit_s


class StallProxy:
    """A TCP relay to ``target`` that can stop relaying (``freeze``) while keeping every connection open."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._flowing = threading.Event()
        self._flowing.set()
        self.blocked = threading.Event()
        """Set when a client sent bytes while frozen (it now waits for the database)."""
        self._server = socket.create_server(("127.0.0.1", 0))
        self._socks: list[socket.socket] = [self._server]
        self._closed = False
        threading.Thread(target=self._accept, name="stall-proxy", daemon=True).start()

    @property
    def port(self) -> int:
        return int(self._server.getsockname()[1])

    def freeze(self) -> None:
        self.blocked.clear()
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self._flowing.set()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                return
            self._socks += [client, upstream]
            for src, dst, from_client in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, from_client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not self._flowing.is_set():
                    if from_client:
                        self.blocked.set()
                    self._flowing.wait()
                if self._closed:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def via_proxy(url: str, port: int) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    netloc = (user + "@" if user else "") + f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _wait_ready(log_file: Path, proc_alive: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log_file.exists() and READY_LINE in log_file.read_bytes():
            return True
        if not proc_alive():
            return False
        time.sleep(0.05)
    return False


def sigterm_while_hung(url: str, backend: str, work: Path, *, margin_s: float, grace_s: float = 2.0,
                       lease_s: float = 4.0) -> StallOutcome:
    """One scenario (see the module docstring); ``url`` is a fresh database of ``backend``; ``margin_s``
    is how long past ``--grace`` a worker may take to stop (``highlights.cmd_worker.HARD_EXIT_MARGIN_S``)."""
    limit = grace_s + margin_s + 2.0  # + the process's own exit
    work.mkdir(parents=True, exist_ok=True)
    proxy = None
    lock: sqlite3.Connection | None = None
    if backend == "postgres":
        parts = urlsplit(url)
        proxy = StallProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
        url = via_proxy(url, proxy.port)
    log_file = work / "worker.log"
    worker = start_worker(url, work / "artifacts", work / "tmp", log_file, lease_s=lease_s, grace_s=grace_s)
    blocked = False
    try:
        if not _wait_ready(log_file, lambda: worker.poll() is None, 120.0):
            return StallOutcome(backend, grace_s, limit, None, worker.poll(), False)
        if proxy is not None:
            proxy.freeze()
            blocked = proxy.blocked.wait(timeout=30.0)  # the worker's next query (recovery, claim) now hangs
        else:
            from storage.url import parse_storage_url

            lock = sqlite3.connect(str(parse_storage_url(url).sqlite_path), timeout=30, isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
            blocked = True  # its next claim (every poll interval) waits out the busy timeout
        code, took = stop(worker, limit + 30.0)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if proxy is not None:
            proxy.close()
        if lock is not None:
            lock.execute("ROLLBACK")
            lock.close()
    return StallOutcome(backend, grace_s, limit, took if code is not None else None, code, blocked)

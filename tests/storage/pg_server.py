"""A real PostgreSQL server for the storage tests: one per test session, one fresh database per test.

Consumes the PostgreSQL 15+ binaries on this machine (``HIGHLIGHTS_PG_BIN``, ``pg_config --bindir``,
``PATH``, or ``/usr/lib/postgresql/*/bin``); produces ``postgresql://`` URLs.

- ``pg_url()`` starts the session's server on first use (``initdb`` in a temporary directory owned by
  user ``postgres`` when running as root, ``pg_ctl start`` on 127.0.0.1 and a free port, unix sockets
  in the temporary directory) and returns the URL of its ``postgres`` database.
- ``fresh_database_url()`` creates an empty database on that server and returns its URL.
- When ``HIGHLIGHTS_TEST_PG_URL`` is set (CI starts a server itself with ``scripts/pg.sh``), that
  server is used instead and nothing is started; the databases created on it are dropped at the end.
- Missing binaries skip the test with the reason; a server that fails to start fails it with the log.

The ``pg_server`` session fixture stops the server (and deletes its directory) at session end.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV_URL = "HIGHLIGHTS_TEST_PG_URL"
ENV_BIN = "HIGHLIGHTS_PG_BIN"
MIN_MAJOR = 15
DIR_PREFIX = "highlights-pg-"
OWNER_FILE = "owner.pid"
SERVER_SETTINGS = (
    # Throwaway test data: durability buys nothing and costs seconds.
    "fsync=off", "synchronous_commit=off", "full_page_writes=off",
    "max_connections=300", "log_min_messages=warning",
)


def find_bindir() -> Path | None:
    """The directory holding ``initdb``/``pg_ctl`` of PostgreSQL >= 15, or None."""
    candidates: list[Path] = []
    if os.environ.get(ENV_BIN):
        candidates.append(Path(os.environ[ENV_BIN]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            candidates.append(Path(out.stdout.strip()))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)

    def major(path: str) -> int:
        with contextlib.suppress(ValueError):
            return int(Path(path).parent.name)
        return 0

    versioned = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True)
    candidates += [Path(p) for p in versioned if major(p) >= MIN_MAJOR]
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    """``initdb`` and ``postgres`` refuse to run as root: run them as ``postgres`` then."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _stop_and_remove(bindir: Path, root: Path) -> None:
    if (root / "data" / "postmaster.pid").exists():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate",
                                            "-w", "stop"]), capture_output=True, timeout=60)
    shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(bindir: Path) -> None:
    """Stop servers left behind by test sessions that were killed before they could stop them."""
    for root in Path(tempfile.gettempdir()).glob(DIR_PREFIX + "*"):
        try:
            owner = int((root / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue  # not ours, or still being created
        if owner != os.getpid() and not _alive(owner):
            _stop_and_remove(bindir, root)


class LocalServer:
    """A throwaway server in a temporary directory (owned by ``postgres`` when we are root)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Not under pytest's tmp dirs: those are 0700 root-only and ``postgres`` could not enter them.
        self.root = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self.port = 0

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres", group="postgres")
        self.root.chmod(0o700)
        self._run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                   "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"], timeout=120)
        last_error = ""
        for _ in range(5):  # a free port can be taken between choosing and binding it: try another
            self.port = _free_port()
            options = " ".join(
                ["-h 127.0.0.1", f"-p {self.port}", f"-k {self.root}"] + [f"-c {s}" for s in SERVER_SETTINGS])
            result = subprocess.run(
                _as_server_user([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile),
                                 "-o", options, "-w", "-t", "60", "start"]),
                capture_output=True, text=True, timeout=90)
            if result.returncode == 0:
                return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
            last_error = result.stdout + result.stderr + self._log_tail()
        raise RuntimeError(f"PostgreSQL did not start in {self.root}:\n{last_error}")

    def stop(self) -> None:
        _stop_and_remove(self.bindir, self.root)

    def _run(self, argv: list[str], timeout: float) -> None:
        result = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed ({result.returncode}):\n"
                               f"{result.stdout}{result.stderr}")

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.logfile.read_text(errors="replace")[-4000:]
        return ""


class _Session:
    """The state of this test session: which server, which databases were made on it."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.local: LocalServer | None = None
        self.failure: str | None = None
        self.skip: str | None = None
        self.created: list[str] = []
        self.counter = itertools.count(1)

    def ensure(self) -> str:
        if self.url is not None:
            return self.url
        if self.skip is not None:
            pytest.skip(self.skip)
        if self.failure is not None:
            pytest.fail(self.failure, pytrace=False)
        external = os.environ.get(ENV_URL)
        if external:
            self.url = external
            return self.url
        bindir = find_bindir()
        if bindir is None:
            self.skip = (f"PostgreSQL >= {MIN_MAJOR} binaries (initdb, pg_ctl) not found: install them, set "
                         f"{ENV_BIN} to their directory, or set {ENV_URL} to a running server")
            pytest.skip(self.skip)
        reap_orphans(bindir)
        server = LocalServer(bindir)
        try:
            self.url = server.start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            server.stop()
            self.failure = f"could not start a test PostgreSQL server: {exc}"
            pytest.fail(self.failure, pytrace=False)
        self.local = server
        atexit.register(self.stop)
        return self.url

    def stop(self) -> None:
        if self.local is not None:
            self.local.stop()
            self.local = None
        elif self.url is not None and self.created:
            self._drop_created()
        self.url = None
        self.created.clear()

    def _drop_created(self) -> None:
        import psycopg

        with contextlib.suppress(psycopg.Error), psycopg.connect(self.url or "", autocommit=True) as conn:
            for name in self.created:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_session = _Session()


def pg_url() -> str:
    """URL of the session's server (its ``postgres`` maintenance database); starts it on first use."""
    return _session.ensure()


def with_database(url: str, dbname: str) -> str:
    """``url`` pointing at database ``dbname`` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def fresh_database_url(template: str | None = None) -> str:
    """Create an empty database (or a copy of database ``template``) and return its URL."""
    import psycopg

    base = pg_url()
    name = f"hl_test_{os.getpid()}_{next(_session.counter)}"
    with psycopg.connect(base, autocommit=True) as conn:
        source = f' TEMPLATE "{template}"' if template else " TEMPLATE template0"
        conn.execute(f'CREATE DATABASE "{name}"{source}')  # identifiers built here, never from input
    _session.created.append(name)
    return with_database(base, name)


def stop_server() -> None:
    """Stop the session's server (or drop the databases made on an external one)."""
    _session.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The session's server URL; stopped at session end."""
    yield pg_url()
    stop_server()


@pytest.fixture
def pg_database_url(pg_server: str) -> str:
    """A fresh, empty database for one test."""
    return fresh_database_url()

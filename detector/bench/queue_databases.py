"""Queue benchmark (``highlights bench queue``): the throwaway databases each backend is measured on.

Consumes the user's choices (``--backend``, ``--storage``, ``HIGHLIGHTS_BENCH_PG_URL``); produces, per
backend, either a ``BenchTarget`` (a context manager yielding the storage URL of a fresh, empty
database that is removed afterwards) or the reason the backend is skipped. The bench never writes to
a database that holds anyone's jobs: on SQLite it makes a new file, on PostgreSQL a scratch database
on the server the URL names (``CREATE DATABASE``, dropped at the end).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from detector.errors import ConfigError
from storage.url import parse_storage_url, redact, sqlite_url

log = logging.getLogger(__name__)

ENV_PG_URL = "HIGHLIGHTS_BENCH_PG_URL"
BACKENDS = ("sqlite", "postgres")
HOW_TO_GIVE_PG = (f"pass --storage postgresql://USER@HOST:PORT/DB or set {ENV_PG_URL}; the bench makes a "
                  "scratch database on that server (the role needs CREATEDB) and drops it afterwards")


@dataclass(frozen=True, slots=True)
class BenchTarget:
    backend: str
    """``sqlite`` or ``postgres``."""
    where: str
    """What to show: the SQLite file, or the PostgreSQL server URL (password redacted)."""
    open: Callable[[], AbstractAsyncContextManager[str]]
    """Creates the empty database, yields its storage URL, removes it on exit."""


@dataclass(frozen=True, slots=True)
class Skipped:
    backend: str
    reason: str


def choose_targets(backend: str, storage: str | None,
                   env: dict[str, str] | None = None) -> list[BenchTarget | Skipped]:
    """One entry per backend asked for (``sqlite``, ``postgres`` or ``both``), in that order.

    ``storage`` may be a ``postgresql://`` URL (the server to use) or a ``sqlite:///`` URL (where the
    SQLite file goes; it must not exist yet). A backend asked for by name that cannot run is a
    ``ConfigError``; with ``both`` a PostgreSQL column without a server is ``Skipped``.
    """
    if backend not in (*BACKENDS, "both"):
        raise ConfigError(f"--backend {backend!r} is not one of sqlite, postgres, both.")
    environ = os.environ if env is None else env
    parsed = parse_storage_url(storage) if storage else None
    sqlite_file = parsed.sqlite_path if parsed is not None and parsed.backend == "sqlite" else None
    if parsed is not None and parsed.backend == "sqlite" and sqlite_file is None:
        raise ConfigError("--storage sqlite:///:memory: cannot be shared by worker processes.",
                          hint="Name a file that does not exist yet, or leave --storage out.")
    if sqlite_file is not None and sqlite_file.exists():
        raise ConfigError(f"--storage: {sqlite_file} already exists; the bench only writes to a new file.",
                          hint="Name a file that does not exist yet (it is deleted afterwards).")
    pg_url = parsed.url if parsed is not None and parsed.backend == "postgres" else environ.get(ENV_PG_URL) or None
    if pg_url is not None:
        parse_storage_url(pg_url)  # a malformed env var fails here with the valid forms
    wanted = BACKENDS if backend == "both" else (backend,)
    if parsed is not None and parsed.backend not in wanted:
        raise ConfigError(f"--storage names a {parsed.backend} database but --backend is {backend}.")
    targets: list[BenchTarget | Skipped] = []
    for name in wanted:
        if name == "sqlite":
            targets.append(BenchTarget("sqlite", str(sqlite_file) if sqlite_file else "a new file in a temp folder",
                                       partial(_sqlite_database, sqlite_file)))
        elif pg_url is None:
            if backend == "postgres":
                raise ConfigError("highlights bench queue --backend postgres needs a PostgreSQL server.",
                                  hint=HOW_TO_GIVE_PG[0].upper() + HOW_TO_GIVE_PG[1:] + ".")
            targets.append(Skipped("postgres", f"no PostgreSQL server given: {HOW_TO_GIVE_PG}"))
        else:
            targets.append(BenchTarget("postgres", f"a scratch database on {redact(pg_url)}",
                                       partial(_postgres_database, pg_url)))
    return targets


@asynccontextmanager
async def _sqlite_database(path: Path | None) -> AsyncIterator[str]:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            yield sqlite_url(path.absolute())
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(OSError):
                    path.with_name(path.name + suffix).unlink()
        return
    folder = Path(tempfile.mkdtemp(prefix="highlights-queue-bench-"))
    try:
        yield sqlite_url(folder / "queue-bench.db")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@asynccontextmanager
async def _postgres_database(server_url: str) -> AsyncIterator[str]:
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigError(f"the PostgreSQL column needs psycopg ({exc}).",
                          hint="Install it with pip install '.[postgres]', or use --backend sqlite.") from exc
    name = f"highlights_bench_{os.getpid()}_{secrets.token_hex(4)}"  # built here, never from input
    try:
        async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as conn:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    except psycopg.Error as exc:
        raise ConfigError(f"could not create a scratch database on {redact(server_url)}: {exc}".strip(),
                          hint=f"The bench needs a reachable server and a role with CREATEDB: {HOW_TO_GIVE_PG}."
                          ) from exc
    try:
        yield _with_database(server_url, name)
    finally:
        try:
            async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as conn:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error as exc:
            log.warning("could not drop the scratch database %s: %s", name, exc)

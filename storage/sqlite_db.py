"""One SQLite connection shared by the SQLite queue and repository of a ``Storage``.

Consumes a database path; produces a connection set up for several processes at once (WAL, a busy
timeout, foreign keys on) with two ways in: ``read()`` for single statements in autocommit mode, and
``write()`` for a ``BEGIN IMMEDIATE`` transaction, which takes the write lock at its start so a
read-modify-write never fails half-way with "database is locked". Calls on one connection are
serialised by an asyncio lock (aiosqlite runs them on one thread anyway). It is also the SQLite
``MigrationTarget``. SQLite errors other than constraint violations leave as ``StorageError``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from storage.errors import MigrationError, StorageError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 10.0
"""How long a statement waits for another process's write lock before giving up."""

Params = Sequence[Any] | dict[str, Any]


def split_statements(script: str) -> list[str]:
    """The statements of an SQL script, each complete (triggers' inner ``;`` handled by SQLite)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    leftover = "\n".join(ln for ln in pending.splitlines() if ln.strip() and not ln.strip().startswith("--"))
    if leftover.strip():
        statements.append(leftover.strip())  # no trailing ';' on the last statement
    return statements


class SqliteDatabase:
    """An open SQLite database (see the module docstring)."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: Path | None) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, path: Path | None, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> SqliteDatabase:
        """Open (creating if needed) the database at ``path``; ``None`` opens a private in-memory one."""
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the folder for the SQLite database {path}: {exc}") from exc
        target = ":memory:" if path is None else str(path)
        try:
            conn = await aiosqlite.connect(target, isolation_level=None, timeout=busy_timeout_s)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the SQLite database {target}: {exc}") from exc
        db = cls(conn, path)
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            mode = await _switch_to_wal(conn, busy_timeout_s)
            if path is not None and mode != "wal":
                log.warning("SQLite database %s could not switch to WAL (journal_mode=%s); "
                            "readers may wait for writers", path, mode)
            await conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            await db.close()
            raise StorageError(f"cannot set up the SQLite database {target}: {exc} "
                               f"(is it a SQLite file, and is its folder writable?)") from exc
        return db

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            await self._conn.close()

    # -- reads (autocommit) ---------------------------------------------------------------------------
    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self._guard():
            async with self._conn.execute(sql, params) as cur:
                return await cur.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._guard():
            async with self._conn.execute(sql, params) as cur:
                return list(await cur.fetchall())

    # -- writes (BEGIN IMMEDIATE) ---------------------------------------------------------------------
    @asynccontextmanager
    async def write(self) -> AsyncIterator[Transaction]:
        """A ``BEGIN IMMEDIATE`` transaction: committed when the block ends, rolled back if it raises."""
        async with self._guard():
            try:
                # Inside the try: if the caller is cancelled while BEGIN waits for the lock, the rollback
                # queued behind it on aiosqlite's thread undoes it, so no transaction is left open.
                await self._conn.execute("BEGIN IMMEDIATE")
                yield Transaction(self._conn)
                await self._conn.commit()
            except BaseException:
                await self._conn.rollback()
                raise

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        if self._closed:
            raise StorageError("the SQLite storage was used after close()")
        async with self._lock:
            try:
                yield
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise StorageError(f"SQLite error on {self.path or ':memory:'}: {exc}") from exc

    # -- MigrationTarget ------------------------------------------------------------------------------
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.write() as tx:
            yield tx


class Transaction:
    """Statements inside one open ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        async with self._conn.execute(sql, params) as cur:
            return cur.rowcount

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT; return the new row's id."""
        async with self._conn.execute(sql, params) as cur:
            rowid = cur.lastrowid
        if rowid is None:
            raise StorageError("SQLite returned no id for an insert")
        return int(rowid)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self._conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    # -- MigrationTransaction -------------------------------------------------------------------------
    async def execute_script(self, sql: str) -> None:
        for statement in split_statements(sql):
            try:
                await self._conn.execute(statement)
            except sqlite3.Error as exc:
                first_line = statement.splitlines()[0] if statement else ""
                raise MigrationError(f"{exc} in statement starting {first_line!r}") from exc

    async def current_version(self) -> int:
        row = await self.fetchone("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(row[0]) if row else 0


async def _switch_to_wal(conn: aiosqlite.Connection, busy_timeout_s: float) -> str:
    """``PRAGMA journal_mode = WAL``, retried while another connection holds the lock.

    Changing the journal mode of a new database needs an exclusive lock and SQLite answers
    "database is locked" at once instead of waiting in the busy handler, so several processes
    starting together (a worker and the bot on a fresh file) retry here for up to the busy timeout."""
    deadline = time.monotonic() + busy_timeout_s
    delay = 0.01
    while True:
        try:
            async with conn.execute("PRAGMA journal_mode = WAL") as cur:
                row = await cur.fetchone()
            return str(row[0]).lower() if row else "?"
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

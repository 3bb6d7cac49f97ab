"""One PostgreSQL connection pool shared by the PostgreSQL queue and repository of a ``Storage``.

Consumes a ``postgresql://`` DSN; produces a pool of autocommit connections (UTC session time zone)
with two ways in: ``fetchone``/``fetchall`` for single statements, and ``write()`` for a transaction
(committed when the block ends, rolled back if it raises). It is also the PostgreSQL
``MigrationTarget``: ``transaction()`` holds an advisory lock so two processes never migrate at once,
and a migration line ``\\i procrastinate`` brings in the installed procrastinate package's schema.
Driver errors other than unique violations leave as ``StorageError`` naming the (redacted) server.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from storage.clock import to_text, utcnow
from storage.errors import MigrationError, StorageError
from storage.url import redact

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
"""How long ``open`` waits for the server before giving up with a ``StorageError``."""
MIGRATION_LOCK_KEY = 0x68_6C_6D_69_67  # "hlmig": one advisory lock id for every migrator of this schema
PROCRASTINATE_INCLUDE = re.compile(r"^\\i\s+procrastinate\s*$", re.MULTILINE)
_PROCRASTINATE_MIGRATION = re.compile(r"^(\d+)\.(\d+)\.(\d+)_(\d+)_.*\.sql$")

Params = Sequence[Any] | dict[str, Any]
Row = dict[str, Any]


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute("SET TIME ZONE 'UTC'")


class PgDatabase:
    """An open PostgreSQL database (see the module docstring)."""

    dialect = "postgres"

    def __init__(self, pool: psycopg_pool.AsyncConnectionPool, dsn: str) -> None:
        self.pool = pool
        self.dsn = dsn
        self._closed = False

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> PgDatabase:
        try:  # one direct connection first: a wrong host, port, password or database fails now, with its reason
            probe = await psycopg.AsyncConnection.connect(dsn, connect_timeout=int(CONNECT_TIMEOUT_S))
            await probe.close()
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {redact(dsn)}: {str(exc).strip()}; check that the "
                               f"server runs and the URL's host, port, user, password and database are right") from exc
        pool = psycopg_pool.AsyncConnectionPool(
            dsn, min_size=min_size, max_size=max_size, open=False, configure=_configure,
            kwargs={"autocommit": True}, check=psycopg_pool.AsyncConnectionPool.check_connection,
            name="highlights")
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            await pool.close()
            raise StorageError(f"cannot connect to PostgreSQL at {redact(dsn)} within {CONNECT_TIMEOUT_S:.0f} s: "
                               f"{exc}; check that the server runs and the URL's host, port, user and "
                               f"database are right") from exc
        return cls(pool, dsn)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled autocommit connection (translate errors with ``errors()`` around its use)."""
        if self._closed:
            raise StorageError("the PostgreSQL storage was used after close()")
        async with self.errors(), self.pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def errors(self) -> AsyncIterator[None]:
        try:
            yield
        except psycopg.errors.IntegrityError:  # unique / foreign-key violations: the caller decides
            raise
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise StorageError(f"PostgreSQL error on {redact(self.dsn)}: {exc}") from exc

    # -- reads (autocommit) ---------------------------------------------------------------------------
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchall()

    # -- writes ---------------------------------------------------------------------------------------
    @asynccontextmanager
    async def write(self) -> AsyncIterator[PgTransaction]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        async with self.connection() as conn, conn.transaction():
            yield PgTransaction(conn)

    # -- MigrationTarget ------------------------------------------------------------------------------
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTransaction]:
        async with self.write() as tx:
            await tx.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            yield tx

    async def sync_procrastinate(self) -> list[str]:
        """Apply procrastinate's own migration files newer than the version recorded in this database
        (after a procrastinate upgrade); return their names. No-op before our migration 0003 ran."""
        async with self.transaction() as tx:
            if not await tx.has_table("procrastinate_schema_version"):
                return []
            return await tx.upgrade_procrastinate()


class PgTransaction:
    """Statements inside one open transaction (and the runner's ``MigrationTransaction``)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        async with self.conn.cursor() as cur:
            await cur.execute(sql, params)
            return cur.rowcount

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchall()

    async def has_table(self, name: str) -> bool:
        row = await self.fetchone("SELECT to_regclass(%s) IS NOT NULL AS present", (name,))
        return bool(row and row["present"])

    # -- MigrationTransaction -------------------------------------------------------------------------
    async def execute_script(self, sql: str) -> None:
        """Run a script (no parameters: ``%`` is literal); ``\\i procrastinate`` lines include its schema."""
        pieces = PROCRASTINATE_INCLUDE.split(sql)
        for index, piece in enumerate(pieces):
            if index > 0:
                await self.install_procrastinate()
            if piece.strip():
                await self._run_script(piece)

    async def current_version(self) -> int:
        row = await self.fetchone("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        return int(row["v"]) if row else 0

    async def _run_script(self, script: str, what: str = "migration") -> None:
        try:
            await self.conn.execute(script.encode("utf-8"))  # bytes: psycopg parses no placeholders
        except psycopg.Error as exc:
            raise MigrationError(f"{what} failed: {exc}") from exc

    # -- procrastinate's schema, versioned with ours ---------------------------------------------------
    async def install_procrastinate(self) -> None:
        """Create procrastinate's tables and functions as the installed package ships them."""
        import procrastinate
        from procrastinate.schema import SchemaManager

        if await self.has_table("procrastinate_jobs"):
            raise MigrationError("procrastinate's tables already exist in this database but our schema does not "
                                 "record them; use a database of its own for the highlights storage")
        await self._run_script(SchemaManager.get_schema(), "procrastinate schema")
        await self.execute("CREATE TABLE procrastinate_schema_version (version TEXT NOT NULL, applied_at TEXT "
                           "NOT NULL)")
        await self.execute("INSERT INTO procrastinate_schema_version VALUES (%s, %s)",
                           (procrastinate.__version__, to_text(utcnow())))
        log.info("installed procrastinate %s schema", procrastinate.__version__)

    async def upgrade_procrastinate(self) -> list[str]:
        import procrastinate
        from procrastinate.schema import SchemaManager

        row = await self.fetchone("SELECT version FROM procrastinate_schema_version")
        recorded = str(row["version"]) if row else "0"
        if version_tuple(procrastinate.__version__) <= version_tuple(recorded):
            return []
        folder = Path(SchemaManager.get_migrations_path())
        applied = pending_procrastinate_migrations(recorded, procrastinate.__version__,
                                                   [p.name for p in folder.glob("*.sql")])
        for name in applied:
            await self._run_script((folder / name).read_text(encoding="utf-8"), f"procrastinate migration {name}")
        await self.execute("UPDATE procrastinate_schema_version SET version = %s, applied_at = %s",
                           (procrastinate.__version__, to_text(utcnow())))
        log.info("upgraded procrastinate schema to %s (%s)", procrastinate.__version__, applied)
        return applied


def version_tuple(text: str) -> tuple[int, int, int]:
    """``"3.10.0"`` → ``(3, 10, 0)`` (missing parts are 0)."""
    numbers = [int(n) for n in re.findall(r"\d+", text)[:3]]
    while len(numbers) < 3:
        numbers.append(0)
    return numbers[0], numbers[1], numbers[2]


def pending_procrastinate_migrations(recorded: str, installed: str, names: Sequence[str]) -> list[str]:
    """procrastinate's migration files (``03.04.00_01_name.sql``) after ``recorded`` up to ``installed``,
    in the order procrastinate applies them."""
    low, high = version_tuple(recorded), version_tuple(installed)
    chosen: list[tuple[tuple[int, int, int, int], str]] = []
    for name in names:
        match = _PROCRASTINATE_MIGRATION.match(name)
        if match is None:
            continue
        version = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
        if low < version <= high:
            chosen.append(((*version, int(match.group(4))), name))
    return [name for _, name in sorted(chosen)]

"""``open_storage(url)``: the one place that turns a storage URL into a connected queue and repository.

Consumes a ``sqlite:///…`` or ``postgresql://…`` URL (``storage.url``); migrates the schema to the
code's version; produces a ``Storage`` with ``.queue`` (``JobQueue``) and ``.repo`` (``Repository``).
The PostgreSQL adapters are imported only when a PostgreSQL URL is used, so the SQLite path needs
neither psycopg nor procrastinate.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING

from storage.bounded import bounded
from storage.errors import StorageError
from storage.migrations.migrate import MigrationTarget, migrate
from storage.queue.timeouts import KindTimeouts, with_overrides
from storage.records import JobKind
from storage.url import StorageUrl, parse_storage_url

if TYPE_CHECKING:
    from storage.queue.port import JobQueue
    from storage.repo.port import Repository

log = logging.getLogger(__name__)

Timeouts = Mapping[JobKind, KindTimeouts]
CLOSE_TIMEOUT_S = 3.0
"""How long ``Storage.close`` may take (s; each later step still gets half a second): a pool whose
cancellation was lost waits no longer."""


@dataclass(eq=False)
class Storage:
    """A connected queue and repository on one database; ``close()`` (or ``async with``) releases both."""

    queue: JobQueue
    repo: Repository
    url: StorageUrl
    timeouts: Timeouts = field(default_factory=lambda: with_overrides(None))
    """The timeouts table the queue was opened with; workers heartbeat by the same numbers."""
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)

    async def close(self) -> None:
        """Close the queue, the repository and the database, all within about ``CLOSE_TIMEOUT_S`` (a step
        that hangs or fails is logged and skipped, so the next one still runs and the caller returns)."""
        closers, self._closers = self._closers, []
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        for close in closers:
            try:
                await bounded(close(), max(deadline - time.monotonic(), 0.5),
                              what=f"closing the {self.url.backend} storage")
            except Exception as exc:  # noqa: BLE001 - closing goes on; the process is leaving anyway
                log.warning("closing the %s storage: %s", self.url.backend, exc)

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


async def open_storage(url: str, *, timeouts: Timeouts | None = None, migrate_schema: bool = True) -> Storage:
    """Connect to the database named by ``url`` and migrate it to the latest schema.

    ``timeouts`` replaces the queue timeouts of some kinds (``storage.queue.timeouts.TIMEOUTS`` for
    the rest). Raises ``StorageUrlError`` for a bad URL and ``MigrationError`` for a database newer
    than this code.
    """
    parsed = parse_storage_url(url)
    table = with_overrides(timeouts)
    if parsed.backend == "sqlite":
        return await _open_sqlite(parsed, table, migrate_schema)
    return await _open_postgres(parsed, table, migrate_schema)


@asynccontextmanager
async def migration_target(url: str) -> AsyncIterator[MigrationTarget]:
    """The backend's ``MigrationTarget`` for ``url`` (for tools and tests that migrate step by step)."""
    parsed = parse_storage_url(url)
    if parsed.backend == "sqlite":
        from storage.sqlite_db import SqliteDatabase

        db = await SqliteDatabase.open(parsed.sqlite_path)
        try:
            yield db
        finally:
            await db.close()
    else:
        pg_db = _postgres_module("storage.pg_db")
        pg = await pg_db.PgDatabase.open(parsed.dsn)
        try:
            yield pg
        finally:
            await pg.close()


async def _open_sqlite(parsed: StorageUrl, table: dict[JobKind, KindTimeouts], migrate_schema: bool) -> Storage:
    from storage.queue.sqlite import SqliteJobQueue
    from storage.repo.sqlite import SqliteRepository
    from storage.sqlite_db import SqliteDatabase

    db = await SqliteDatabase.open(parsed.sqlite_path)
    try:
        if migrate_schema:
            await migrate(db)
    except BaseException:
        await db.close()
        raise
    log.debug("opened SQLite storage %s", parsed.sqlite_path or ":memory:")
    return Storage(queue=SqliteJobQueue(db, timeouts=table), repo=SqliteRepository(db), url=parsed,
                   timeouts=table, _closers=[db.close])


def _postgres_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise StorageError(f"the PostgreSQL backend cannot be loaded ({exc}); install it with "
                           f"pip install '.[postgres]', or use a sqlite:/// URL") from exc


async def _open_postgres(parsed: StorageUrl, table: dict[JobKind, KindTimeouts], migrate_schema: bool) -> Storage:
    pg_db = _postgres_module("storage.pg_db")
    queue_module = _postgres_module("storage.queue.postgres")
    repo_module = _postgres_module("storage.repo.postgres")
    db = await pg_db.PgDatabase.open(parsed.dsn)
    try:
        if migrate_schema:
            await migrate(db)
            await db.sync_procrastinate()  # a newer procrastinate package brings its own schema changes
        queue = queue_module.PostgresJobQueue(db, timeouts=table)
        repo = repo_module.PostgresRepository(db)
    except BaseException:
        await db.close()
        raise
    log.debug("opened PostgreSQL storage %s", parsed.redacted)
    return Storage(queue=queue, repo=repo, url=parsed, timeouts=table,
                   _closers=[queue.close, repo.close, db.close])

"""The migration runner: brings a database's schema to the code's version at start-up.

Consumes numbered SQL files (``NNNN_name.sql``) from the backend's folder and a ``MigrationTarget``
(a backend's way to run a script inside a transaction that holds an exclusive migration lock);
produces the list of versions it applied. Each file runs in its own transaction together with the
row that records it in ``schema_migrations``, so a failed file leaves the previous version intact.
Two processes starting at once are serialised by the lock; the second finds nothing left to do.
A database whose recorded version is newer than the newest file is refused with ``MigrationError``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from storage.clock import to_text, utcnow
from storage.errors import MigrationError

log = logging.getLogger(__name__)

MIGRATIONS_ROOT = Path(__file__).resolve().parent
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

CREATE_VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""
"""Portable SQL (SQLite and PostgreSQL) for the table that records applied versions."""


class MigrationTransaction(Protocol):
    """One open transaction holding the backend's exclusive migration lock."""

    async def execute_script(self, sql: str) -> None:
        """Run every statement of ``sql`` (no parameters) inside this transaction."""
        ...

    async def current_version(self) -> int:
        """``max(version)`` of ``schema_migrations``; 0 when it is empty."""
        ...


class MigrationTarget(Protocol):
    """What a backend gives the runner.

    ``dialect`` names the folder of SQL files (``sqlite`` or ``postgres``). ``transaction()`` opens a
    transaction that excludes other migrators (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``BEGIN`` then
    ``pg_advisory_xact_lock``), commits when the block ends and rolls back when it raises.
    """

    dialect: str

    def transaction(self) -> AbstractAsyncContextManager[MigrationTransaction]: ...


@dataclass(frozen=True, slots=True)
class MigrationFile:
    version: int
    name: str
    path: Path

    def read(self) -> str:
        return self.path.read_text(encoding="utf-8")


def discover(dialect: str, directory: Path | None = None) -> list[MigrationFile]:
    """The migration files of a backend in version order; versions must run 1, 2, 3… without gaps."""
    folder = directory if directory is not None else MIGRATIONS_ROOT / dialect
    if not folder.is_dir():
        raise MigrationError(f"no migrations folder for backend {dialect!r} at {folder}")
    files: list[MigrationFile] = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file {path.name!r} in {folder} is not named NNNN_lowercase_name.sql")
        files.append(MigrationFile(version=int(match.group(1)), name=path.stem, path=path))
    for expected, found in enumerate(files, start=1):
        if found.version != expected:
            raise MigrationError(
                f"migration versions in {folder} must run 1, 2, 3… without gaps or duplicates; "
                f"expected {expected:04d}, found {found.path.name}")
    if not files:
        raise MigrationError(f"the migrations folder {folder} holds no NNNN_name.sql files")
    return files


def latest_version(dialect: str, directory: Path | None = None) -> int:
    return discover(dialect, directory)[-1].version


def _record_sql(migration: MigrationFile) -> str:
    # Values come from a checked file name and the clock, never from users: literal SQL stays portable.
    return (f"INSERT INTO schema_migrations (version, name, applied_at) "
            f"VALUES ({migration.version:d}, '{migration.name}', '{to_text(utcnow())}')")


async def migrate(target: MigrationTarget, *, upto: int | None = None,
                  directory: Path | None = None) -> list[int]:
    """Apply the pending migrations (all, or those up to version ``upto``); return the versions applied."""
    files = discover(target.dialect, directory)
    newest = files[-1].version
    async with target.transaction() as tx:
        await tx.execute_script(CREATE_VERSIONS_TABLE)
        current = await tx.current_version()
    if current > newest:
        raise MigrationError(
            f"the database is at schema version {current}, newer than this code knows ({newest}); "
            f"upgrade the program (every bot and worker) before using this database")
    stop = newest if upto is None else min(upto, newest)
    applied: list[int] = []
    for migration in files:
        if migration.version <= current or migration.version > stop:
            continue
        applied += await _apply_one(target, migration)
    if applied:
        log.info("storage schema migrated to version %d (applied %s)", applied[-1], applied)
    return applied


async def _apply_one(target: MigrationTarget, migration: MigrationFile) -> Sequence[int]:
    script = migration.read()
    failed = f"migration {migration.path.name} ({target.dialect}) failed and was rolled back"
    try:
        async with target.transaction() as tx:
            current = await tx.current_version()
            if current >= migration.version:
                return []  # another process applied it while we waited for the lock
            if current != migration.version - 1:
                raise MigrationError(f"cannot apply {migration.name}: the database is at version {current}")
            try:
                await tx.execute_script(script)
                await tx.execute_script(_record_sql(migration))
            except Exception as exc:
                raise MigrationError(f"{failed}: {exc}") from exc
    except MigrationError:
        raise
    except Exception as exc:
        raise MigrationError(f"{failed}: {exc}") from exc
    return [migration.version]

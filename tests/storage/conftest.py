"""Fixtures of the storage contract suite: a fresh database per test, on SQLite and on PostgreSQL.

``backend`` is parametrised over ``sqlite`` and ``postgres``; its ``connect()`` returns a NEW
``Storage`` on the SAME fresh database each time (one can be "the bot", another "the worker").
PostgreSQL comes from ``tests/storage/pg_server.py``: its session fixture ``pg_server`` starts one
server, and its fixture ``pg_database_url`` gives each test a fresh empty database. Without that
module (or without PostgreSQL binaries) the postgres half of the suite is skipped with the reason.
Tests use only ``open_storage(url)`` and the port interfaces, never a backend's internals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.url import sqlite_url
from tests.storage.harness import Backend, Workers

try:  # the PostgreSQL server fixture, written alongside the PostgreSQL adapters
    from tests.storage.pg_server import pg_database_url, pg_server  # noqa: F401  (fixtures, found by name)
    _PG_MISSING: str | None = None
except ImportError as exc:
    _PG_MISSING = f"tests.storage.pg_server is not available ({exc})"


def _postgres_url(request: pytest.FixtureRequest) -> str:
    if _PG_MISSING is not None:
        pytest.skip(_PG_MISSING)
    return str(request.getfixturevalue("pg_database_url"))


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    url = sqlite_url(tmp_path / "storage.db") if request.param == "sqlite" else _postgres_url(request)
    b = Backend(request.param, url)
    try:
        yield b
    finally:
        await b.aclose()


@pytest.fixture
async def workers() -> AsyncIterator[Workers]:
    w = Workers()
    try:
        yield w
    finally:
        await w.stop_all()

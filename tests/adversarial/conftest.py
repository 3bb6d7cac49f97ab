"""Fixtures of the adversarial suite: a fresh database on either backend, crafted inputs made once.

``backend_url`` is parametrised over ``sqlite`` and ``postgres`` (PostgreSQL from
``tests/storage/pg_server.py``; skipped with the reason when it cannot start). ``crafted`` makes the
crafted media of ``detector.bench.crafted_media`` once per session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.bench import crafted_media
from storage.url import sqlite_url

try:  # the session's PostgreSQL server, shared with the storage contract tests
    from tests.storage.pg_server import pg_database_url, pg_server  # noqa: F401  (fixtures, found by name)
    _PG_MISSING: str | None = None
except ImportError as exc:
    _PG_MISSING = f"tests.storage.pg_server is not available ({exc})"


@pytest.fixture(params=["sqlite", "postgres"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(backend name, URL of a fresh database)."""
    if request.param == "sqlite":
        return "sqlite", sqlite_url(tmp_path / "adversarial.db")
    if _PG_MISSING:
        pytest.skip(_PG_MISSING)
    return "postgres", str(request.getfixturevalue("pg_database_url"))


@pytest.fixture(scope="session")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("crafted")
    return {
        "claims-5e7": crafted_media.lying_mkv(folder / "claims-5e7.mkv", 5e7),
        "claims-1e7": crafted_media.lying_mkv(folder / "claims-1e7.mkv", 1e7),
        "claims-1e12": crafted_media.lying_mkv(folder / "claims-1e12.mkv", 1e12),
        "jump": crafted_media.timestamp_jump_mkv(folder / "jump.mkv", 5e7),
    }

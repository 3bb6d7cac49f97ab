"""Storage URLs select the backend; anything else is refused with a message showing valid examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import StorageUrlError, open_storage, parse_storage_url
from storage.records import JobKind, JobRequest
from storage.url import redact, sqlite_url


def test_sqlite_relative_and_absolute_paths() -> None:
    relative = parse_storage_url("sqlite:///highlights.db")
    assert (relative.backend, relative.sqlite_path) == ("sqlite", Path("highlights.db"))
    nested = parse_storage_url("sqlite:///data/dev/highlights.db")
    assert nested.sqlite_path == Path("data/dev/highlights.db")
    absolute = parse_storage_url("sqlite:////var/lib/highlights/h.db")
    assert absolute.sqlite_path == Path("/var/lib/highlights/h.db") and absolute.sqlite_path.is_absolute()
    assert parse_storage_url("sqlite:///:memory:").sqlite_path is None
    assert parse_storage_url(sqlite_url(Path("/tmp/x.db"))).sqlite_path == Path("/tmp/x.db")
    assert parse_storage_url(sqlite_url("rel/x.db")).sqlite_path == Path("rel/x.db")


def test_postgres_urls_keep_the_dsn_and_hide_the_password() -> None:
    parsed = parse_storage_url("postgresql://bot:s3cret@db.internal:5432/highlights")
    assert parsed.backend == "postgres"
    assert parsed.dsn == "postgresql://bot:s3cret@db.internal:5432/highlights"
    assert "s3cret" not in parsed.redacted and "***" in parsed.redacted
    assert parse_storage_url("postgres://db/highlights").backend == "postgres"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize("url, why", [
    ("", "empty"),
    ("highlights.db", "no scheme"),
    ("mysql://db/highlights", "not supported"),
    ("sqlite://host/highlights.db", "three slashes"),
    ("sqlite:///", "no database file"),
    ("sqlite:///data/", "directory"),
    ("sqlite:///x.db?mode=ro", "query"),
    ("postgresql:///highlights", "host"),
    ("postgresql://u:pw@/highlights", "host"),
])
def test_bad_urls_are_refused_with_examples(url: str, why: str) -> None:
    with pytest.raises(StorageUrlError) as caught:
        parse_storage_url(url)
    message = str(caught.value)
    assert why in message
    assert "sqlite:///highlights.db" in message and "postgresql://" in message
    assert "pw@" not in message
    assert caught.value.code == "storage_url"


async def test_open_storage_refuses_a_bad_url_before_touching_anything(tmp_path: Path) -> None:
    with pytest.raises(StorageUrlError):
        await open_storage(f"sqlite://localhost{tmp_path}/nested/h.db")
    assert list(tmp_path.iterdir()) == []


async def test_open_storage_creates_the_sqlite_folder(tmp_path: Path) -> None:
    path = tmp_path / "state" / "h.db"
    async with await open_storage(sqlite_url(path)) as storage:
        assert storage.url.sqlite_path == path
        assert await storage.queue.list_jobs() == []
    assert path.exists()


async def test_in_memory_sqlite_serves_one_storage() -> None:
    async with await open_storage("sqlite:///:memory:") as storage:
        made = await storage.queue.enqueue(JobRequest(kind=JobKind.POLL, payload={"n": 1}))
        claimed = await storage.queue.claim("w", [JobKind.POLL])
        assert claimed is not None and claimed.id == made.job.id

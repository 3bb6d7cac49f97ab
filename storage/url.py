"""Storage URLs: which backend a ``sqlite:///…`` or ``postgresql://…`` URL selects, and where it points.

Consumes the URL a user configured; produces a ``StorageUrl`` (backend, SQLite path or PostgreSQL DSN)
or a ``StorageUrlError`` that shows the valid forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from storage.errors import StorageUrlError

EXAMPLES = (
    "sqlite:///highlights.db (a file relative to the working directory)",
    "sqlite:////var/lib/highlights/highlights.db (an absolute path: four slashes)",
    "postgresql://user:password@db-host:5432/highlights",
)

Backend = Literal["sqlite", "postgres"]


@dataclass(frozen=True, slots=True)
class StorageUrl:
    backend: Backend
    url: str
    """The URL as given."""
    sqlite_path: Path | None = None
    """SQLite only: the database file, or ``None`` for ``sqlite:///:memory:``."""

    @property
    def dsn(self) -> str:
        """PostgreSQL only: the connection string handed to the driver."""
        return self.url

    @property
    def redacted(self) -> str:
        """The URL with any password replaced by ``***`` (for logs and messages)."""
        return redact(self.url)


def _invalid(url: str, why: str) -> StorageUrlError:
    shown = "\n  ".join(EXAMPLES)
    return StorageUrlError(f"storage URL {redact(url)!r} is not usable: {why}. Valid examples:\n  {shown}")


def parse_storage_url(url: str) -> StorageUrl:
    """Parse and check a storage URL; raise ``StorageUrlError`` naming what is wrong."""
    text = (url or "").strip()
    if not text:
        raise _invalid(url, "it is empty")
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise _invalid(text, "it has no scheme (expected sqlite:/// or postgresql://)")
    scheme = scheme.lower()
    if scheme == "sqlite":
        return _parse_sqlite(text, rest)
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(text)
        if not parts.hostname and "host=" not in parts.query:
            raise _invalid(text, "a PostgreSQL URL needs a host")
        return StorageUrl(backend="postgres", url=text)
    raise _invalid(text, f"the scheme {scheme!r} is not supported (use sqlite or postgresql)")


def _parse_sqlite(text: str, rest: str) -> StorageUrl:
    if not rest.startswith("/"):
        raise _invalid(text, "a SQLite URL has no host: write three slashes, sqlite:///file.db")
    if "?" in rest or "#" in rest:
        raise _invalid(text, "a SQLite URL takes no query string or fragment")
    path_text = rest[1:]
    if not path_text:
        raise _invalid(text, "it names no database file")
    if path_text == ":memory:":
        return StorageUrl(backend="sqlite", url=text, sqlite_path=None)
    if path_text.endswith("/"):
        raise _invalid(text, "it names a directory, not a database file")
    return StorageUrl(backend="sqlite", url=text, sqlite_path=Path(path_text).expanduser())


def sqlite_url(path: Path | str) -> str:
    """The URL of a SQLite file (absolute paths get the four-slash form)."""
    return f"sqlite:///{Path(path).as_posix()}"


def redact(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))

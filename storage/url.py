"""Storage URLs: which backend a ``sqlite:///…`` or ``postgresql://…`` URL selects, and where it points.

Consumes the URL a user configured; produces a ``StorageUrl`` (backend, SQLite path or PostgreSQL DSN)
or a ``StorageUrlError`` that shows the valid forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from storage.errors import StorageUrlError
from storage.redact import redact_url, redacted_repr, register_secret

EXAMPLES = (
    "sqlite:///highlights.db (a file relative to the working directory)",
    "sqlite:////var/lib/highlights/highlights.db (an absolute path: four slashes)",
    "postgresql://user:password@db-host:5432/highlights",
)

Backend = Literal["sqlite", "postgres"]


@dataclass(frozen=True, slots=True, repr=False)
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

    def __repr__(self) -> str:
        return redacted_repr(self)


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
        return _parse_postgres(text)
    raise _invalid(text, f"the scheme {scheme!r} is not supported (use sqlite or postgresql)")


def _parse_postgres(text: str) -> StorageUrl:
    """Check what libpq would choke on with a traceback (a bad port, a broken IPv6 host, a stray space)."""
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise _invalid(text, f"it is not a valid URL ({exc})") from None
    register_secret(parts.password)
    for key, value in query:
        if key.lower() in ("password", "sslpassword"):
            register_secret(value)
    if any(ch.isspace() for ch in text):
        raise _invalid(text, "it contains a space (percent-encode it as %20)")
    if not host and not any(k == "host" for k, _ in query):
        raise _invalid(text, "a PostgreSQL URL needs a host")
    if port == 0:
        raise _invalid(text, "port 0 is not a port")
    return StorageUrl(backend="postgres", url=text)


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
    """``storage.redact.redact_url``: the one redaction function (passwords, secret query parameters)."""
    return redact_url(url)

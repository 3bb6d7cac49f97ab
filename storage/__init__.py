"""Storage shared by the bot and the worker: records, repositories, the job queue, artifacts.

Imports neither ``bot`` nor ``detector`` (an import-linter contract checks it). ``open_storage(url)``
connects to ``sqlite:///…`` or ``postgresql://…`` and returns a ``Storage`` with ``.queue`` and
``.repo``; the backends themselves are imported only when opened.
"""

from __future__ import annotations

from storage.errors import JobNotFound, MigrationError, NotOwner, RecordNotFound, StorageError, StorageUrlError
from storage.factory import Storage, open_storage
from storage.url import StorageUrl, parse_storage_url

__all__ = [
    "JobNotFound",
    "MigrationError",
    "NotOwner",
    "RecordNotFound",
    "Storage",
    "StorageError",
    "StorageUrl",
    "StorageUrlError",
    "open_storage",
    "parse_storage_url",
]

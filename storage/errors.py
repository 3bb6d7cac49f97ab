"""The storage package's one exception root, with a machine ``code``."""

from __future__ import annotations


class StorageError(Exception):
    """Base of all storage errors."""

    code = "storage_error"

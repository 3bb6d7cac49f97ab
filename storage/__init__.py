"""Storage shared by the bot and the worker: records, repositories, the job queue, artifacts.

Imports neither ``bot`` nor ``detector`` (an import-linter contract checks it).
"""

from __future__ import annotations

from storage.errors import StorageError

__all__ = ["StorageError"]

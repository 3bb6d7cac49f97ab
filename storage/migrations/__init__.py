"""Versioned schema migrations: numbered SQL files per backend (``sqlite/``, ``postgres/``) and the one
backend-neutral runner in ``migrate.py`` that applies them at start-up."""

from __future__ import annotations

from storage.migrations.migrate import (
    MigrationFile,
    MigrationTarget,
    MigrationTransaction,
    discover,
    latest_version,
    migrate,
)

__all__ = ["MigrationFile", "MigrationTarget", "MigrationTransaction", "discover", "latest_version", "migrate"]

"""Repositories: the ``Repository`` port (``port.py``) and its SQLite and PostgreSQL adapters."""

from __future__ import annotations

from storage.repo.port import ClipDraft, Repository

__all__ = ["ClipDraft", "Repository"]

"""The one clock of the storage layer, and how its times are written to and read from a database.

Every time stored by the queue and the repositories comes from ``utcnow()`` (UTC, aware), so leases,
backoffs and ages compare consistently across processes. Text columns (SQLite) hold a fixed-width ISO
form that sorts in time order, so ``run_after <= ?`` works on the stored text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_TEXT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def after(seconds: float, *, start: datetime | None = None) -> datetime:
    """``start`` (default: now) plus ``seconds``."""
    return (start or utcnow()) + timedelta(seconds=seconds)


def to_text(moment: datetime) -> str:
    """Fixed-width UTC text (``2024-05-01T12:00:00.000000Z``) that sorts in time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to storage; use storage.clock.utcnow() or an aware datetime")
    return moment.astimezone(UTC).strftime(_TEXT_FORMAT)


def from_text(text: str) -> datetime:
    """Inverse of ``to_text``; also accepts other ISO 8601 forms (a naive one is taken as UTC)."""
    try:
        return datetime.strptime(text, _TEXT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def maybe_from_text(text: str | None) -> datetime | None:
    return None if text is None else from_text(text)

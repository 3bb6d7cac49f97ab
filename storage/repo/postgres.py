"""The PostgreSQL adapter of the ``Repository`` port: streamers, subscriptions, VODs, clips, votes, tuning.

Consumes calls from the bots, schedulers and workers of several machines; produces the records of
``storage.records``. Shares its pool (``storage.pg_db``) with the PostgreSQL job queue. Where SQLite
serialises writers with ``BEGIN IMMEDIATE``, this adapter makes each write safe under concurrency by
itself: upserts are ``INSERT … ON CONFLICT``, and appending a tuning version holds a transaction-scoped
advisory lock for that guild × streamer. JSON fields are ``jsonb``. The queries both databases share
live in ``storage.repo.sql_common``; this module keeps PostgreSQL's spelling (``POSTGRES``) and the
writes it does its own way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from storage.errors import StorageError
from storage.pg_db import PgTransaction
from storage.records import Clip
from storage.repo.sql_common import SqlRepository
from storage.repo.sql_dialect import Dialect, RowLike, one


def _json(value: Any) -> Jsonb:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StorageError(f"value must be JSON-serialisable with finite numbers: {exc}") from exc
    return Jsonb(value)


def _fk_detail(exc: Exception) -> str:
    detail = exc.diag.message_detail if isinstance(exc, psycopg.Error) else None
    return str(detail or exc)


def _as_is(value: Any) -> Any:
    return value


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


POSTGRES = Dialect(mark="%s", true="TRUE", foreign_key_error=psycopg.errors.ForeignKeyViolation,
                   foreign_key_detail=_fk_detail, time_param=_as_is, time_value=_utc, json_param=_json,
                   json_value=_as_is)


class PostgresRepository(SqlRepository[PgTransaction]):
    """``Repository`` on PostgreSQL (see the module docstring)."""

    dialect = POSTGRES

    async def set_clip_files(self, clip_id: int, files: Mapping[str, str]) -> Clip:
        # jsonb merges in place, so no read-modify-write race between machines.
        merged = {str(k): str(v) for k, v in files.items()}
        row = await self._db.fetchone("UPDATE clips SET files = files || %s WHERE id = %s RETURNING id",
                                      (Jsonb(merged), clip_id))
        one(row, f"clip {clip_id}")
        return await self.get_clip(clip_id)

    async def _executemany(self, tx: PgTransaction, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with tx.conn.cursor() as cur:
            await cur.executemany(sql, rows)

    async def _lock_tunings(self, tx: PgTransaction, guild_id: str, streamer_id: int) -> None:
        # Two machines appending at once would both read the same MAX(version): take turns per pair.
        await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"tuning:{guild_id}:{streamer_id}",))

    async def _insert_vod(self, tx: PgTransaction, sql: str, params: Sequence[Any]) -> RowLike | None:
        # Another machine may insert the same VOD at this moment: the loser gets None and re-reads the winner's row.
        return await tx.fetchone(f"{sql} ON CONFLICT DO NOTHING RETURNING *", params)

    async def _update_vod(self, tx: PgTransaction, sql: str, params: Sequence[Any]) -> RowLike:
        return one(await tx.fetchone(f"{sql} RETURNING *", params), "vod")

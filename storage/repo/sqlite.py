"""The SQLite adapter of the ``Repository`` port: streamers, subscriptions, VODs, clips, votes, tuning.

Consumes calls from the bot, the scheduler and the worker; produces the records of
``storage.records``. Shares its connection (``storage.sqlite_db``) with the SQLite job queue; every
read-modify-write is one ``BEGIN IMMEDIATE`` transaction. JSON fields are stored as JSON text. The
queries both databases share live in ``storage.repo.sql_common``; this module keeps SQLite's spelling
(``SQLITE``) and the writes it does its own way.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from storage.clock import from_text, to_text
from storage.errors import StorageError
from storage.records import Clip
from storage.repo.sql_common import SqlRepository
from storage.repo.sql_dialect import Dialect, RowLike, one
from storage.sqlite_db import Transaction


def _json(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StorageError(f"value must be JSON-serialisable with finite numbers: {exc}") from exc


SQLITE = Dialect(mark="?", true="1", foreign_key_error=sqlite3.IntegrityError, foreign_key_detail=str,
                 time_param=to_text, time_value=from_text, json_param=_json, json_value=json.loads)


class SqliteRepository(SqlRepository[Transaction]):
    """``Repository`` on a SQLite file (see the module docstring)."""

    dialect = SQLITE

    async def set_clip_files(self, clip_id: int, files: Mapping[str, str]) -> Clip:
        async with self._db.write() as tx:
            row = one(await tx.fetchone("SELECT files FROM clips WHERE id = ?", (clip_id,)), f"clip {clip_id}")
            merged = {**json.loads(row["files"]), **{str(k): str(v) for k, v in files.items()}}
            await tx.execute("UPDATE clips SET files = ? WHERE id = ?", (_json(merged), clip_id))
        return await self.get_clip(clip_id)

    async def _executemany(self, tx: Transaction, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await tx.executemany(sql, rows)

    async def _lock_tunings(self, tx: Transaction, guild_id: str, streamer_id: int) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already lets one writer at a time in."""

    async def _insert_vod(self, tx: Transaction, sql: str, params: Sequence[Any]) -> RowLike | None:
        vod_id = await tx.insert(sql, params)
        return one(await tx.fetchone("SELECT * FROM vods WHERE id = ?", (vod_id,)), "vod")

    async def _update_vod(self, tx: Transaction, sql: str, params: Sequence[Any]) -> RowLike:
        await tx.execute(sql, params)
        return one(await tx.fetchone("SELECT * FROM vods WHERE id = ?", (params[-1],)), "vod")

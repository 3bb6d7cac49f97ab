"""The adaptation half of the SQL repositories: a community's adapted chat ranker, versioned.

Consumes a database wrapper and dialect through ``SqlRepository``; produces ``Adaptation`` records.
Versions 1, 2, 3… per guild × streamer, the highest is current (like vote tuning, and stored beside
it): a new fit appends a version, ``rollback_adaptation`` appends one carrying an older model, and
``reset_adaptation`` appends one with an empty model (the shipped default again), so the history is
never rewritten. Appends take the same per-pair lock as tuning versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from storage.errors import StorageError
from storage.records import Adaptation
from storage.repo.sql_base import SqlBase
from storage.repo.sql_dialect import RowLike, TxT, one

MAX_MODEL_CHARS = 4_000_000
"""A model (coefficients plus a learned lexicon) larger than this is refused: something went wrong."""


class SqlAdaptations(SqlBase[TxT]):
    """The adaptation queries of ``SqlRepository`` (the per-pair lock is ``SqlClips._lock_tunings``)."""

    if TYPE_CHECKING:
        async def _lock_tunings(self, tx: TxT, guild_id: str, streamer_id: int) -> None: ...

    def _adaptation(self, r: RowLike) -> Adaptation:
        model = self.dialect.json_value(r["model"])
        return Adaptation(guild_id=r["guild_id"], streamer_id=r["streamer_id"], version=r["version"],
                          model=model if isinstance(model, dict) else {}, source=r["source"],
                          labels_used=r["labels_used"], vods_used=r["vods_used"], summary=r["summary"],
                          created_at=self.dialect.time_value(r["created_at"]),
                          created_by=r["created_by"])

    async def current_adaptation(self, guild_id: str, streamer_id: int) -> Adaptation | None:
        row = await self._db.fetchone(self._q(
            "SELECT * FROM adaptations WHERE guild_id = ? AND streamer_id = ? ORDER BY version DESC LIMIT 1"),
            (guild_id, streamer_id))
        return None if row is None else self._adaptation(row)

    async def adaptation_history(self, guild_id: str, streamer_id: int) -> list[Adaptation]:
        rows = await self._db.fetchall(self._q(
            "SELECT * FROM adaptations WHERE guild_id = ? AND streamer_id = ? ORDER BY version DESC"),
            (guild_id, streamer_id))
        return [self._adaptation(r) for r in rows]

    async def new_adaptation(self, guild_id: str, streamer_id: int, model: Mapping[str, Any], *, source: str,
                             summary: str, labels_used: int = 0, vods_used: int = 0,
                             by: str | None = None) -> Adaptation:
        values = dict(model)
        size = len(str(values))
        if size > MAX_MODEL_CHARS:
            raise StorageError(f"an adapted model of {size} characters is too large to store (at most {MAX_MODEL_CHARS})")
        with self._missing(f"streamer {streamer_id}"):
            async with self._db.write() as tx:
                return await self._append_adaptation(tx, guild_id, streamer_id, values, source, summary,
                                                     labels_used, vods_used, by)

    async def rollback_adaptation(self, guild_id: str, streamer_id: int, version: int, *,
                                  by: str | None = None) -> Adaptation:
        with self._missing(f"streamer {streamer_id}"):
            async with self._db.write() as tx:
                row = await tx.fetchone(self._q(
                    "SELECT * FROM adaptations WHERE guild_id = ? AND streamer_id = ? AND version = ?"),
                    (guild_id, streamer_id, version))
                old = self._adaptation(one(row, f"adaptation version {version} of guild {guild_id} × streamer {streamer_id}"))
                return await self._append_adaptation(
                    tx, guild_id, streamer_id, old.model, f"rollback to version {version}",
                    f"{old.summary} (rolled back to version {version})" if old.model else "the default ranker",
                    old.labels_used, old.vods_used, by)

    async def reset_adaptation(self, guild_id: str, streamer_id: int, *, by: str | None = None) -> Adaptation:
        with self._missing(f"streamer {streamer_id}"):
            async with self._db.write() as tx:
                return await self._append_adaptation(tx, guild_id, streamer_id, {}, "reset", "the default ranker",
                                                     0, 0, by)

    async def _append_adaptation(self, tx: TxT, guild_id: str, streamer_id: int, model: dict[str, Any], source: str,
                                 summary: str, labels_used: int, vods_used: int, by: str | None) -> Adaptation:
        await self._lock_tunings(tx, guild_id, streamer_id)
        q = self._q
        row = await tx.fetchone(q("SELECT COALESCE(MAX(version), 0) + 1 AS next FROM adaptations "
                                  "WHERE guild_id = ? AND streamer_id = ?"), (guild_id, streamer_id))
        version = int(row["next"]) if row else 1
        await tx.execute(q("INSERT INTO adaptations (guild_id, streamer_id, version, model, source, labels_used, "
                           "vods_used, summary, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                         (guild_id, streamer_id, version, self.dialect.json_param(model), source,
                          int(labels_used), int(vods_used), summary, by, self._now()))
        new = await tx.fetchone(q("SELECT * FROM adaptations WHERE guild_id = ? AND streamer_id = ? "
                                  "AND version = ?"), (guild_id, streamer_id, version))
        return self._adaptation(one(new, "adaptation"))

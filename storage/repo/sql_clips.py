"""Shared SQL queries about clips, their votes and the tuning the votes lead to (SQLite and PostgreSQL alike).

Consumes the database through :class:`~storage.repo.sql_base.SqlBase`; produces ``Clip``, ``Vote``
and ``Tuning`` records (and finds a job by its dedupe key). SQL is written once with ``?``
placeholders (see ``storage.repo.sql_common``); batch inserts and the tuning lock, whose SQL
differs, are left to the adapters.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from storage.errors import ForeignVote, RecordNotFound
from storage.records import Clip, Tuning, Vote
from storage.repo.port import ClipDraft
from storage.repo.sql_base import CLIP_SELECT, SqlBase
from storage.repo.sql_dialect import SqlReader, TxT, one


class SqlClips(SqlBase[TxT]):
    """Clips, votes and tuning versions."""

    # -- jobs (read-only) -----------------------------------------------------------------------------
    async def find_job_with_key(self, dedupe_key: str, *, guild_id: str | None = None) -> int | None:
        if guild_id is None:
            row = await self._db.fetchone(self._q(
                "SELECT id FROM jobs WHERE dedupe_key = ? ORDER BY id DESC LIMIT 1"), (dedupe_key,))
        else:  # the (guild_id, id) index keeps this a short backward scan of one guild's jobs
            row = await self._db.fetchone(self._q(
                "SELECT id FROM jobs WHERE guild_id = ? AND dedupe_key = ? ORDER BY id DESC LIMIT 1"),
                (guild_id, dedupe_key))
        return None if row is None else int(row["id"])

    # -- clips ----------------------------------------------------------------------------------------
    async def save_candidates(self, job_id: int, drafts: Sequence[ClipDraft], *,
                              vod_id: int | None = None) -> list[Clip]:
        ranks = [d.rank for d in drafts]
        if len(set(ranks)) != len(ranks):
            raise ValueError(f"candidate ranks must be unique, got {ranks}")
        now = self._now()
        js = self.dialect.json_param
        with self._missing(f"job {job_id} or vod {vod_id}"):
            async with self._db.write() as tx:
                await self._executemany(tx, self._q(
                    "INSERT INTO clips (job_id, vod_id, rank, start_s, end_s, peak_s, score, signals, explanation, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, rank) DO UPDATE SET "
                    "vod_id = excluded.vod_id, start_s = excluded.start_s, end_s = excluded.end_s, "
                    "peak_s = excluded.peak_s, score = excluded.score, signals = excluded.signals, "
                    "explanation = excluded.explanation"),
                    [(job_id, vod_id, d.rank, d.start_s, d.end_s, d.peak_s, d.score, js(d.signals),
                      js(d.explanation), now) for d in drafts])
                if ranks:  # an empty save keeps what is there
                    marks = ", ".join("?" for _ in ranks)
                    await tx.execute(self._q(f"DELETE FROM clips WHERE job_id = ? AND message_id IS NULL AND "
                                             f"rank NOT IN ({marks})"), (job_id, *ranks))
                return await self._job_clips(tx, job_id)

    @abstractmethod
    async def _executemany(self, tx: TxT, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each of ``rows`` inside ``tx``."""

    async def get_clip(self, clip_id: int) -> Clip:
        row = await self._db.fetchone(self._q(f"{CLIP_SELECT} WHERE c.id = ?"), (clip_id,))
        return self._clip(one(row, f"clip {clip_id}"))

    async def list_clips(self, job_id: int) -> list[Clip]:
        return await self._job_clips(self._db, job_id)

    async def _job_clips(self, tx: SqlReader, job_id: int) -> list[Clip]:
        rows = await tx.fetchall(self._q(f"{CLIP_SELECT} WHERE c.job_id = ? ORDER BY c.rank"), (job_id,))
        return [self._clip(r) for r in rows]

    async def set_clip_message(self, clip_id: int, *, message_id: str, channel_id: str,
                               thread_id: str | None = None) -> Clip:
        async with self._db.write() as tx:
            changed = await tx.execute(
                self._q("UPDATE clips SET message_id = ?, channel_id = ?, thread_id = ? WHERE id = ?"),
                (message_id, channel_id, thread_id, clip_id))
        if not changed:
            raise RecordNotFound(f"clip {clip_id} does not exist")
        return await self.get_clip(clip_id)

    async def find_clip_by_message(self, message_id: str) -> Clip | None:
        row = await self._db.fetchone(self._q(f"{CLIP_SELECT} WHERE c.message_id = ? ORDER BY c.id LIMIT 1"),
                                      (message_id,))
        return None if row is None else self._clip(row)

    # -- votes ----------------------------------------------------------------------------------------
    async def vote(self, clip_id: int, user_id: str, value: int, *, guild_id: str | None) -> Clip:
        if value not in (1, -1):
            raise ValueError(f"a vote is +1 or -1, not {value!r}")
        with self._missing(f"clip {clip_id}"):
            async with self._db.write() as tx:
                owner = await tx.fetchone(self._q("SELECT j.guild_id FROM clips c JOIN jobs j ON j.id = c.job_id "
                                                  "WHERE c.id = ?"), (clip_id,))
                if owner is not None and owner["guild_id"] != guild_id:
                    raise ForeignVote(f"clip {clip_id} belongs to another guild's job; a vote from guild "
                                      f"{guild_id} is not counted there")
                await tx.execute(self._q(
                    "INSERT INTO votes (clip_id, user_id, value, voted_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (clip_id, user_id) DO UPDATE SET value = excluded.value, voted_at = excluded.voted_at"),
                    (clip_id, user_id, value, self._now()))
        return await self.get_clip(clip_id)

    async def remove_vote(self, clip_id: int, user_id: str) -> Clip:
        async with self._db.write() as tx:
            await tx.execute(self._q("DELETE FROM votes WHERE clip_id = ? AND user_id = ?"), (clip_id, user_id))
        return await self.get_clip(clip_id)

    async def get_vote(self, clip_id: int, user_id: str) -> Vote | None:
        row = await self._db.fetchone(self._q("SELECT * FROM votes WHERE clip_id = ? AND user_id = ?"),
                                      (clip_id, user_id))
        return None if row is None else self._vote(row)

    async def list_votes(self, clip_id: int) -> list[Vote]:
        rows = await self._db.fetchall(self._q("SELECT * FROM votes WHERE clip_id = ? ORDER BY voted_at, user_id"),
                                       (clip_id,))
        return [self._vote(r) for r in rows]

    async def list_voted_clips(self, guild_id: str, streamer_id: int) -> list[Clip]:
        rows = await self._db.fetchall(self._q(
            f"{CLIP_SELECT} JOIN jobs j ON j.id = c.job_id JOIN vods d ON d.id = c.vod_id "
            "WHERE j.guild_id = ? AND d.streamer_id = ? AND EXISTS (SELECT 1 FROM votes v WHERE v.clip_id = c.id) "
            "ORDER BY c.id"), (guild_id, streamer_id))
        return [self._clip(r) for r in rows]

    # -- tuning ---------------------------------------------------------------------------------------
    async def current_tuning(self, guild_id: str, streamer_id: int) -> Tuning | None:
        row = await self._db.fetchone(self._q("SELECT * FROM tunings WHERE guild_id = ? AND streamer_id = ? "
                                              "ORDER BY version DESC LIMIT 1"), (guild_id, streamer_id))
        return None if row is None else self._tuning(row)

    async def tuning_history(self, guild_id: str, streamer_id: int) -> list[Tuning]:
        rows = await self._db.fetchall(self._q("SELECT * FROM tunings WHERE guild_id = ? AND streamer_id = ? "
                                               "ORDER BY version DESC"), (guild_id, streamer_id))
        return [self._tuning(r) for r in rows]

    async def new_tuning_version(self, guild_id: str, streamer_id: int, params: Mapping[str, float], *,
                                 reason: str, votes_used: int = 0, by: str | None = None) -> Tuning:
        values = {str(k): float(v) for k, v in params.items()}
        with self._missing(f"streamer {streamer_id}"):
            async with self._db.write() as tx:
                return await self._append_tuning(tx, guild_id, streamer_id, values, reason, votes_used, by)

    async def rollback_tuning(self, guild_id: str, streamer_id: int, version: int, *,
                              by: str | None = None) -> Tuning:
        with self._missing(f"streamer {streamer_id}"):
            async with self._db.write() as tx:
                row = await tx.fetchone(self._q("SELECT params FROM tunings WHERE guild_id = ? AND streamer_id = ? "
                                                "AND version = ?"), (guild_id, streamer_id, version))
                old = one(row, f"tuning version {version} of guild {guild_id} × streamer {streamer_id}")
                return await self._append_tuning(tx, guild_id, streamer_id, self.dialect.json_value(old["params"]),
                                                 f"rollback to version {version}", 0, by)

    async def _append_tuning(self, tx: TxT, guild_id: str, streamer_id: int, params: dict[str, float],
                             reason: str, votes_used: int, by: str | None) -> Tuning:
        await self._lock_tunings(tx, guild_id, streamer_id)
        row = await tx.fetchone(self._q("SELECT COALESCE(MAX(version), 0) + 1 AS next FROM tunings "
                                        "WHERE guild_id = ? AND streamer_id = ?"), (guild_id, streamer_id))
        version = int(row["next"]) if row else 1
        await tx.execute(self._q("INSERT INTO tunings (guild_id, streamer_id, version, params, reason, votes_used, "
                                 "created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                         (guild_id, streamer_id, version, self.dialect.json_param(params), reason, int(votes_used), by,
                          self._now()))
        new = await tx.fetchone(self._q("SELECT * FROM tunings WHERE guild_id = ? AND streamer_id = ? AND version = ?"),
                                (guild_id, streamer_id, version))
        return self._tuning(one(new, "tuning"))

    @abstractmethod
    async def _lock_tunings(self, tx: TxT, guild_id: str, streamer_id: int) -> None:
        """Make ``MAX(version) + 1`` safe against another writer appending to the same pair at once."""

"""The SQLite adapter of the ``Repository`` port: streamers, subscriptions, VODs, clips, votes, tuning.

Consumes calls from the bot, the scheduler and the worker; produces the records of
``storage.records``. Shares its connection (``storage.sqlite_db``) with the SQLite job queue; every
read-modify-write is one ``BEGIN IMMEDIATE`` transaction. JSON fields are stored as JSON text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from storage.clock import from_text, maybe_from_text, to_text, utcnow
from storage.errors import RecordNotFound, StorageError
from storage.records import Clip, Streamer, Subscription, Tuning, Vod, Vote
from storage.repo.port import ClipDraft
from storage.sqlite_db import SqliteDatabase, Transaction

_CLIP_SELECT = (
    "SELECT c.*, "
    "(SELECT COUNT(*) FROM votes v WHERE v.clip_id = c.id AND v.value = 1) AS up_votes, "
    "(SELECT COUNT(*) FROM votes v WHERE v.clip_id = c.id AND v.value = -1) AS down_votes "
    "FROM clips c")


def _streamer(r: sqlite3.Row) -> Streamer:
    return Streamer(id=r["id"], login=r["login"], display_name=r["display_name"], twitch_user_id=r["twitch_user_id"])


def _subscription(r: sqlite3.Row) -> Subscription:
    return Subscription(id=r["id"], guild_id=r["guild_id"], streamer_id=r["streamer_id"], channel_id=r["channel_id"],
                        created_by=r["created_by"], last_seen_vod=r["last_seen_vod"], enabled=bool(r["enabled"]))


def _vod(r: sqlite3.Row) -> Vod:
    return Vod(id=r["id"], twitch_vod_id=r["twitch_vod_id"], source=r["source"], streamer_id=r["streamer_id"],
               title=r["title"], duration_s=r["duration_s"], created_at=maybe_from_text(r["created_at"]))


def _clip(r: sqlite3.Row) -> Clip:
    return Clip(id=r["id"], job_id=r["job_id"], vod_id=r["vod_id"], rank=r["rank"], start_s=r["start_s"],
                end_s=r["end_s"], peak_s=r["peak_s"], score=r["score"], signals=json.loads(r["signals"]),
                explanation=json.loads(r["explanation"]), files=json.loads(r["files"]), message_id=r["message_id"],
                channel_id=r["channel_id"], thread_id=r["thread_id"], up_votes=int(r["up_votes"]),
                down_votes=int(r["down_votes"]))


def _vote(r: sqlite3.Row) -> Vote:
    return Vote(clip_id=r["clip_id"], user_id=r["user_id"], value=r["value"], voted_at=from_text(r["voted_at"]))


def _tuning(r: sqlite3.Row) -> Tuning:
    return Tuning(guild_id=r["guild_id"], streamer_id=r["streamer_id"], version=r["version"],
                  params=json.loads(r["params"]), reason=r["reason"], votes_used=r["votes_used"],
                  created_at=from_text(r["created_at"]), created_by=r["created_by"])


def _json(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StorageError(f"value must be JSON-serialisable with finite numbers: {exc}") from exc


@contextmanager
def _missing(what: str) -> Iterator[None]:
    """Turn a foreign-key violation into ``RecordNotFound`` naming what the caller referred to."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise RecordNotFound(f"{what} does not exist ({exc})") from exc


def _one(row: sqlite3.Row | None, what: str) -> sqlite3.Row:
    if row is None:
        raise RecordNotFound(f"{what} does not exist")
    return row


class SqliteRepository:
    """``Repository`` on a SQLite file (see the module docstring)."""

    def __init__(self, db: SqliteDatabase, *, owns_db: bool = False) -> None:
        self._db = db
        self._owns_db = owns_db

    async def close(self) -> None:
        if self._owns_db:
            await self._db.close()

    # -- streamers ------------------------------------------------------------------------------------
    async def upsert_streamer(self, login: str, *, display_name: str | None = None,
                              twitch_user_id: str | None = None) -> Streamer:
        key = login.strip().lower()
        if not key:
            raise StorageError("a streamer login must not be empty")
        async with self._db.write() as tx:
            await tx.execute(
                "INSERT INTO streamers (login, display_name, twitch_user_id) VALUES (?, ?, ?) ON CONFLICT (login) "
                "DO UPDATE SET display_name = COALESCE(excluded.display_name, display_name), "
                "twitch_user_id = COALESCE(excluded.twitch_user_id, twitch_user_id)",
                (key, display_name, twitch_user_id))
            return _streamer(_one(await tx.fetchone("SELECT * FROM streamers WHERE login = ?", (key,)), key))

    async def get_streamer(self, streamer_id: int) -> Streamer:
        row = await self._db.fetchone("SELECT * FROM streamers WHERE id = ?", (streamer_id,))
        return _streamer(_one(row, f"streamer {streamer_id}"))

    async def find_streamer(self, login: str) -> Streamer | None:
        row = await self._db.fetchone("SELECT * FROM streamers WHERE login = ?", (login.strip().lower(),))
        return None if row is None else _streamer(row)

    async def list_streamers(self) -> list[Streamer]:
        return [_streamer(r) for r in await self._db.fetchall("SELECT * FROM streamers ORDER BY login")]

    # -- subscriptions --------------------------------------------------------------------------------
    async def subscribe(self, guild_id: str, streamer_id: int, channel_id: str, *,
                        created_by: str | None = None) -> Subscription:
        with _missing(f"streamer {streamer_id}"):
            async with self._db.write() as tx:
                await tx.execute(
                    "INSERT INTO subscriptions (guild_id, streamer_id, channel_id, created_by, enabled, created_at) "
                    "VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (guild_id, streamer_id) "
                    "DO UPDATE SET channel_id = excluded.channel_id, enabled = 1",
                    (guild_id, streamer_id, channel_id, created_by, to_text(utcnow())))
                row = await tx.fetchone("SELECT * FROM subscriptions WHERE guild_id = ? AND streamer_id = ?",
                                        (guild_id, streamer_id))
        return _subscription(_one(row, "subscription"))

    async def unsubscribe(self, guild_id: str, streamer_id: int) -> bool:
        async with self._db.write() as tx:
            return await tx.execute("DELETE FROM subscriptions WHERE guild_id = ? AND streamer_id = ?",
                                    (guild_id, streamer_id)) > 0

    async def get_subscription(self, subscription_id: int) -> Subscription:
        row = await self._db.fetchone("SELECT * FROM subscriptions WHERE id = ?", (subscription_id,))
        return _subscription(_one(row, f"subscription {subscription_id}"))

    async def list_subscriptions(self, *, guild_id: str | None = None, streamer_id: int | None = None,
                                 enabled_only: bool = False) -> list[Subscription]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if guild_id is not None:
            where.append("guild_id = ?")
            params.append(guild_id)
        if streamer_id is not None:
            where.append("streamer_id = ?")
            params.append(streamer_id)
        if enabled_only:
            where.append("enabled = 1")
        rows = await self._db.fetchall(f"SELECT * FROM subscriptions WHERE {' AND '.join(where)} ORDER BY id", params)
        return [_subscription(r) for r in rows]

    async def _update_subscription(self, subscription_id: int, assignment: str, value: Any) -> Subscription:
        async with self._db.write() as tx:
            await tx.execute(f"UPDATE subscriptions SET {assignment} WHERE id = ?", (value, subscription_id))
            row = await tx.fetchone("SELECT * FROM subscriptions WHERE id = ?", (subscription_id,))
        return _subscription(_one(row, f"subscription {subscription_id}"))

    async def set_subscription_enabled(self, subscription_id: int, enabled: bool) -> Subscription:
        return await self._update_subscription(subscription_id, "enabled = ?", int(bool(enabled)))

    async def set_last_seen_vod(self, subscription_id: int, vod_id: str) -> Subscription:
        return await self._update_subscription(subscription_id, "last_seen_vod = ?", vod_id)

    # -- VODs -----------------------------------------------------------------------------------------
    async def upsert_vod(self, *, source: str, twitch_vod_id: str | None = None, streamer_id: int | None = None,
                         title: str | None = None, duration_s: float | None = None) -> Vod:
        with _missing(f"streamer {streamer_id}"):
            async with self._db.write() as tx:
                row = await self._find_vod(tx, twitch_vod_id, source)
                if row is None:
                    vod_id = await tx.insert(
                        "INSERT INTO vods (twitch_vod_id, source, streamer_id, title, duration_s, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (twitch_vod_id, source, streamer_id, title, duration_s, to_text(utcnow())))
                else:
                    vod_id = row["id"]
                    await tx.execute(
                        "UPDATE vods SET twitch_vod_id = COALESCE(twitch_vod_id, ?), "
                        "streamer_id = COALESCE(?, streamer_id), title = COALESCE(?, title), "
                        "duration_s = COALESCE(?, duration_s) WHERE id = ?",
                        (twitch_vod_id, streamer_id, title, duration_s, vod_id))
                return _vod(_one(await tx.fetchone("SELECT * FROM vods WHERE id = ?", (vod_id,)), "vod"))

    @staticmethod
    async def _find_vod(tx: Transaction | SqliteDatabase, twitch_vod_id: str | None,
                        source: str | None) -> sqlite3.Row | None:
        if twitch_vod_id is not None:
            row = await tx.fetchone("SELECT * FROM vods WHERE twitch_vod_id = ?", (twitch_vod_id,))
            if row is not None:
                return row
        if source is not None:
            return await tx.fetchone("SELECT * FROM vods WHERE source = ?", (source,))
        return None

    async def get_vod(self, vod_id: int) -> Vod:
        return _vod(_one(await self._db.fetchone("SELECT * FROM vods WHERE id = ?", (vod_id,)), f"vod {vod_id}"))

    async def find_vod(self, *, twitch_vod_id: str | None = None, source: str | None = None) -> Vod | None:
        row = await self._find_vod(self._db, twitch_vod_id, source)
        return None if row is None else _vod(row)

    # -- clips ----------------------------------------------------------------------------------------
    async def save_candidates(self, job_id: int, drafts: Sequence[ClipDraft], *,
                              vod_id: int | None = None) -> list[Clip]:
        ranks = [d.rank for d in drafts]
        if len(set(ranks)) != len(ranks):
            raise ValueError(f"candidate ranks must be unique, got {ranks}")
        now = to_text(utcnow())
        with _missing(f"job {job_id} or vod {vod_id}"):
            async with self._db.write() as tx:
                await tx.executemany(
                    "INSERT INTO clips (job_id, vod_id, rank, start_s, end_s, peak_s, score, signals, explanation, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, rank) DO UPDATE SET "
                    "vod_id = excluded.vod_id, start_s = excluded.start_s, end_s = excluded.end_s, "
                    "peak_s = excluded.peak_s, score = excluded.score, signals = excluded.signals, "
                    "explanation = excluded.explanation",
                    [(job_id, vod_id, d.rank, d.start_s, d.end_s, d.peak_s, d.score, _json(d.signals),
                      _json(d.explanation), now) for d in drafts])
                marks = ", ".join("?" for _ in ranks) or "NULL"
                await tx.execute(f"DELETE FROM clips WHERE job_id = ? AND message_id IS NULL AND rank NOT IN ({marks})",
                                 (job_id, *ranks))
                rows = await tx.fetchall(f"{_CLIP_SELECT} WHERE c.job_id = ? ORDER BY c.rank", (job_id,))
        return [_clip(r) for r in rows]

    async def get_clip(self, clip_id: int) -> Clip:
        row = await self._db.fetchone(f"{_CLIP_SELECT} WHERE c.id = ?", (clip_id,))
        return _clip(_one(row, f"clip {clip_id}"))

    async def list_clips(self, job_id: int) -> list[Clip]:
        rows = await self._db.fetchall(f"{_CLIP_SELECT} WHERE c.job_id = ? ORDER BY c.rank", (job_id,))
        return [_clip(r) for r in rows]

    async def find_clip_by_message(self, message_id: str) -> Clip | None:
        row = await self._db.fetchone(f"{_CLIP_SELECT} WHERE c.message_id = ? ORDER BY c.id LIMIT 1", (message_id,))
        return None if row is None else _clip(row)

    async def set_clip_files(self, clip_id: int, files: Mapping[str, str]) -> Clip:
        async with self._db.write() as tx:
            row = _one(await tx.fetchone("SELECT files FROM clips WHERE id = ?", (clip_id,)), f"clip {clip_id}")
            merged = {**json.loads(row["files"]), **{str(k): str(v) for k, v in files.items()}}
            await tx.execute("UPDATE clips SET files = ? WHERE id = ?", (_json(merged), clip_id))
        return await self.get_clip(clip_id)

    async def set_clip_message(self, clip_id: int, *, message_id: str, channel_id: str,
                               thread_id: str | None = None) -> Clip:
        async with self._db.write() as tx:
            changed = await tx.execute("UPDATE clips SET message_id = ?, channel_id = ?, thread_id = ? WHERE id = ?",
                                       (message_id, channel_id, thread_id, clip_id))
        if not changed:
            raise RecordNotFound(f"clip {clip_id} does not exist")
        return await self.get_clip(clip_id)

    # -- votes ----------------------------------------------------------------------------------------
    async def vote(self, clip_id: int, user_id: str, value: int) -> Clip:
        if value not in (1, -1):
            raise ValueError(f"a vote is +1 or -1, not {value!r}")
        with _missing(f"clip {clip_id}"):
            async with self._db.write() as tx:
                await tx.execute(
                    "INSERT INTO votes (clip_id, user_id, value, voted_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (clip_id, user_id) DO UPDATE SET value = excluded.value, voted_at = excluded.voted_at",
                    (clip_id, user_id, value, to_text(utcnow())))
        return await self.get_clip(clip_id)

    async def remove_vote(self, clip_id: int, user_id: str) -> Clip:
        async with self._db.write() as tx:
            await tx.execute("DELETE FROM votes WHERE clip_id = ? AND user_id = ?", (clip_id, user_id))
        return await self.get_clip(clip_id)

    async def get_vote(self, clip_id: int, user_id: str) -> Vote | None:
        row = await self._db.fetchone("SELECT * FROM votes WHERE clip_id = ? AND user_id = ?", (clip_id, user_id))
        return None if row is None else _vote(row)

    async def list_votes(self, clip_id: int) -> list[Vote]:
        rows = await self._db.fetchall("SELECT * FROM votes WHERE clip_id = ? ORDER BY voted_at, user_id", (clip_id,))
        return [_vote(r) for r in rows]

    async def list_voted_clips(self, guild_id: str, streamer_id: int) -> list[Clip]:
        rows = await self._db.fetchall(
            f"{_CLIP_SELECT} JOIN jobs j ON j.id = c.job_id JOIN vods d ON d.id = c.vod_id "
            "WHERE j.guild_id = ? AND d.streamer_id = ? AND EXISTS (SELECT 1 FROM votes v WHERE v.clip_id = c.id) "
            "ORDER BY c.id", (guild_id, streamer_id))
        return [_clip(r) for r in rows]

    # -- tuning ---------------------------------------------------------------------------------------
    async def current_tuning(self, guild_id: str, streamer_id: int) -> Tuning | None:
        row = await self._db.fetchone("SELECT * FROM tunings WHERE guild_id = ? AND streamer_id = ? "
                                      "ORDER BY version DESC LIMIT 1", (guild_id, streamer_id))
        return None if row is None else _tuning(row)

    async def tuning_history(self, guild_id: str, streamer_id: int) -> list[Tuning]:
        rows = await self._db.fetchall("SELECT * FROM tunings WHERE guild_id = ? AND streamer_id = ? "
                                       "ORDER BY version DESC", (guild_id, streamer_id))
        return [_tuning(r) for r in rows]

    async def new_tuning_version(self, guild_id: str, streamer_id: int, params: Mapping[str, float], *,
                                 reason: str, votes_used: int = 0, by: str | None = None) -> Tuning:
        values = {str(k): float(v) for k, v in params.items()}
        async with self._db.write() as tx:
            return await self._append_tuning(tx, guild_id, streamer_id, values, reason, votes_used, by)

    async def rollback_tuning(self, guild_id: str, streamer_id: int, version: int, *,
                              by: str | None = None) -> Tuning:
        async with self._db.write() as tx:
            row = await tx.fetchone("SELECT params FROM tunings WHERE guild_id = ? AND streamer_id = ? AND version = ?",
                                    (guild_id, streamer_id, version))
            old = _one(row, f"tuning version {version} of guild {guild_id} × streamer {streamer_id}")
            return await self._append_tuning(tx, guild_id, streamer_id, json.loads(old["params"]),
                                             f"rollback to version {version}", 0, by)

    @staticmethod
    async def _append_tuning(tx: Transaction, guild_id: str, streamer_id: int, params: dict[str, float],
                             reason: str, votes_used: int, by: str | None) -> Tuning:
        row = await tx.fetchone("SELECT COALESCE(MAX(version), 0) + 1 FROM tunings WHERE guild_id = ? AND "
                                "streamer_id = ?", (guild_id, streamer_id))
        version = int(row[0]) if row else 1
        with _missing(f"streamer {streamer_id}"):
            await tx.execute("INSERT INTO tunings (guild_id, streamer_id, version, params, reason, votes_used, "
                             "created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (guild_id, streamer_id, version, _json(params), reason, int(votes_used), by,
                              to_text(utcnow())))
        new = await tx.fetchone("SELECT * FROM tunings WHERE guild_id = ? AND streamer_id = ? AND version = ?",
                                (guild_id, streamer_id, version))
        return _tuning(_one(new, "tuning"))

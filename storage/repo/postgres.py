"""The PostgreSQL adapter of the ``Repository`` port: streamers, subscriptions, VODs, clips, votes, tuning.

Consumes calls from the bots, schedulers and workers of several machines; produces the records of
``storage.records``. Shares its pool (``storage.pg_db``) with the PostgreSQL job queue. Where SQLite
serialises writers with ``BEGIN IMMEDIATE``, this adapter makes each write safe under concurrency by
itself: upserts are ``INSERT … ON CONFLICT``, and appending a tuning version holds a transaction-scoped
advisory lock for that guild × streamer. JSON fields are ``jsonb``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from storage.clock import utcnow
from storage.errors import RecordNotFound, StorageError
from storage.pg_db import PgDatabase, PgTransaction, Row
from storage.records import Clip, Streamer, Subscription, Tuning, Vod, Vote
from storage.repo.port import ClipDraft

_CLIP_SELECT = (
    "SELECT c.*, "
    "(SELECT COUNT(*) FROM votes v WHERE v.clip_id = c.id AND v.value = 1) AS up_votes, "
    "(SELECT COUNT(*) FROM votes v WHERE v.clip_id = c.id AND v.value = -1) AS down_votes "
    "FROM clips c")


def _streamer(r: Row) -> Streamer:
    return Streamer(id=r["id"], login=r["login"], display_name=r["display_name"], twitch_user_id=r["twitch_user_id"])


def _subscription(r: Row) -> Subscription:
    return Subscription(id=r["id"], guild_id=r["guild_id"], streamer_id=r["streamer_id"], channel_id=r["channel_id"],
                        created_by=r["created_by"], last_seen_vod=r["last_seen_vod"], enabled=bool(r["enabled"]))


def _vod(r: Row) -> Vod:
    created = r["created_at"]
    return Vod(id=r["id"], twitch_vod_id=r["twitch_vod_id"], source=r["source"], streamer_id=r["streamer_id"],
               title=r["title"], duration_s=r["duration_s"], created_at=None if created is None else created.astimezone(UTC))


def _clip(r: Row) -> Clip:
    return Clip(id=r["id"], job_id=r["job_id"], vod_id=r["vod_id"], rank=r["rank"], start_s=r["start_s"],
                end_s=r["end_s"], peak_s=r["peak_s"], score=r["score"], signals=r["signals"],
                explanation=r["explanation"], files=r["files"], message_id=r["message_id"],
                channel_id=r["channel_id"], thread_id=r["thread_id"], up_votes=int(r["up_votes"]),
                down_votes=int(r["down_votes"]))


def _vote(r: Row) -> Vote:
    return Vote(clip_id=r["clip_id"], user_id=r["user_id"], value=r["value"], voted_at=r["voted_at"].astimezone(UTC))


def _tuning(r: Row) -> Tuning:
    return Tuning(guild_id=r["guild_id"], streamer_id=r["streamer_id"], version=r["version"], params=r["params"],
                  reason=r["reason"], votes_used=r["votes_used"], created_at=r["created_at"].astimezone(UTC),
                  created_by=r["created_by"])


def _json(value: Any) -> Jsonb:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StorageError(f"value must be JSON-serialisable with finite numbers: {exc}") from exc
    return Jsonb(value)


@contextmanager
def _missing(what: str) -> Iterator[None]:
    """Turn a foreign-key violation into ``RecordNotFound`` naming what the caller referred to."""
    try:
        yield
    except psycopg.errors.ForeignKeyViolation as exc:
        raise RecordNotFound(f"{what} does not exist ({exc.diag.message_detail or exc})") from exc


def _one(row: Row | None, what: str) -> Row:
    if row is None:
        raise RecordNotFound(f"{what} does not exist")
    return row


class PostgresRepository:
    """``Repository`` on PostgreSQL (see the module docstring)."""

    def __init__(self, db: PgDatabase, *, owns_db: bool = False) -> None:
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
        row = await self._db.fetchone(
            "INSERT INTO streamers AS s (login, display_name, twitch_user_id) VALUES (%s, %s, %s) "
            "ON CONFLICT (login) DO UPDATE SET display_name = COALESCE(EXCLUDED.display_name, s.display_name), "
            "twitch_user_id = COALESCE(EXCLUDED.twitch_user_id, s.twitch_user_id) RETURNING *",
            (key, display_name, twitch_user_id))
        return _streamer(_one(row, key))

    async def get_streamer(self, streamer_id: int) -> Streamer:
        row = await self._db.fetchone("SELECT * FROM streamers WHERE id = %s", (streamer_id,))
        return _streamer(_one(row, f"streamer {streamer_id}"))

    async def find_streamer(self, login: str) -> Streamer | None:
        row = await self._db.fetchone("SELECT * FROM streamers WHERE login = %s", (login.strip().lower(),))
        return None if row is None else _streamer(row)

    async def list_streamers(self) -> list[Streamer]:
        return [_streamer(r) for r in await self._db.fetchall("SELECT * FROM streamers ORDER BY login")]

    # -- subscriptions --------------------------------------------------------------------------------
    async def subscribe(self, guild_id: str, streamer_id: int, channel_id: str, *,
                        created_by: str | None = None) -> Subscription:
        with _missing(f"streamer {streamer_id}"):
            row = await self._db.fetchone(
                "INSERT INTO subscriptions AS s (guild_id, streamer_id, channel_id, created_by, enabled, created_at) "
                "VALUES (%s, %s, %s, %s, TRUE, %s) ON CONFLICT (guild_id, streamer_id) "
                "DO UPDATE SET channel_id = EXCLUDED.channel_id, enabled = TRUE RETURNING *",
                (guild_id, streamer_id, channel_id, created_by, utcnow()))
        return _subscription(_one(row, "subscription"))

    async def unsubscribe(self, guild_id: str, streamer_id: int) -> bool:
        async with self._db.write() as tx:
            return await tx.execute("DELETE FROM subscriptions WHERE guild_id = %s AND streamer_id = %s",
                                    (guild_id, streamer_id)) > 0

    async def get_subscription(self, subscription_id: int) -> Subscription:
        row = await self._db.fetchone("SELECT * FROM subscriptions WHERE id = %s", (subscription_id,))
        return _subscription(_one(row, f"subscription {subscription_id}"))

    async def list_subscriptions(self, *, guild_id: str | None = None, streamer_id: int | None = None,
                                 enabled_only: bool = False) -> list[Subscription]:
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        if guild_id is not None:
            where.append("guild_id = %s")
            params.append(guild_id)
        if streamer_id is not None:
            where.append("streamer_id = %s")
            params.append(streamer_id)
        if enabled_only:
            where.append("enabled")
        rows = await self._db.fetchall(f"SELECT * FROM subscriptions WHERE {' AND '.join(where)} ORDER BY id", params)
        return [_subscription(r) for r in rows]

    async def _update_subscription(self, subscription_id: int, assignment: str, value: Any) -> Subscription:
        row = await self._db.fetchone(f"UPDATE subscriptions SET {assignment} WHERE id = %s RETURNING *",
                                      (value, subscription_id))
        return _subscription(_one(row, f"subscription {subscription_id}"))

    async def set_subscription_enabled(self, subscription_id: int, enabled: bool) -> Subscription:
        return await self._update_subscription(subscription_id, "enabled = %s", bool(enabled))

    async def set_last_seen_vod(self, subscription_id: int, vod_id: str) -> Subscription:
        return await self._update_subscription(subscription_id, "last_seen_vod = %s", vod_id)

    # -- VODs -----------------------------------------------------------------------------------------
    async def upsert_vod(self, *, source: str, twitch_vod_id: str | None = None, streamer_id: int | None = None,
                         title: str | None = None, duration_s: float | None = None) -> Vod:
        with _missing(f"streamer {streamer_id}"):
            async with self._db.write() as tx:
                row = await self._find_vod(tx, twitch_vod_id, source)
                if row is None:
                    # Another machine may insert the same VOD at this moment: the loser re-reads the winner's row.
                    row = await tx.fetchone(
                        "INSERT INTO vods (twitch_vod_id, source, streamer_id, title, duration_s, created_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING *",
                        (twitch_vod_id, source, streamer_id, title, duration_s, utcnow()))
                    if row is not None:
                        return _vod(row)
                    row = _one(await self._find_vod(tx, twitch_vod_id, source), f"vod {source}")
                updated = await tx.fetchone(
                    "UPDATE vods SET twitch_vod_id = COALESCE(twitch_vod_id, %s), "
                    "streamer_id = COALESCE(%s, streamer_id), title = COALESCE(%s, title), "
                    "duration_s = COALESCE(%s, duration_s) WHERE id = %s RETURNING *",
                    (twitch_vod_id, streamer_id, title, duration_s, row["id"]))
                return _vod(_one(updated, "vod"))

    @staticmethod
    async def _find_vod(tx: PgTransaction | PgDatabase, twitch_vod_id: str | None, source: str | None) -> Row | None:
        if twitch_vod_id is not None:
            row = await tx.fetchone("SELECT * FROM vods WHERE twitch_vod_id = %s", (twitch_vod_id,))
            if row is not None:
                return row
        if source is not None:
            return await tx.fetchone("SELECT * FROM vods WHERE source = %s", (source,))
        return None

    async def get_vod(self, vod_id: int) -> Vod:
        return _vod(_one(await self._db.fetchone("SELECT * FROM vods WHERE id = %s", (vod_id,)), f"vod {vod_id}"))

    async def find_vod(self, *, twitch_vod_id: str | None = None, source: str | None = None) -> Vod | None:
        row = await self._find_vod(self._db, twitch_vod_id, source)
        return None if row is None else _vod(row)

    # -- clips ----------------------------------------------------------------------------------------
    async def save_candidates(self, job_id: int, drafts: Sequence[ClipDraft], *,
                              vod_id: int | None = None) -> list[Clip]:
        ranks = [d.rank for d in drafts]
        if len(set(ranks)) != len(ranks):
            raise ValueError(f"candidate ranks must be unique, got {ranks}")
        now = utcnow()
        with _missing(f"job {job_id} or vod {vod_id}"):
            async with self._db.write() as tx:
                async with tx.conn.cursor() as cur:
                    await cur.executemany(
                        "INSERT INTO clips AS c (job_id, vod_id, rank, start_s, end_s, peak_s, score, signals, "
                        "explanation, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (job_id, rank) DO UPDATE SET vod_id = EXCLUDED.vod_id, "
                        "start_s = EXCLUDED.start_s, end_s = EXCLUDED.end_s, peak_s = EXCLUDED.peak_s, "
                        "score = EXCLUDED.score, signals = EXCLUDED.signals, explanation = EXCLUDED.explanation",
                        [(job_id, vod_id, d.rank, d.start_s, d.end_s, d.peak_s, d.score, _json(d.signals),
                          _json(d.explanation), now) for d in drafts])
                if ranks:  # like the SQLite adapter: an empty save keeps what is there
                    await tx.execute("DELETE FROM clips WHERE job_id = %s AND message_id IS NULL AND "
                                     "rank <> ALL(%s)", (job_id, ranks))
                rows = await tx.fetchall(f"{_CLIP_SELECT} WHERE c.job_id = %s ORDER BY c.rank", (job_id,))
        return [_clip(r) for r in rows]

    async def get_clip(self, clip_id: int) -> Clip:
        row = await self._db.fetchone(f"{_CLIP_SELECT} WHERE c.id = %s", (clip_id,))
        return _clip(_one(row, f"clip {clip_id}"))

    async def list_clips(self, job_id: int) -> list[Clip]:
        rows = await self._db.fetchall(f"{_CLIP_SELECT} WHERE c.job_id = %s ORDER BY c.rank", (job_id,))
        return [_clip(r) for r in rows]

    async def find_clip_by_message(self, message_id: str) -> Clip | None:
        row = await self._db.fetchone(f"{_CLIP_SELECT} WHERE c.message_id = %s ORDER BY c.id LIMIT 1",
                                      (message_id,))
        return None if row is None else _clip(row)

    async def set_clip_files(self, clip_id: int, files: Mapping[str, str]) -> Clip:
        merged = {str(k): str(v) for k, v in files.items()}
        row = await self._db.fetchone("UPDATE clips SET files = files || %s WHERE id = %s RETURNING id",
                                      (Jsonb(merged), clip_id))
        _one(row, f"clip {clip_id}")
        return await self.get_clip(clip_id)

    async def set_clip_message(self, clip_id: int, *, message_id: str, channel_id: str,
                               thread_id: str | None = None) -> Clip:
        row = await self._db.fetchone(
            "UPDATE clips SET message_id = %s, channel_id = %s, thread_id = %s WHERE id = %s RETURNING id",
            (message_id, channel_id, thread_id, clip_id))
        _one(row, f"clip {clip_id}")
        return await self.get_clip(clip_id)

    # -- votes ----------------------------------------------------------------------------------------
    async def vote(self, clip_id: int, user_id: str, value: int) -> Clip:
        if value not in (1, -1):
            raise ValueError(f"a vote is +1 or -1, not {value!r}")
        with _missing(f"clip {clip_id}"):
            await self._db.fetchone(
                "INSERT INTO votes (clip_id, user_id, value, voted_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (clip_id, user_id) DO UPDATE SET value = EXCLUDED.value, voted_at = EXCLUDED.voted_at "
                "RETURNING clip_id", (clip_id, user_id, value, utcnow()))
        return await self.get_clip(clip_id)

    async def remove_vote(self, clip_id: int, user_id: str) -> Clip:
        async with self._db.write() as tx:
            await tx.execute("DELETE FROM votes WHERE clip_id = %s AND user_id = %s", (clip_id, user_id))
        return await self.get_clip(clip_id)

    async def get_vote(self, clip_id: int, user_id: str) -> Vote | None:
        row = await self._db.fetchone("SELECT * FROM votes WHERE clip_id = %s AND user_id = %s", (clip_id, user_id))
        return None if row is None else _vote(row)

    async def list_votes(self, clip_id: int) -> list[Vote]:
        rows = await self._db.fetchall("SELECT * FROM votes WHERE clip_id = %s ORDER BY voted_at, user_id",
                                       (clip_id,))
        return [_vote(r) for r in rows]

    async def list_voted_clips(self, guild_id: str, streamer_id: int) -> list[Clip]:
        rows = await self._db.fetchall(
            f"{_CLIP_SELECT} JOIN jobs j ON j.id = c.job_id JOIN vods d ON d.id = c.vod_id "
            "WHERE j.guild_id = %s AND d.streamer_id = %s AND EXISTS (SELECT 1 FROM votes v WHERE v.clip_id = c.id) "
            "ORDER BY c.id", (guild_id, streamer_id))
        return [_clip(r) for r in rows]

    # -- tuning ---------------------------------------------------------------------------------------
    async def current_tuning(self, guild_id: str, streamer_id: int) -> Tuning | None:
        row = await self._db.fetchone("SELECT * FROM tunings WHERE guild_id = %s AND streamer_id = %s "
                                      "ORDER BY version DESC LIMIT 1", (guild_id, streamer_id))
        return None if row is None else _tuning(row)

    async def tuning_history(self, guild_id: str, streamer_id: int) -> list[Tuning]:
        rows = await self._db.fetchall("SELECT * FROM tunings WHERE guild_id = %s AND streamer_id = %s "
                                       "ORDER BY version DESC", (guild_id, streamer_id))
        return [_tuning(r) for r in rows]

    async def new_tuning_version(self, guild_id: str, streamer_id: int, params: Mapping[str, float], *,
                                 reason: str, votes_used: int = 0, by: str | None = None) -> Tuning:
        values = {str(k): float(v) for k, v in params.items()}
        with _missing(f"streamer {streamer_id}"):
            async with self._db.write() as tx:
                return await self._append_tuning(tx, guild_id, streamer_id, values, reason, votes_used, by)

    async def rollback_tuning(self, guild_id: str, streamer_id: int, version: int, *,
                              by: str | None = None) -> Tuning:
        with _missing(f"streamer {streamer_id}"):
            async with self._db.write() as tx:
                row = await tx.fetchone("SELECT params FROM tunings WHERE guild_id = %s AND streamer_id = %s "
                                        "AND version = %s", (guild_id, streamer_id, version))
                old = _one(row, f"tuning version {version} of guild {guild_id} × streamer {streamer_id}")
                return await self._append_tuning(tx, guild_id, streamer_id, old["params"],
                                                 f"rollback to version {version}", 0, by)

    @staticmethod
    async def _append_tuning(tx: PgTransaction, guild_id: str, streamer_id: int, params: dict[str, float],
                             reason: str, votes_used: int, by: str | None) -> Tuning:
        # Two machines appending at once would both read the same MAX(version): take turns per pair.
        await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                         (f"tuning:{guild_id}:{streamer_id}",))
        row = await tx.fetchone("SELECT COALESCE(MAX(version), 0) + 1 AS next FROM tunings WHERE guild_id = %s "
                                "AND streamer_id = %s", (guild_id, streamer_id))
        version = int(row["next"]) if row else 1
        new = await tx.fetchone("INSERT INTO tunings (guild_id, streamer_id, version, params, reason, votes_used, "
                                "created_by, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
                                (guild_id, streamer_id, version, _json(params), reason, int(votes_used), by,
                                 utcnow()))
        return _tuning(_one(new, "tuning"))

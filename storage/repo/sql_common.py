"""What the SQLite and PostgreSQL ``Repository`` adapters share: every query whose SQL is the same in both.

Consumes a database wrapper (``storage.sqlite_db`` or ``storage.pg_db``, seen through the protocols
of ``storage.repo.sql_dialect``) and a ``Dialect``; produces the records of ``storage.records``. The SQL here is
written once with ``?`` placeholders, which ``Dialect.sql`` rewrites to the driver's form, so it must
hold no literal ``?`` or ``%``. Writes whose SQL truly differs (upserts, ``RETURNING``, locking) stay in
the adapters, which subclass ``SqlRepository``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Generic

from storage.clock import utcnow
from storage.errors import ForeignVote, RecordNotFound, StorageError
from storage.records import Clip, Streamer, Subscription, Tuning, Vod, Vote
from storage.repo.port import ClipDraft
from storage.repo.sql_dialect import Dialect, RowLike, SqlDatabase, SqlReader, TxT, one

CLIP_SELECT = (
    "SELECT c.*, "
    "(SELECT COUNT(*) FROM votes v WHERE v.clip_id = c.id AND v.value = 1) AS up_votes, "
    "(SELECT COUNT(*) FROM votes v WHERE v.clip_id = c.id AND v.value = -1) AS down_votes "
    "FROM clips c")


class SqlRepository(ABC, Generic[TxT]):
    """The shared half of a ``Repository``; subclasses add the writes whose SQL differs."""

    dialect: Dialect

    def __init__(self, db: SqlDatabase[TxT], *, owns_db: bool = False) -> None:
        self._db = db
        self._owns_db = owns_db

    async def close(self) -> None:
        if self._owns_db:
            await self._db.close()

    # -- helpers --------------------------------------------------------------------------------------
    def _q(self, text: str) -> str:
        return self.dialect.sql(text)

    @contextmanager
    def _missing(self, what: str) -> Iterator[None]:
        """Turn a foreign-key violation into ``RecordNotFound`` naming what the caller referred to."""
        try:
            yield
        except self.dialect.foreign_key_error as exc:
            raise RecordNotFound(f"{what} does not exist ({self.dialect.foreign_key_detail(exc)})") from exc

    def _now(self) -> Any:
        return self.dialect.time_param(utcnow())

    # -- rows → records -------------------------------------------------------------------------------
    @staticmethod
    def _streamer(r: RowLike) -> Streamer:
        return Streamer(id=r["id"], login=r["login"], display_name=r["display_name"],
                        twitch_user_id=r["twitch_user_id"])

    @staticmethod
    def _subscription(r: RowLike) -> Subscription:
        return Subscription(id=r["id"], guild_id=r["guild_id"], streamer_id=r["streamer_id"],
                            channel_id=r["channel_id"], created_by=r["created_by"], last_seen_vod=r["last_seen_vod"],
                            enabled=bool(r["enabled"]))

    def _vod(self, r: RowLike) -> Vod:
        created = r["created_at"]
        return Vod(id=r["id"], twitch_vod_id=r["twitch_vod_id"], source=r["source"], streamer_id=r["streamer_id"],
                   title=r["title"], duration_s=r["duration_s"],
                   created_at=None if created is None else self.dialect.time_value(created))

    def _clip(self, r: RowLike) -> Clip:
        js = self.dialect.json_value
        return Clip(id=r["id"], job_id=r["job_id"], vod_id=r["vod_id"], rank=r["rank"], start_s=r["start_s"],
                    end_s=r["end_s"], peak_s=r["peak_s"], score=r["score"], signals=js(r["signals"]),
                    explanation=js(r["explanation"]), files=js(r["files"]), message_id=r["message_id"],
                    channel_id=r["channel_id"], thread_id=r["thread_id"], up_votes=int(r["up_votes"]),
                    down_votes=int(r["down_votes"]))

    def _vote(self, r: RowLike) -> Vote:
        return Vote(clip_id=r["clip_id"], user_id=r["user_id"], value=r["value"],
                    voted_at=self.dialect.time_value(r["voted_at"]))

    def _tuning(self, r: RowLike) -> Tuning:
        return Tuning(guild_id=r["guild_id"], streamer_id=r["streamer_id"], version=r["version"],
                      params=self.dialect.json_value(r["params"]), reason=r["reason"], votes_used=r["votes_used"],
                      created_at=self.dialect.time_value(r["created_at"]), created_by=r["created_by"])

    # -- streamers ------------------------------------------------------------------------------------
    async def upsert_streamer(self, login: str, *, display_name: str | None = None,
                              twitch_user_id: str | None = None) -> Streamer:
        key = login.strip().lower()
        if not key:
            raise StorageError("a streamer login must not be empty")
        async with self._db.write() as tx:
            await tx.execute(self._q(
                "INSERT INTO streamers AS s (login, display_name, twitch_user_id) VALUES (?, ?, ?) "
                "ON CONFLICT (login) DO UPDATE SET display_name = COALESCE(excluded.display_name, s.display_name), "
                "twitch_user_id = COALESCE(excluded.twitch_user_id, s.twitch_user_id)"),
                (key, display_name, twitch_user_id))
            row = await tx.fetchone(self._q("SELECT * FROM streamers WHERE login = ?"), (key,))
        return self._streamer(one(row, key))

    async def get_streamer(self, streamer_id: int) -> Streamer:
        row = await self._db.fetchone(self._q("SELECT * FROM streamers WHERE id = ?"), (streamer_id,))
        return self._streamer(one(row, f"streamer {streamer_id}"))

    async def find_streamer(self, login: str) -> Streamer | None:
        row = await self._db.fetchone(self._q("SELECT * FROM streamers WHERE login = ?"), (login.strip().lower(),))
        return None if row is None else self._streamer(row)

    async def list_streamers(self) -> list[Streamer]:
        return [self._streamer(r) for r in await self._db.fetchall("SELECT * FROM streamers ORDER BY login")]

    # -- subscriptions --------------------------------------------------------------------------------
    async def subscribe(self, guild_id: str, streamer_id: int, channel_id: str, *,
                        created_by: str | None = None) -> Subscription:
        true = self.dialect.true
        with self._missing(f"streamer {streamer_id}"):
            async with self._db.write() as tx:
                await tx.execute(self._q(
                    "INSERT INTO subscriptions (guild_id, streamer_id, channel_id, created_by, enabled, created_at) "
                    f"VALUES (?, ?, ?, ?, {true}, ?) ON CONFLICT (guild_id, streamer_id) "
                    f"DO UPDATE SET channel_id = excluded.channel_id, enabled = {true}"),
                    (guild_id, streamer_id, channel_id, created_by, self._now()))
                row = await tx.fetchone(self._q("SELECT * FROM subscriptions WHERE guild_id = ? AND streamer_id = ?"),
                                        (guild_id, streamer_id))
        return self._subscription(one(row, "subscription"))

    async def unsubscribe(self, guild_id: str, streamer_id: int) -> bool:
        async with self._db.write() as tx:
            return await tx.execute(self._q("DELETE FROM subscriptions WHERE guild_id = ? AND streamer_id = ?"),
                                    (guild_id, streamer_id)) > 0

    async def get_subscription(self, subscription_id: int) -> Subscription:
        row = await self._db.fetchone(self._q("SELECT * FROM subscriptions WHERE id = ?"), (subscription_id,))
        return self._subscription(one(row, f"subscription {subscription_id}"))

    async def list_subscriptions(self, *, guild_id: str | None = None, streamer_id: int | None = None,
                                 enabled_only: bool = False) -> list[Subscription]:
        where: list[str] = []
        params: list[Any] = []
        if guild_id is not None:
            where.append("guild_id = ?")
            params.append(guild_id)
        if streamer_id is not None:
            where.append("streamer_id = ?")
            params.append(streamer_id)
        if enabled_only:
            where.append(f"enabled = {self.dialect.true}")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._db.fetchall(self._q(f"SELECT * FROM subscriptions{clause} ORDER BY id"), params)
        return [self._subscription(r) for r in rows]

    async def _update_subscription(self, subscription_id: int, assignment: str, value: Any) -> Subscription:
        async with self._db.write() as tx:
            await tx.execute(self._q(f"UPDATE subscriptions SET {assignment} WHERE id = ?"), (value, subscription_id))
            row = await tx.fetchone(self._q("SELECT * FROM subscriptions WHERE id = ?"), (subscription_id,))
        return self._subscription(one(row, f"subscription {subscription_id}"))

    async def set_subscription_enabled(self, subscription_id: int, enabled: bool) -> Subscription:
        return await self._update_subscription(subscription_id, "enabled = ?", bool(enabled))

    async def set_last_seen_vod(self, subscription_id: int, vod_id: str) -> Subscription:
        return await self._update_subscription(subscription_id, "last_seen_vod = ?", vod_id)

    # -- VODs -----------------------------------------------------------------------------------------
    async def _find_vod(self, tx: SqlReader, twitch_vod_id: str | None, source: str | None) -> RowLike | None:
        if twitch_vod_id is not None:
            row = await tx.fetchone(self._q("SELECT * FROM vods WHERE twitch_vod_id = ?"), (twitch_vod_id,))
            if row is not None:
                return row
        if source is not None:
            return await tx.fetchone(self._q("SELECT * FROM vods WHERE source = ?"), (source,))
        return None

    async def get_vod(self, vod_id: int) -> Vod:
        row = await self._db.fetchone(self._q("SELECT * FROM vods WHERE id = ?"), (vod_id,))
        return self._vod(one(row, f"vod {vod_id}"))

    async def find_vod(self, *, twitch_vod_id: str | None = None, source: str | None = None) -> Vod | None:
        row = await self._find_vod(self._db, twitch_vod_id, source)
        return None if row is None else self._vod(row)

    async def upsert_vod(self, *, source: str, twitch_vod_id: str | None = None, streamer_id: int | None = None,
                         title: str | None = None, duration_s: float | None = None) -> Vod:
        with self._missing(f"streamer {streamer_id}"):
            async with self._db.write() as tx:
                row = await self._find_vod(tx, twitch_vod_id, source)
                if row is None:
                    row = await self._insert_vod(tx, self._q(
                        "INSERT INTO vods (twitch_vod_id, source, streamer_id, title, duration_s, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)"), (twitch_vod_id, source, streamer_id, title, duration_s, self._now()))
                    if row is not None:
                        return self._vod(row)
                    row = one(await self._find_vod(tx, twitch_vod_id, source), f"vod {source}")
                return self._vod(await self._update_vod(tx, self._q(
                    "UPDATE vods SET twitch_vod_id = COALESCE(twitch_vod_id, ?), "
                    "streamer_id = COALESCE(?, streamer_id), title = COALESCE(?, title), "
                    "duration_s = COALESCE(?, duration_s) WHERE id = ?"),
                    (twitch_vod_id, streamer_id, title, duration_s, row["id"])))

    @abstractmethod
    async def _insert_vod(self, tx: TxT, sql: str, params: Sequence[Any]) -> RowLike | None:
        """Run ``sql``, the INSERT of a new VOD; return its row, or None where another writer inserted the
        same VOD first."""

    @abstractmethod
    async def _update_vod(self, tx: TxT, sql: str, params: Sequence[Any]) -> RowLike:
        """Run ``sql``, the UPDATE of the VOD whose id is the last of ``params``; return its row after it."""

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

"""Shared SQL queries about streamers, their subscriptions and their VODs (SQLite and PostgreSQL alike).

Consumes the database through :class:`~storage.repo.sql_base.SqlBase`; produces ``Streamer``,
``Subscription`` and ``Vod`` records. SQL is written once with ``?`` placeholders (see
``storage.repo.sql_common``); the VOD insert and update, whose SQL differs, are left to the adapters.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from storage.errors import StorageError
from storage.records import Streamer, Subscription, Vod
from storage.repo.sql_base import SqlBase
from storage.repo.sql_dialect import RowLike, SqlReader, TxT, one


class SqlStreamers(SqlBase[TxT]):
    """Streamers, subscriptions and VODs."""

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

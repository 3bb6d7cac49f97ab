"""The SQL ``Repository`` adapters' foundation: the database, its dialect, and rows turned into records.

Consumes a database wrapper (``storage.sqlite_db`` or ``storage.pg_db``, seen through the protocols
of ``storage.repo.sql_dialect``) and a ``Dialect``; produces the records of ``storage.records`` from
its rows. The query groups (``sql_streamers``, ``sql_clips``) build on :class:`SqlBase`, and
``sql_common.SqlRepository`` joins them.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Generic

from storage.clock import utcnow
from storage.errors import RecordNotFound
from storage.records import Clip, Streamer, Subscription, Tuning, Vod, Vote
from storage.repo.sql_dialect import Dialect, RowLike, SqlDatabase, TxT

CLIP_SELECT = (
    "SELECT c.*, "
    "(SELECT COUNT(*) FROM votes v WHERE v.clip_id = c.id AND v.value = 1) AS up_votes, "
    "(SELECT COUNT(*) FROM votes v WHERE v.clip_id = c.id AND v.value = -1) AS down_votes "
    "FROM clips c")


class SqlBase(ABC, Generic[TxT]):
    """The database, its dialect, and rows turned into records: what every group of queries uses."""

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

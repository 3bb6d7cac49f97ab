"""The bot's own small state: guild settings, live job cards, and each job's posting progress.

Consumes nothing but its file; produces records for the cogs, the card tracker and the poster. The
shared database holds jobs, clips (with their Discord message ids) and votes; what only the bot
needs lives here, in one JSON file written atomically (a temporary file, then a rename), so a
crash leaves either the old or the new state. Clip message ids stay in the database: a lost state
file never makes the poster post a clip twice, it only forgets threads and settings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VERSION = 1


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """What an admin set with /setup (None: the bot's default)."""

    clip_channel_id: str | None = None
    """Where clip threads are created (None: the channel the job was requested in)."""
    requester_role_ids: tuple[str, ...] = ()
    """Roles allowed to request jobs (empty: everyone)."""
    requests_per_hour: int | None = None
    active_jobs_per_user: int | None = None


@dataclass(frozen=True, slots=True)
class CardRef:
    """A job card message the bot keeps up to date."""

    job_id: int
    message_id: str
    """Empty while the card is being sent: saved first, so a crash before the id is known leaves a trace that
    the next start resolves from the channel's history (``bot.cards``)."""
    channel_id: str
    created_at: float = field(default_factory=time.time)
    """Unix time the card was sent (its interaction token lasts 15 minutes from about then)."""


@dataclass(frozen=True, slots=True)
class JobPost:
    """How far posting a finished job has come."""

    job_id: int
    thread_id: str | None = None
    reel_message_id: str | None = None
    done: bool = False
    updated_at: float = field(default_factory=time.time)
    problem: str | None = None
    """What Discord refused and what a moderator can do about it (shown on the job card and in /jobs)."""
    stopped: bool = False
    """Posting gave up after Discord refused it several times; /setup, once the problem is fixed, resumes it."""


class BotState:
    """The state file (see the module docstring); every method is a coroutine, writes are serialised."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()
        self._data: dict[str, Any] = {"version": VERSION, "guilds": {}, "cards": [], "posts": {}}
        self._loaded = False

    async def load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        try:
            raw = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        except FileNotFoundError:
            return
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            broken = self.path.with_suffix(self.path.suffix + ".broken")
            log.warning("bot state %s is unreadable (%s); starting afresh and keeping it as %s", self.path, exc, broken)
            await asyncio.to_thread(os.replace, self.path, broken)
            return
        for key in ("guilds", "posts"):
            self._data[key] = dict(data.get(key) or {})
        self._data["cards"] = list(data.get("cards") or [])

    # -- guilds -----------------------------------------------------------------------------------------
    async def guild(self, guild_id: str) -> GuildSettings:
        await self.load()
        raw = self._data["guilds"].get(str(guild_id)) or {}
        return GuildSettings(clip_channel_id=raw.get("clip_channel_id"),
                             requester_role_ids=tuple(raw.get("requester_role_ids") or ()),
                             requests_per_hour=raw.get("requests_per_hour"),
                             active_jobs_per_user=raw.get("active_jobs_per_user"))

    async def set_guild(self, guild_id: str, settings: GuildSettings) -> None:
        async with self._lock:
            await self.load()
            value = asdict(settings)
            value["requester_role_ids"] = list(settings.requester_role_ids)
            self._data["guilds"][str(guild_id)] = value
            await self._save()

    # -- cards ------------------------------------------------------------------------------------------
    async def cards(self) -> list[CardRef]:
        await self.load()
        return [CardRef(**c) for c in self._data["cards"]]

    async def add_card(self, card: CardRef) -> None:
        async with self._lock:
            await self.load()
            self._data["cards"].append(asdict(card))
            await self._save()

    async def replace_card(self, old: CardRef, new: CardRef) -> None:
        """Swap ``old`` for ``new`` in one write (a sent card gets its message id)."""
        async with self._lock:
            await self.load()
            cards = [c for c in self._data["cards"] if not _same_card(c, old)]
            self._data["cards"] = [*cards, asdict(new)]
            await self._save()

    async def remove_card(self, card: CardRef) -> None:
        async with self._lock:
            await self.load()
            self._data["cards"] = [c for c in self._data["cards"] if not _same_card(c, card)]
            await self._save()

    # -- posts ------------------------------------------------------------------------------------------
    async def post(self, job_id: int) -> JobPost:
        await self.load()
        raw = self._data["posts"].get(str(job_id))
        return JobPost(job_id=job_id) if raw is None else JobPost(**raw)

    async def stopped_posts(self) -> list[JobPost]:
        await self.load()
        return [JobPost(**raw) for raw in self._data["posts"].values() if raw.get("stopped")]

    async def set_post(self, post: JobPost) -> JobPost:
        async with self._lock:
            await self.load()
            post = replace(post, updated_at=time.time())
            self._data["posts"][str(post.job_id)] = asdict(post)
            await self._save()
            return post

    async def prune_posts(self, older_than_s: float) -> int:
        """Forget finished posting records older than ``older_than_s`` (their clips keep their ids)."""
        async with self._lock:
            await self.load()
            cutoff = time.time() - older_than_s
            old = [k for k, v in self._data["posts"].items() if v.get("done") and v.get("updated_at", 0) < cutoff]
            for k in old:
                del self._data["posts"][k]
            if old:
                await self._save()
            return len(old)

    async def _save(self) -> None:
        text = json.dumps(self._data, indent=1, sort_keys=True)
        await asyncio.to_thread(_write_atomic, self.path, text)


def _same_card(raw: dict[str, Any], card: CardRef) -> bool:
    return bool(raw["job_id"] == card.job_id and raw["message_id"] == card.message_id
                and raw["channel_id"] == card.channel_id)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

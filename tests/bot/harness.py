"""The bot under test: the real ``HighlightsBot`` logged in against the REST double, with a gateway feeder.

``BotHarness.start`` opens real SQLite storage, starts ``DiscordDouble``, points discord.py's REST
base URL at it, logs the bot in (which runs ``setup_hook``: cogs, dynamic items, command sync, the
card and poster loops) and feeds a GUILD_CREATE. ``slash``/``click``/``autocomplete`` build
interaction payloads as Discord's gateway would send them and hand them to the client's own
INTERACTION_CREATE parser; the double then records what the bot answers.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.client import HighlightsBot
from bot.config import BotConfig
from highlights.doubles.discord import (
    APP_ID,
    BOT_ROLE_ID,
    BOT_USER,
    CHANNEL_ID,
    GUILD_ID,
    OTHER_CHANNEL_ID,
    TOKEN,
    DiscordDouble,
)
from storage.artifacts import ArtifactStore
from storage.factory import Storage, open_storage
from storage.tuning import TuningOptions
from storage.url import sqlite_url

ADMIN_PERMS = discord.Permissions(manage_guild=True, send_messages=True).value
MEMBER_PERMS = discord.Permissions(send_messages=True, view_channel=True).value
ROLE_ID = 1300000000000000001
OPTION_TYPES = {str: 3, int: 4, bool: 5}
HANDLERS = ("CommandTree-invoker", "discord-ui-")
"""Names discord.py gives the tasks that run a slash command or a component's callback."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    roles: tuple[int, ...] = ()
    admin: bool = False

    def member(self) -> dict[str, Any]:
        return {"user": {"id": str(self.id), "username": self.name, "discriminator": "0", "global_name": None,
                         "avatar": None}, "roles": [str(r) for r in self.roles], "nick": None, "avatar": None,
                "joined_at": datetime.now(UTC).isoformat(), "deaf": False, "mute": False, "flags": 0,
                "pending": False, "premium_since": None,
                "permissions": str(ADMIN_PERMS if self.admin else MEMBER_PERMS)}


ALICE = User(1400000000000000001, "alice")
BOB = User(1400000000000000002, "bob")
ADMIN = User(1400000000000000003, "admin", admin=True)


def voters(n: int) -> list[User]:
    return [User(1500000000000000000 + i, f"voter{i}") for i in range(n)]


@dataclass
class BotHarness:
    double: DiscordDouble
    storage: Storage
    bot: HighlightsBot
    config: BotConfig
    tokens: list[str] = field(default_factory=list)
    owns_storage: bool = True
    premium_tier: int = 0

    @classmethod
    async def start(cls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, premium_tier: int = 0,
                    media_root: Path | None = None, storage: Storage | None = None, **overrides: Any) -> BotHarness:
        double = DiscordDouble(premium_tier=premium_tier, token=str(overrides.get("token") or TOKEN))
        monkeypatch.setattr(discord.http.Route, "BASE", await double.start())
        url = sqlite_url(tmp_path / "bot.db")
        owns = storage is None
        storage = storage or await open_storage(url)
        values: dict[str, Any] = {
            "artifacts": ArtifactStore.for_storage(url), "state_path": tmp_path / "bot-state.json",
            "token": TOKEN, "media_root": media_root, "card_poll_s": 0.05, "card_edit_interval_s": 0.3,
            "post_poll_s": 0.1, "tuning": TuningOptions(min_votes=6, min_clips=2, min_voters=3), "retune_every": 1,
        }
        values.update(overrides)
        config = BotConfig(**values)
        harness = cls(double, storage, None, config, owns_storage=owns, premium_tier=premium_tier)  # type: ignore[arg-type]
        await harness.connect()
        return harness

    async def connect(self) -> None:
        """A new bot: log in (REST), then READY and GUILD_CREATE as the gateway sends them, until ready."""
        self.bot = HighlightsBot(self.storage.queue, self.storage.repo, self.config, guild_ready_timeout=0.05)
        await self.bot.login(self.config.token or TOKEN)
        self.dispatch("READY", {"v": 10, "user": BOT_USER, "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
                                "session_id": "session", "resume_gateway_url": "wss://gateway.invalid",
                                "application": {"id": str(APP_ID), "flags": 0}})
        self.guild_create()
        await asyncio.wait_for(self.bot.wait_until_ready(), 60.0)

    async def restart(self, **overrides: Any) -> None:
        """Stop the bot once the interactions fed so far are handled, and start a new one on the same storage,
        state file and Discord double."""
        await self.idle()
        await self.bot.close()
        if overrides:
            self.config = BotConfig(**{**{f: getattr(self.config, f) for f in BotConfig.__dataclass_fields__},
                                       **overrides})
        await self.connect()

    async def close(self) -> None:
        await self.idle()
        await self.bot.close()
        await self.double.close()
        if self.owns_storage:
            await self.storage.close()

    # -- gateway events ---------------------------------------------------------------------------------
    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Deliver ``data`` as the gateway's ``event`` (the client's own parser, as its websocket would)."""
        self.bot._connection.parsers[event](data)

    def guild_create(self, premium_tier: int | None = None) -> None:
        """GUILD_CREATE as the gateway sends it to a bot with the guilds intent: channels with their overwrites,
        roles (the bot's managed role among them) and the bot's own member (the only member sent)."""
        if premium_tier is None:
            premium_tier = self.premium_tier
        self.premium_tier = self.double.premium_tier = premium_tier
        channels = [c for c in self.double.channels.values() if c["type"] == 0]
        me = {"user": BOT_USER, "roles": [str(r) for r in self.double.guild.bot_roles], "nick": None, "avatar": None,
              "joined_at": datetime.now(UTC).isoformat(), "deaf": False, "mute": False, "flags": 0, "pending": False,
              "premium_since": None}
        self.dispatch("GUILD_CREATE", {
            "id": str(GUILD_ID), "name": "test guild", "icon": None, "owner_id": str(ADMIN.id), "unavailable": False,
            "member_count": 3, "large": False, "premium_tier": premium_tier, "features": [], "emojis": [],
            "stickers": [], "channels": channels, "threads": [], "members": [me], "voice_states": [],
            "presences": [], "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
            "roles": [*self.double.guild.role_payloads(),
                      {"id": str(ROLE_ID), "name": "requesters", "permissions": "0", "position": 9, "color": 0,
                       "hoist": False, "managed": False, "mentionable": False, "flags": 0}],
            "joined_at": datetime.now(UTC).isoformat(), "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0, "preferred_locale": "en-US",
            "afk_timeout": 300, "afk_channel_id": None, "system_channel_id": None, "system_channel_flags": 0,
            "premium_subscription_count": 0, "max_members": 1000, "vanity_url_code": None, "banner": None,
            "splash": None, "discovery_splash": None, "description": None, "rules_channel_id": None,
            "public_updates_channel_id": None, "application_id": None,
        })

    def set_bot_overwrite(self, channel_id: int, *, allow: int = 0, deny: int = 0) -> None:
        """A moderator edits the bot role's permissions in a channel; the bot hears it as CHANNEL_UPDATE."""
        channel = self.double.set_overwrite(channel_id, BOT_ROLE_ID, allow=allow, deny=deny)
        self.dispatch("CHANNEL_UPDATE", channel)

    def add_channel(self, channel: dict[str, Any]) -> None:
        """A new text channel (CHANNEL_CREATE)."""
        self.double.channels[int(channel["id"])] = channel
        self.dispatch("CHANNEL_CREATE", channel)

    def _base(self, kind: int, user: User, channel_id: int, data: dict[str, Any], *, guild: bool = True
              ) -> dict[str, Any]:
        token = "tok-" + secrets.token_hex(8)
        payload: dict[str, Any] = {
            "id": str(self.double.snowflake()), "application_id": str(APP_ID), "type": kind, "token": token,
            "version": 1, "channel_id": str(channel_id), "data": data, "locale": "en-US",
            "app_permissions": str(self.double.bot_permissions(channel_id) if channel_id in self.double.channels else 0),
            "entitlements": [], "authorizing_integration_owners": {"0": str(GUILD_ID)}, "context": 0,
            "attachment_size_limit": self.double.upload_limit(),
            "channel": {**self.double.channels.get(channel_id, {}), "permissions": str(MEMBER_PERMS)},
        }
        if guild:
            payload.update(guild_id=str(GUILD_ID), guild_locale="en-US", member=user.member())
        else:
            payload["user"] = user.member()["user"]
            payload["context"] = 1
            payload["channel"] = {"id": str(channel_id), "type": 1}
        self.tokens.append(token)
        return payload

    def slash(self, name: str, user: User = ALICE, *, sub: str | None = None, channel_id: int = CHANNEL_ID,
              guild: bool = True, resolved: dict[str, Any] | None = None, **options: Any) -> str:
        """Feed a slash command ``/name [sub] option:value…``; return the interaction token."""
        opts = [{"name": k, "type": _option_type(k, v), "value": v} for k, v in options.items() if v is not None]
        if sub is not None:
            opts = [{"name": sub, "type": 1, "options": opts}]
        data: dict[str, Any] = {"id": str(self.double.snowflake()), "name": name, "type": 1, "options": opts}
        if resolved:
            data["resolved"] = resolved
        payload = self._base(2, user, channel_id, data, guild=guild)
        self.double.register(payload)
        self.dispatch("INTERACTION_CREATE", payload)
        return payload["token"]

    def autocomplete(self, name: str, focused: str, typed: str, user: User = ALICE, sub: str | None = None) -> str:
        opts: list[dict[str, Any]] = [{"name": focused, "type": 3, "value": typed, "focused": True}]
        if sub is not None:
            opts = [{"name": sub, "type": 1, "options": opts}]
        payload = self._base(4, user, CHANNEL_ID, {"id": str(self.double.snowflake()), "name": name, "type": 1,
                                                   "options": opts})
        self.double.register(payload)
        self.dispatch("INTERACTION_CREATE", payload)
        return payload["token"]

    def click(self, message: dict[str, Any], custom_id: str, user: User = ALICE) -> str:
        """Feed a button click on ``message`` (as the double stored it)."""
        payload = self._base(3, user, int(message["channel_id"]), {"custom_id": custom_id, "component_type": 2})
        payload["message"] = message
        self.double.register(payload)
        self.dispatch("INTERACTION_CREATE", payload)
        return payload["token"]

    # -- waiting on the bot -----------------------------------------------------------------------------
    async def answer(self, token: str, timeout: float = 60.0) -> str:
        """The text the user finally sees for ``token`` (its original response, after any edit)."""
        def done() -> str | None:
            msg = self.double.original(token)
            cb = self.double.callback(token)
            if cb is None or msg is None:
                return None
            if cb.body and cb.body.get("type") == 5 and self.double.interactions[token].deferred_pending:
                return None
            return msg["content"] or None
        return str(await self.double.wait_for(done, timeout, f"the answer to {token}"))

    async def ephemeral_followup(self, token: str, timeout: float = 60.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for r in self.double.requests:
                if r.method == "POST" and r.path.endswith(f"/{token}") and r.body and r.body.get("flags") == 64:
                    return r.body
            return None
        return await self.double.wait_for(found, timeout, f"an ephemeral follow-up of {token}")

    async def idle(self, timeout: float = 60.0) -> None:
        """Wait until the bot has handled every interaction fed so far (its handler tasks ended)."""
        mine = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not mine and t.get_name().startswith(HANDLERS)]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)


def _option_type(name: str, value: Any) -> int:
    if name in ("clip_channel", "channel"):
        return 7
    if name in ("allow_role", "disallow_role"):
        return 8
    return OPTION_TYPES[type(value)]


__all__ = ["ADMIN", "ALICE", "BOB", "BotHarness", "CHANNEL_ID", "GUILD_ID", "OTHER_CHANNEL_ID", "ROLE_ID", "User",
           "voters"]

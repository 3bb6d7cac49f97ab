"""The bot for ``highlights bench e2e``: the real ``HighlightsBot`` logged in against the Discord double.

Consumes open storage, an artifact store and a folder for the bot's state; starts
:class:`~highlights.doubles.discord.DiscordDouble`, points discord.py's REST base URL at it, logs the
bot in (``setup_hook``: cogs, command sync, the card and poster loops) and delivers READY and
GUILD_CREATE through the client's own gateway parsers, as its websocket would. :meth:`E2eBot.slash`
feeds ``/highlights`` as Discord's gateway sends an application command; the double records what the
bot answers and posts. The same shapes as the test harness (tests/bot/harness.py), kept small: one
guild, one requester, one command.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord

from bot.client import HighlightsBot
from bot.config import BotConfig
from highlights.doubles.discord import APP_ID, BOT_USER, CHANNEL_ID, GUILD_ID, TOKEN, DiscordDouble
from storage.artifacts import ArtifactStore
from storage.factory import Storage

REQUESTER = {"id": "1400000000000000001", "username": "alice", "discriminator": "0", "global_name": None,
             "avatar": None}
MEMBER_PERMS = discord.Permissions(send_messages=True, view_channel=True).value
READY_TIMEOUT_S = 60.0


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class E2eBot:
    """The bot, the double it talks to, and the REST base URL it replaced (restored by :meth:`close`)."""

    double: DiscordDouble
    bot: HighlightsBot
    config: BotConfig
    _base: str

    @classmethod
    async def start(cls, storage: Storage, artifacts: ArtifactStore, folder: Path, queue: Any = None) -> E2eBot:
        """``queue``: what the bot enqueues on (default the storage's queue; the bench passes a wrapper)."""
        double = DiscordDouble(token=TOKEN)
        base = discord.http.Route.BASE
        discord.http.Route.BASE = await double.start()
        config = BotConfig(artifacts=artifacts, state_path=folder / "bot-state.json", token=TOKEN,
                           card_poll_s=0.2, card_edit_interval_s=1.0, post_poll_s=0.2)
        bot = HighlightsBot(queue or storage.queue, storage.repo, config, guild_ready_timeout=0.05)
        self = cls(double, bot, config, base)
        try:
            await bot.login(TOKEN)
            self._dispatch("READY", {"v": 10, "user": BOT_USER, "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
                                     "session_id": "session", "resume_gateway_url": "wss://gateway.invalid",
                                     "application": {"id": str(APP_ID), "flags": 0}})
            self._guild_create()
            await asyncio.wait_for(bot.wait_until_ready(), READY_TIMEOUT_S)
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        try:
            await self.bot.close()
            await self.double.close()
        finally:
            discord.http.Route.BASE = self._base

    def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.bot._connection.parsers[event](data)

    def _guild_create(self) -> None:
        """GUILD_CREATE as the gateway sends it to a bot with the guilds intent (its own member only)."""
        me = {"user": BOT_USER, "roles": [str(r) for r in self.double.guild.bot_roles], "nick": None, "avatar": None,
              "joined_at": _now(), "deaf": False, "mute": False, "flags": 0, "pending": False, "premium_since": None}
        self._dispatch("GUILD_CREATE", {
            "id": str(GUILD_ID), "name": "bench guild", "icon": None, "owner_id": REQUESTER["id"], "unavailable": False,
            "member_count": 2, "large": False, "premium_tier": 0, "features": [], "emojis": [], "stickers": [],
            "channels": [c for c in self.double.channels.values() if c["type"] == 0], "threads": [], "members": [me],
            "voice_states": [], "presences": [], "stage_instances": [], "guild_scheduled_events": [],
            "soundboard_sounds": [], "roles": self.double.guild.role_payloads(), "joined_at": _now(),
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "mfa_level": 0, "nsfw_level": 0, "preferred_locale": "en-US", "afk_timeout": 300, "afk_channel_id": None,
            "system_channel_id": None, "system_channel_flags": 0, "premium_subscription_count": 0,
            "max_members": 1000, "vanity_url_code": None, "banner": None, "splash": None, "discovery_splash": None,
            "description": None, "rules_channel_id": None, "public_updates_channel_id": None, "application_id": None,
        })

    def slash_highlights(self, vod: str, top: int) -> str:
        """Feed ``/highlights vod:<vod> top:<top>`` from the requester; the interaction token."""
        token = "tok-" + secrets.token_hex(8)
        member: dict[str, Any] = {"user": REQUESTER, "roles": [], "nick": None, "avatar": None, "joined_at": _now(), "deaf": False,
                  "mute": False, "flags": 0, "pending": False, "premium_since": None, "permissions": str(MEMBER_PERMS)}
        payload: dict[str, Any] = {
            "id": str(self.double.snowflake()), "application_id": str(APP_ID), "type": 2, "token": token,
            "version": 1, "channel_id": str(CHANNEL_ID), "guild_id": str(GUILD_ID), "guild_locale": "en-US",
            "member": member, "locale": "en-US", "entitlements": [], "context": 0,
            "authorizing_integration_owners": {"0": str(GUILD_ID)},
            "app_permissions": str(self.double.bot_permissions(CHANNEL_ID)),
            "attachment_size_limit": self.double.upload_limit(),
            "channel": {**self.double.channels[CHANNEL_ID], "permissions": str(MEMBER_PERMS)},
            "data": {"id": str(self.double.snowflake()), "name": "highlights", "type": 1,
                     "options": [{"name": "vod", "type": 3, "value": vod}, {"name": "top", "type": 4, "value": top}]},
        }
        self.double.register(payload)
        self._dispatch("INTERACTION_CREATE", payload)
        return token

    async def answer(self, token: str, timeout: float = 120.0) -> str:
        """The text the requester finally sees for ``token`` (after a deferral is resolved)."""
        def done() -> str | None:
            msg, cb = self.double.original(token), self.double.callback(token)
            if cb is None or msg is None:
                return None
            if isinstance(cb.body, dict) and cb.body.get("type") == 5 and self.double.interactions[token].deferred_pending:
                return None
            return msg["content"] or None
        return str(await self.double.wait_for(done, timeout, f"the answer to {token}"))

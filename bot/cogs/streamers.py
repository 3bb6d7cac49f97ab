"""Autocomplete of streamer logins: the streamers this guild subscribed to, filtered by what is typed."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from storage.errors import StorageError

if TYPE_CHECKING:
    from bot.client import HighlightsBot

log = logging.getLogger(__name__)


async def subscribed_streamers(client: HighlightsBot, interaction: discord.Interaction[Any], current: str
                               ) -> list[app_commands.Choice[str]]:
    if interaction.guild_id is None:
        return []
    try:
        subs = await client.repo.list_subscriptions(guild_id=str(interaction.guild_id))
        logins = sorted({(await client.repo.get_streamer(s.streamer_id)).login for s in subs})
    except StorageError as exc:
        log.warning("streamer autocomplete failed: %s", exc)
        return []
    typed = current.strip().lower()
    return [app_commands.Choice(name=login, value=login) for login in logins if typed in login][:25]

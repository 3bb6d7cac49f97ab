"""Slash commands /highlights, /cancel and /jobs: option parsing and autocomplete around ``bot.requests``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.streamers import subscribed_streamers

if TYPE_CHECKING:
    from bot.client import HighlightsBot

Choice = app_commands.Choice


class RequestsCog(commands.Cog):
    def __init__(self, client: HighlightsBot) -> None:
        self.client = client

    @app_commands.command(name="highlights", description="Find the highlights of a Twitch VOD and post them here")
    @app_commands.describe(vod="Twitch VOD link or id, a channel (its newest VOD), or a file in the bot's media folder",
                           top="How many clips to post (1–25)", layout="Video layout of the clips",
                           captions="Burn captions into the clips", streamer="Whose VOD it is (for tuning)")
    @app_commands.choices(layout=[Choice(name="16:9 landscape", value="16:9"), Choice(name="9:16 vertical", value="9:16")])
    @app_commands.guild_only()
    async def highlights(self, interaction: discord.Interaction[Any], vod: str,
                         top: Optional[app_commands.Range[int, 1, 25]] = None,  # noqa: UP045 (evaluated by discord.py)
                         layout: Optional[str] = None, captions: Optional[bool] = None,  # noqa: UP045
                         streamer: Optional[str] = None) -> None:  # noqa: UP045
        await self.client.requests.highlights(interaction, vod, top=top, layout=layout, captions=captions,
                                              streamer=streamer)

    @highlights.autocomplete("streamer")
    async def _streamer(self, interaction: discord.Interaction[Any], current: str) -> list[Choice[str]]:
        return await subscribed_streamers(self.client, interaction, current)

    @app_commands.command(name="cancel", description="Cancel a highlights job you requested")
    @app_commands.describe(job="The job number (its card shows it)")
    @app_commands.guild_only()
    async def cancel(self, interaction: discord.Interaction[Any], job: int) -> None:
        await self.client.requests.cancel(interaction, job)

    @cancel.autocomplete("job")
    async def _job(self, interaction: discord.Interaction[Any], current: str) -> list[Choice[int]]:
        try:
            found = await self.client.requests.cancellable(interaction, current)
        except Exception:  # autocomplete must never fail loudly; an empty list is a fine answer
            return []
        return [Choice(name=name, value=value) for name, value in found[:25]]

    @app_commands.command(name="jobs", description="Jobs waiting, running and recently finished in this server")
    @app_commands.guild_only()
    async def jobs(self, interaction: discord.Interaction[Any]) -> None:
        await self.client.requests.jobs(interaction)

"""/autoclip add|remove|list: which streamers' new VODs this guild processes without anyone asking.

Consumes the command options; produces subscriptions through the repository (the scheduler reads
them and enqueues the newest VOD of each). Adding and removing need Manage Server. With Twitch
credentials, ``add`` checks the login with Helix (an unknown one is refused) and stores the
streamer's Twitch user id and display name; when Twitch does not answer, the subscription is made
unchecked (the scheduler's first poll looks the login up again) and the answer says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.streamers import subscribed_streamers
from bot.errors import NotFound
from bot.permissions import require_admin, require_guild
from bot.replies import tell
from bot.requests import check_login
from bot.twitch_checks import display

if TYPE_CHECKING:
    from bot.client import HighlightsBot


class AutoclipCog(commands.GroupCog, group_name="autoclip", group_description="Process streamers' new VODs automatically"):
    def __init__(self, client: HighlightsBot) -> None:
        self.client = client
        super().__init__()

    @app_commands.command(name="add", description="Process each new VOD of a streamer and post the clips")
    @app_commands.describe(streamer="Twitch login", channel="Where the clips go (default: this channel)")
    async def add(self, interaction: discord.Interaction[Any], streamer: str,
                  channel: Optional[discord.TextChannel] = None) -> None:  # noqa: UP045
        guild_id = require_guild(interaction)
        require_admin(interaction, "subscribe to streamers")
        login = check_login(streamer)
        await interaction.response.defer(ephemeral=True, thinking=True)
        user = await self.client.twitch.user(login)  # NotFound for an unknown login; None: not checked
        record = await self.client.repo.upsert_streamer(login, display_name=user.display_name if user else None,
                                                        twitch_user_id=user.id if user else None)
        target = channel.id if channel is not None else interaction.channel_id
        await self.client.repo.subscribe(guild_id, record.id, str(target), created_by=str(interaction.user.id))
        unchecked = (" Twitch did not answer just now, so the login is not checked yet; the first poll checks it."
                     if user is None and self.client.twitch.enabled else "")
        await tell(interaction, f"New VODs of **{display(user) if user else login}** will be processed and their clips "
                                f"posted in <#{target}>.{unchecked}")

    @app_commands.command(name="remove", description="Stop processing a streamer's new VODs")
    @app_commands.describe(streamer="Twitch login")
    async def remove(self, interaction: discord.Interaction[Any], streamer: str) -> None:
        guild_id = require_guild(interaction)
        require_admin(interaction, "unsubscribe from streamers")
        login = check_login(streamer)
        await interaction.response.defer(ephemeral=True, thinking=True)
        record = await self.client.repo.find_streamer(login)
        if record is None or not await self.client.repo.unsubscribe(guild_id, record.id):
            raise NotFound(f"This server is not subscribed to **{login}**. /autoclip list shows who is.")
        await tell(interaction, f"Stopped processing new VODs of **{login}**.")

    @app_commands.command(name="list", description="Streamers whose new VODs are processed here")
    async def list_(self, interaction: discord.Interaction[Any]) -> None:
        guild_id = require_guild(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        subs = await self.client.repo.list_subscriptions(guild_id=guild_id)
        if not subs:
            await tell(interaction, "No streamers yet. An admin adds one with /autoclip add.")
            return
        lines = []
        for sub in subs:
            login = (await self.client.repo.get_streamer(sub.streamer_id)).login
            paused = "" if sub.enabled else " (paused)"
            lines.append(f"**{login}** → <#{sub.channel_id}>{paused}")
        await tell(interaction, "\n".join(lines))

    @add.autocomplete("streamer")
    @remove.autocomplete("streamer")
    async def _streamer(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        return await subscribed_streamers(self.client, interaction, current)

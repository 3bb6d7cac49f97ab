"""/tuning show|reset|rollback: what the community's votes changed for a streamer, and undoing it.

Consumes the command options; reads and appends tuning versions through the repository. Reset and
rollback need Manage Server; each becomes a new version (the history is never rewritten), and
votes cast before it no longer count (``bot.tuner``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.streamers import subscribed_streamers
from bot.errors import NotFound
from bot.permissions import require_admin, require_guild
from bot.replies import tell
from bot.requests import check_login
from storage.errors import RecordNotFound
from storage.records import Streamer, Tuning
from storage.tuning import defaults

if TYPE_CHECKING:
    from bot.client import HighlightsBot

HISTORY_SHOWN = 5


def describe(tuning: Tuning) -> str:
    """The parameters a version sets that differ from the defaults."""
    base = defaults()
    changed = [f"{k} {base[k]:g}→{v:g}" for k, v in sorted(tuning.params.items()) if k in base and v != base[k]]
    return ", ".join(changed) or "the defaults"


class TuningCog(commands.GroupCog, group_name="tuning", group_description="How votes tuned the detector"):
    def __init__(self, client: HighlightsBot) -> None:
        self.client = client
        super().__init__()

    async def _streamer(self, login: str) -> Streamer:
        record = await self.client.repo.find_streamer(check_login(login))
        if record is None:
            raise NotFound(f"No streamer **{login[:40]}** is known here yet.")
        return record

    @app_commands.command(name="show", description="The current tuning of a streamer and its history")
    @app_commands.describe(streamer="Twitch login")
    async def show(self, interaction: discord.Interaction[Any], streamer: str) -> None:
        guild_id = require_guild(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        record = await self._streamer(streamer)
        history = await self.client.repo.tuning_history(guild_id, record.id)
        if not history:
            need = self.client.config.tuning.min_votes
            await tell(interaction, f"**{record.login}** is not tuned yet: tuning starts after {need} votes on "
                                    "posted clips.")
            return
        current = history[0]
        lines = [f"**{record.login}**: version {current.version}, tuned from {current.votes_used} votes",
                 f"Sets: {describe(current)}", f"Why: {current.reason}", "History:"]
        for t in history[:HISTORY_SHOWN]:
            lines.append(f"v{t.version} {t.created_at:%Y-%m-%d %H:%M} UTC — {t.reason}"[:200])
        await tell(interaction, "\n".join(lines))

    @app_commands.command(name="reset", description="Go back to the default detector settings (admins)")
    @app_commands.describe(streamer="Twitch login")
    async def reset(self, interaction: discord.Interaction[Any], streamer: str) -> None:
        guild_id = require_guild(interaction)
        require_admin(interaction, "reset tuning")
        await interaction.response.defer(ephemeral=True, thinking=True)
        record = await self._streamer(streamer)
        user = str(interaction.user.id)
        tuning = await self.client.repo.new_tuning_version(guild_id, record.id, {}, reason=f"reset to the defaults by <@{user}>",
                                                           votes_used=0, by=user)
        await tell(interaction, f"**{record.login}** uses the default settings again (version {tuning.version}); "
                                "votes cast from now on tune it afresh.")

    @app_commands.command(name="rollback", description="Return to an earlier tuning version (admins)")
    @app_commands.describe(streamer="Twitch login", version="The version to return to (/tuning show lists them)")
    async def rollback(self, interaction: discord.Interaction[Any], streamer: str,
                       version: app_commands.Range[int, 1, 100000]) -> None:
        guild_id = require_guild(interaction)
        require_admin(interaction, "roll tuning back")
        await interaction.response.defer(ephemeral=True, thinking=True)
        record = await self._streamer(streamer)
        try:
            tuning = await self.client.repo.rollback_tuning(guild_id, record.id, int(version),
                                                            by=str(interaction.user.id))
        except RecordNotFound:
            raise NotFound(f"**{record.login}** has no tuning version {version}; /tuning show lists them.") from None
        await tell(interaction, f"**{record.login}** is back to the settings of version {version} "
                                f"(now version {tuning.version}): {describe(tuning)}.")

    @show.autocomplete("streamer")
    @reset.autocomplete("streamer")
    @rollback.autocomplete("streamer")
    async def _streamer_choices(self, interaction: discord.Interaction[Any], current: str
                                ) -> list[app_commands.Choice[str]]:
        return await subscribed_streamers(self.client, interaction, current)

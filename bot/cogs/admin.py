"""/setup (clip channel, roles allowed to request, per-user limits, a check of the bot's permissions) and /help.

/setup checks what the bot may do in the clip channel (``bot.channel_access``) and names every missing
permission; when nothing is missing, posting that stopped because Discord refused it resumes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Optional

import discord
from discord import app_commands
from discord.ext import commands

from bot.channel_access import fix_text, missing, permissions_in
from bot.permissions import require_admin, require_guild
from bot.replies import tell
from bot.state import GuildSettings

if TYPE_CHECKING:
    from bot.client import HighlightsBot

HELP = """**Highlights bot**
`/highlights vod:<Twitch VOD link or id>` finds the best moments and posts them as clips in a thread
(a channel, `twitch.tv/<login>` or `@login`, means its newest finished VOD when the bot has Twitch API access).
Options: `top` (how many), `layout` (16:9 or 9:16), `captions`, `streamer` (whose VOD, for tuning).
`/jobs` shows what is waiting or running; `/cancel job:<n>` stops a job you asked for.
Vote 👍/👎 under clips: after enough votes the detector is tuned to this server's taste for that streamer.
`/tuning show streamer:<login>` shows what changed; admins can `/tuning reset` or `/tuning rollback`.
Admins: `/autoclip add streamer:<login>` processes each new VOD automatically; `/setup` sets the clip
channel, who may request, and per-user limits, and checks what the bot may do in the clip channel."""


def describe(settings: GuildSettings, *, per_hour: int, active: int) -> str:
    roles = ", ".join(f"<@&{r}>" for r in settings.requester_role_ids) or "everyone"
    channel = f"<#{settings.clip_channel_id}>" if settings.clip_channel_id else "the channel of each request"
    return (f"Clips go to: {channel}\nWho may request: {roles}\n"
            f"Per member: {settings.requests_per_hour if settings.requests_per_hour is not None else per_hour} "
            f"requests per hour, {settings.active_jobs_per_user if settings.active_jobs_per_user is not None else active}"
            " jobs at a time (admins are not limited)")


class AdminCog(commands.Cog):
    def __init__(self, client: HighlightsBot) -> None:
        self.client = client

    @app_commands.command(name="setup", description="Clip channel, who may request, per-member limits (admins)")
    @app_commands.describe(clip_channel="Where clip threads are created", allow_role="Let this role request jobs",
                           disallow_role="Take this role off the list", everyone="Let everyone request again",
                           requests_per_hour="Requests per member per hour", jobs_at_once="Jobs per member at a time")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def setup(self, interaction: discord.Interaction[Any],
                    clip_channel: Optional[discord.TextChannel] = None,  # noqa: UP045
                    allow_role: Optional[discord.Role] = None,  # noqa: UP045
                    disallow_role: Optional[discord.Role] = None,  # noqa: UP045
                    everyone: Optional[bool] = None,  # noqa: UP045
                    requests_per_hour: Optional[app_commands.Range[int, 0, 100]] = None,  # noqa: UP045
                    jobs_at_once: Optional[app_commands.Range[int, 0, 20]] = None) -> None:  # noqa: UP045
        guild_id = require_guild(interaction)
        require_admin(interaction, "change the bot's setup")
        await interaction.response.defer(ephemeral=True, thinking=True)
        state = self.client.state
        settings = await state.guild(guild_id)
        roles = list(settings.requester_role_ids)
        if allow_role is not None and str(allow_role.id) not in roles:
            roles.append(str(allow_role.id))
        if disallow_role is not None:
            roles = [r for r in roles if r != str(disallow_role.id)]
        if everyone:
            roles = []
        changed = replace(settings, requester_role_ids=tuple(roles),
                          clip_channel_id=str(clip_channel.id) if clip_channel else settings.clip_channel_id,
                          requests_per_hour=requests_per_hour if requests_per_hour is not None else settings.requests_per_hour,
                          active_jobs_per_user=jobs_at_once if jobs_at_once is not None else settings.active_jobs_per_user)
        if changed != settings:
            await state.set_guild(guild_id, changed)
        config = self.client.config
        text = describe(changed, per_hour=config.requests_per_hour, active=config.active_jobs_per_user)
        check = await self._check_channel(interaction, guild_id, int(changed.clip_channel_id or interaction.channel_id or 0),
                                          chosen=changed.clip_channel_id is not None)
        await tell(interaction, ("Saved.\n" if changed != settings else "") + text + "\n" + check)

    async def _check_channel(self, interaction: discord.Interaction[Any], guild_id: str, channel_id: int, *,
                             chosen: bool) -> str:
        """Whether the bot can post clips in ``channel_id``; resumes stopped posting when it can."""
        perms, in_thread = permissions_in(interaction, channel_id)
        where = "" if chosen else " (checked here; each request's own channel is checked when it is made)"
        if perms is None:
            return f"⚠️ I cannot see <#{channel_id}>: give my role **View Channel** there."
        lacking = missing(perms, in_thread=in_thread)
        if lacking:
            return f"⚠️ {fix_text(channel_id, lacking)}{where}"
        resumed = await self.client.poster.resume(guild_id)
        again = f" Posting the clips of {resumed} job(s) that Discord refused before starts again." if resumed else ""
        return f"✅ I can post clips in <#{channel_id}>{where}.{again}"

    @app_commands.command(name="help", description="What the highlights bot does and how to use it")
    async def help(self, interaction: discord.Interaction[Any]) -> None:
        await tell(interaction, HELP)

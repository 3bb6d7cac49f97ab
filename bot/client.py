"""The Discord client: a ``commands.Bot`` with the cogs, the persistent buttons and the background loops.

Consumes a connected ``Storage`` (queue and repository) and a ``BotConfig``; produces a bot that,
once logged in, registers its slash commands, keeps job cards current, posts finished jobs' clips
and turns votes into tuning. With Twitch credentials (``BotConfig.twitch``) it checks VODs and
streamer logins with Helix (``bot.twitch_checks``); without them those checks are skipped.
Gateway intents are minimal (guilds only: no message content, no members), since everything
arrives as interactions.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.actions import Actions
from bot.cards import CardTracker
from bot.config import BotConfig
from bot.errors import UserFacingError
from bot.limits import RateLimiter
from bot.poster import Poster
from bot.recut import Recuts
from bot.recut_replies import RecutReplies
from bot.replies import explain_error
from bot.requests import Requests
from bot.state import BotState
from bot.tuner import Tuner
from bot.twitch_checks import TwitchChecks
from bot.views.clip_buttons import DetailsButton, RecutButton
from bot.views.job_card import CancelButton
from bot.views.votes import VoteButton
from bot.voting import Voting
from storage.queue.port import JobQueue
from storage.repo.port import Repository

log = logging.getLogger(__name__)

MAX_RATE_LIMIT_WAIT_S = 30.0
"""A rate limit longer than this raises ``discord.RateLimited`` (the loops retry later) instead of stalling
them; discord.py's smallest allowed value."""


class HighlightsTree(app_commands.CommandTree):
    """Turns every error of a slash command into a short ephemeral answer."""

    async def on_error(self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError) -> None:
        original: BaseException = error
        if isinstance(error, app_commands.CommandInvokeError):
            original = error.original
        elif isinstance(error, app_commands.NoPrivateMessage):
            original = UserFacingError("This works only inside a server, not in direct messages.")
        elif isinstance(error, app_commands.CheckFailure):
            original = UserFacingError("You are not allowed to use this command here.")
        elif isinstance(error, app_commands.TransformerError):
            original = UserFacingError(f"`{str(error.value)[:50]}` is not a valid value for that option.")
        name = interaction.command.qualified_name if interaction.command else "command"
        await explain_error(interaction, original, f"/{name}")


def intents() -> discord.Intents:
    """Guild events only (the guild cache gives channels, roles and the upload limit)."""
    chosen = discord.Intents.none()
    chosen.guilds = True
    return chosen


class HighlightsBot(commands.Bot):
    def __init__(self, queue: JobQueue, repo: Repository, config: BotConfig, *, state: BotState | None = None,
                 **options: Any) -> None:
        options.setdefault("max_ratelimit_timeout", MAX_RATE_LIMIT_WAIT_S)
        super().__init__(command_prefix=commands.when_mentioned, intents=intents(), help_command=None,
                         tree_cls=HighlightsTree, **options)
        self.queue = queue
        self.repo = repo
        self.config = config
        self.state = state or BotState(config.state_path)
        self.tuner = Tuner(repo, config.tuning, config.retune_every)
        self.poster = Poster(self, queue, repo, self.state, config)
        self.cards = CardTracker(self, queue, repo, self.state, config, on_finished=self.poster.job_finished)
        self.poster.on_stopped = self.cards.kick
        self.twitch = TwitchChecks(config.twitch, budget_s=config.twitch_check_s, access=config.twitch_access)
        if not self.twitch.enabled:
            log.info("no Twitch API credentials: VODs are queued without checking them, channels are refused")
        self.requests = Requests(queue, repo, self.state, config, self.cards, RateLimiter(), self.twitch)
        self.voting = Voting(repo, self.tuner)
        self.poster.recuts = RecutReplies(self, queue, repo, self.state, config)
        self.recuts = Recuts(queue, repo, self.state, config, self.poster.recuts)
        self.actions = Actions(self.requests, self.voting, self.recuts, self.poster)

    async def setup_hook(self) -> None:
        from bot.cogs.admin import AdminCog
        from bot.cogs.autoclip import AutoclipCog
        from bot.cogs.requests import RequestsCog
        from bot.cogs.tuning import TuningCog

        await self.state.load()
        self.add_dynamic_items(VoteButton, DetailsButton, RecutButton, CancelButton)
        for cog in (RequestsCog(self), AutoclipCog(self), TuningCog(self), AdminCog(self)):
            await self.add_cog(cog)
        if self.config.sync_commands:
            guild = discord.Object(self.config.sync_guild_id) if self.config.sync_guild_id else None
            if guild is not None:
                self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("registered %d slash command(s) %s", len(synced),
                     f"in guild {guild.id}" if guild else "globally (may take up to an hour to appear)")
        await self.cards.start()
        await self.poster.start()

    async def close(self) -> None:
        await self.cards.stop()
        await self.poster.stop()
        await self.tuner.wait_idle()
        await self.twitch.close()
        await super().close()

"""A 👍/👎 click: one vote per user per clip (changeable), counts updated on the message, tuning kicked.

Consumes the click (clip id and direction from the button's ``custom_id``) and the repository;
produces the stored vote, the message's buttons with the new counts, and a background re-tune of
the clip's guild × streamer. The click is acknowledged (deferred update) before any database call.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.errors import NotFound
from bot.permissions import require_guild
from bot.replies import tell
from bot.tuner import Tuner
from bot.views.votes import EMOJI, vote_view
from storage.errors import ForeignVote, RecordNotFound
from storage.repo.port import Repository

log = logging.getLogger(__name__)


class Voting:
    def __init__(self, repo: Repository, tuner: Tuner) -> None:
        self.repo = repo
        self.tuner = tuner

    async def vote(self, interaction: discord.Interaction[Any], clip_id: int, value: int) -> None:
        guild_id = require_guild(interaction)
        user_id = str(interaction.user.id)
        await interaction.response.defer()  # deferred update of the clip's message: within 3 s
        try:
            clip = await self.repo.get_clip(clip_id)
        except RecordNotFound:
            raise NotFound("This clip is no longer in the database, so it cannot be voted on.") from None
        previous = await self.repo.get_vote(clip_id, user_id)
        direction = "up" if value > 0 else "down"
        if previous is not None and previous.value == value:
            other = EMOJI["down" if value > 0 else "up"]
            await tell(interaction, f"You already voted {EMOJI[direction]} on this clip; press {other} to change "
                                    "your vote.")
            return
        try:  # the repository refuses a clip of another guild's job (the button's id names any clip)
            clip = await self.repo.vote(clip_id, user_id, value, guild_id=guild_id)
        except ForeignVote:
            await tell(interaction, "This clip was made for another server, so votes from here do not count.")
            return
        await interaction.edit_original_response(view=vote_view(clip))
        streamer_id = await self.tuner.streamer_of(clip)
        if streamer_id is not None:
            self.tuner.kick(guild_id, streamer_id)

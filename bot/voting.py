"""A Keep/Skip click: one vote per user per clip; the other button changes it, the same one takes it back.

Consumes the click (clip id and direction from the button's ``custom_id``) and the repository;
produces the stored vote (or its removal), the message's buttons with the new counts, a short private
answer, and a background re-tune of the clip's guild × streamer. The click is acknowledged (deferred
update) before any database call. The answer says what happened in words: the first vote thanks the
voter and says that votes tune this community's picks; pressing the same button again takes the vote
back; the other button changes it.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.errors import NotFound
from bot.permissions import require_guild
from bot.replies import tell
from bot.tuner import Tuner
from bot.views.votes import EMOJI, VOTE_TEMPLATE, WORD, vote_custom_id, vote_label
from storage.errors import ForeignVote, RecordNotFound
from storage.records import Clip
from storage.repo.port import Repository

log = logging.getLogger(__name__)


def thanks_text(direction: str, streamer: str | None) -> str:
    who = f"**{discord.utils.escape_markdown(streamer)}**" if streamer else "this streamer"
    return (f"Thanks — counted as {EMOJI[direction]} {WORD[direction]}. Votes in this server tune which moments "
            f"the bot picks from {who}'s next VODs. Press {WORD[direction]} again to take your vote back.")


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
            clip = await self.repo.remove_vote(clip_id, user_id)
            text = f"Your {EMOJI[direction]} {WORD[direction]} vote is taken back."
        else:
            try:  # the repository refuses a clip of another guild's job (the button's id names any clip)
                clip = await self.repo.vote(clip_id, user_id, value, guild_id=guild_id)
            except ForeignVote:
                await tell(interaction, "This clip was made for another server, so votes from here do not count.")
                return
            if previous is None:
                text = thanks_text(direction, await self._streamer_name(clip))
            else:
                text = f"Changed your vote to {EMOJI[direction]} {WORD[direction]}."
        view = counted_view(interaction.message, clip)
        if view is not None:
            await interaction.edit_original_response(view=view)
        await tell(interaction, text)
        streamer_id = await self.tuner.streamer_of(clip)
        if streamer_id is not None:
            self.tuner.kick(guild_id, streamer_id)

    async def _streamer_name(self, clip: Clip) -> str | None:
        streamer_id = await self.tuner.streamer_of(clip)
        if streamer_id is None:
            return None
        try:
            streamer = await self.repo.get_streamer(streamer_id)
        except RecordNotFound:
            return None
        return streamer.display_name or streamer.login


def counted_view(message: discord.Message | None, clip: Clip) -> discord.ui.View | None:
    """The message's own buttons with the clip's new counts on its Keep and Skip (None: no message to edit)."""
    if message is None:
        return None
    view = discord.ui.View.from_message(message, timeout=None)
    counts = {vote_custom_id(clip.id, "up"): ("up", clip.up_votes), vote_custom_id(clip.id, "down"): ("down", clip.down_votes)}
    for item in view.children:
        if isinstance(item, discord.ui.Button) and item.custom_id in counts:
            direction, count = counts[item.custom_id]
            item.label = vote_label(direction, count)
    view.stop()
    return view


__all__ = ["VOTE_TEMPLATE", "Voting", "counted_view", "thanks_text"]

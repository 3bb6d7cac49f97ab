"""What the persistent buttons do: cancel, Keep/Skip, Details and the re-cuts, with errors answered.

Consumes button clicks (routed here from the ``DynamicItem`` callbacks through ``client.actions``);
produces the same effects as the commands (``bot.requests``, ``bot.voting``, ``bot.recut``) and the
private Details answer. A click never raises: a user's mistake gets its short ephemeral answer,
anything else an apology and a log line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.errors import NotFound
from bot.replies import explain_error, tell
from bot.requests import Requests
from bot.views.clip_buttons import Cut
from bot.views.clip_text import details_text
from bot.voting import Voting
from storage.errors import RecordNotFound

if TYPE_CHECKING:
    from bot.poster import Poster
    from bot.recut import Recuts


class Actions:
    def __init__(self, requests: Requests, voting: Voting, recuts: Recuts, poster: Poster) -> None:
        self.requests = requests
        self.voting = voting
        self.recuts = recuts
        self.poster = poster

    async def cancel_from_button(self, interaction: discord.Interaction[Any], job_id: int) -> None:
        try:
            await self.requests.cancel(interaction, job_id)
        except Exception as exc:
            await explain_error(interaction, exc, f"cancel button of job {job_id}")

    async def vote_from_button(self, interaction: discord.Interaction[Any], clip_id: int, value: int) -> None:
        try:
            await self.voting.vote(interaction, clip_id, value)
        except Exception as exc:
            await explain_error(interaction, exc, f"vote on clip {clip_id}")

    async def details_from_button(self, interaction: discord.Interaction[Any], clip_id: int) -> None:
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            try:
                clip = await self.voting.repo.get_clip(clip_id)
            except RecordNotFound:
                raise NotFound("This clip is no longer in the database.") from None
            total = len(await self.voting.repo.list_clips(clip.job_id))
            await tell(interaction, details_text(clip, total=total))
        except Exception as exc:
            await explain_error(interaction, exc, f"details of clip {clip_id}")

    async def recut_from_button(self, interaction: discord.Interaction[Any], clip_id: int, cut: Cut) -> None:
        try:
            await self.recuts.recut(interaction, clip_id, cut)
            self.poster.kick()
        except Exception as exc:
            await explain_error(interaction, exc, f"re-cut of clip {clip_id}")

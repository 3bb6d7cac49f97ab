"""What the persistent buttons do: the job card's cancel and the clips' votes, with errors answered.

Consumes button clicks (routed here from the ``DynamicItem`` callbacks through ``client.actions``);
produces the same effects as the commands (``bot.requests``, ``bot.voting``). A click never raises:
a user's mistake gets its short ephemeral answer, anything else an apology and a log line.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.replies import explain_error
from bot.requests import Requests
from bot.voting import Voting


class Actions:
    def __init__(self, requests: Requests, voting: Voting) -> None:
        self.requests = requests
        self.voting = voting

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

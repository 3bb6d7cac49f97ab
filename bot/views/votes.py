"""👍 / 👎 under each clip: persistent ``DynamicItem`` buttons whose ``custom_id`` carries the clip id.

Consumes a ``Clip`` (its id and vote counts); produces the view shown under the clip's message.
Registered once at start-up with ``Client.add_dynamic_items``, the buttons keep working after a
restart: Discord sends the ``custom_id`` back and the template recovers the clip id and direction.
The click itself is handled by ``bot.voting``.
"""

from __future__ import annotations

from typing import Any

import discord

from storage.records import Clip

VOTE_ID = "hl:vote:{clip_id}:{direction}"
VOTE_TEMPLATE = r"hl:vote:(?P<clip>[0-9]{1,18}):(?P<direction>up|down)"
EMOJI = {"up": "👍", "down": "👎"}
VALUE = {"up": 1, "down": -1}


def vote_custom_id(clip_id: int, direction: str) -> str:
    return VOTE_ID.format(clip_id=clip_id, direction=direction)


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_TEMPLATE):
    def __init__(self, clip_id: int, direction: str, count: int = 0) -> None:
        style = discord.ButtonStyle.success if direction == "up" else discord.ButtonStyle.secondary
        super().__init__(discord.ui.Button(emoji=EMOJI[direction], label=str(count), style=style,
                                           custom_id=vote_custom_id(clip_id, direction)))
        self.clip_id = clip_id
        self.direction = direction

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: Any) -> VoteButton:
        return cls(int(match["clip"]), str(match["direction"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.client.actions.vote_from_button(interaction, self.clip_id, VALUE[self.direction])


def vote_view(clip: Clip) -> discord.ui.View:
    """The two buttons with the clip's current counts."""
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton(clip.id, "up", clip.up_votes))
    view.add_item(VoteButton(clip.id, "down", clip.down_votes))
    view.stop()  # dispatched by custom_id (DynamicItem): no per-message copy kept in memory
    return view

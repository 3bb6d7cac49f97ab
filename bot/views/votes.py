"""Keep / Skip under each clip: persistent ``DynamicItem`` buttons whose ``custom_id`` carries the clip id.

Consumes a ``Clip`` (its id and vote counts); produces the two vote buttons, labelled in words with
their counts ("👍 Keep · 3", "👎 Skip · 1") and both grey, so neither looks already chosen. Registered
once at start-up with ``Client.add_dynamic_items``, the buttons keep working after a restart: Discord
sends the ``custom_id`` back and the template recovers the clip id and direction. The click itself
is handled by ``bot.voting`` (a second press of the same button takes the vote back).
"""

from __future__ import annotations

from typing import Any

import discord

VOTE_ID = "hl:vote:{clip_id}:{direction}"
VOTE_TEMPLATE = r"hl:vote:(?P<clip>[0-9]{1,18}):(?P<direction>up|down)"
EMOJI = {"up": "👍", "down": "👎"}
WORD = {"up": "Keep", "down": "Skip"}
VALUE = {"up": 1, "down": -1}


def vote_custom_id(clip_id: int, direction: str) -> str:
    return VOTE_ID.format(clip_id=clip_id, direction=direction)


def vote_label(direction: str, count: int) -> str:
    """``Keep · 3``: the word first, the count after it."""
    return f"{WORD[direction]} · {max(int(count), 0)}"


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_TEMPLATE):
    def __init__(self, clip_id: int, direction: str, count: int = 0) -> None:
        super().__init__(discord.ui.Button(emoji=EMOJI[direction], label=vote_label(direction, count),
                                           style=discord.ButtonStyle.secondary,
                                           custom_id=vote_custom_id(clip_id, direction)), row=0)
        self.clip_id = clip_id
        self.direction = direction

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: Any) -> VoteButton:
        return cls(int(match["clip"]), str(match["direction"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.client.actions.vote_from_button(interaction, self.clip_id, VALUE[self.direction])

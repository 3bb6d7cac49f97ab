"""The buttons under a clip post: Keep / Skip, Details, the re-cuts, and the Watch link.

Consumes a ``Clip``, the cut it shows (``Cut``: seconds added before and after, and the layout) and the
watch link; produces the message's view (pure function):

    row 0: 👍 Keep · 3   👎 Skip · 1   Details
    row 1: +10 s before   +10 s after   Vertical 9:16   [Watch at 1:02:03 on Twitch]

Details and the re-cut buttons are ``DynamicItem``s like the votes, so they keep working after a
restart: a re-cut's ``custom_id`` names the clip and the whole cut it asks for (``hl:recut:12:10:0:v``),
so pressing "+10 s before" under a re-cut asks for 20 s before. The Watch link is a link button (a url,
no custom id), and it is left out for local files, which have no public address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord

from bot.views.votes import VoteButton
from storage.records import Clip

DETAILS_ID = "hl:details:{clip_id}"
DETAILS_TEMPLATE = r"hl:details:(?P<clip>[0-9]{1,18})"
RECUT_ID = "hl:recut:{clip_id}:{before}:{after}:{shape}"
RECUT_TEMPLATE = r"hl:recut:(?P<clip>[0-9]{1,18}):(?P<before>[0-9]{1,3}):(?P<after>[0-9]{1,3}):(?P<shape>[hv])"
STEP_S = 10
MAX_EXTRA_S = 60
"""A re-cut adds at most this much on each side (longer clips are a new request, not a re-cut)."""


@dataclass(frozen=True, slots=True)
class Cut:
    """A clip's cut: seconds added before its start and after its end, and vertical (9:16) or not."""

    before: int = 0
    after: int = 0
    vertical: bool = False

    @property
    def layout(self) -> str:
        return "9:16" if self.vertical else "16:9"

    @property
    def original(self) -> bool:
        return self.before == 0 and self.after == 0

    def words(self) -> str:
        """``+10 s before, vertical 9:16`` (what the reply says it cut)."""
        parts = [f"+{self.before} s before"] if self.before else []
        parts += [f"+{self.after} s after"] if self.after else []
        parts.append("vertical 9:16" if self.vertical else "16:9")
        return ", ".join(parts)

    def custom_id(self, clip_id: int) -> str:
        return RECUT_ID.format(clip_id=clip_id, before=self.before, after=self.after, shape="v" if self.vertical else "h")

    @classmethod
    def of_layout(cls, layout: str) -> Cut:
        return cls(vertical=layout.startswith("9:16"))


class DetailsButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=DETAILS_TEMPLATE):
    """Answers privately with the numbers behind the pick."""

    def __init__(self, clip_id: int) -> None:
        super().__init__(discord.ui.Button(label="Details", emoji="ℹ️", style=discord.ButtonStyle.secondary,
                                           custom_id=DETAILS_ID.format(clip_id=clip_id)), row=0)
        self.clip_id = clip_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: Any) -> DetailsButton:
        return cls(int(match["clip"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.client.actions.details_from_button(interaction, self.clip_id)


class RecutButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=RECUT_TEMPLATE):
    """Asks for ``cut`` of the clip: a render-only job (``bot.recut``)."""

    def __init__(self, clip_id: int, cut: Cut, label: str = "Re-cut") -> None:
        super().__init__(discord.ui.Button(label=label, style=discord.ButtonStyle.secondary,
                                           custom_id=cut.custom_id(clip_id)), row=1)
        self.clip_id = clip_id
        self.cut = cut

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: Any) -> RecutButton:
        cut = Cut(int(match["before"]), int(match["after"]), match["shape"] == "v")
        return cls(int(match["clip"]), cut)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.client.actions.recut_from_button(interaction, self.clip_id, self.cut)


def clip_view(clip: Clip, cut: Cut, watch: tuple[str, str] | None, *, votes: bool = True) -> discord.ui.View:
    """The buttons of a clip post showing ``cut`` (see the module docstring); ``votes``: a re-cut reply has none."""
    view = discord.ui.View(timeout=None)
    if votes:
        view.add_item(VoteButton(clip.id, "up", clip.up_votes))
        view.add_item(VoteButton(clip.id, "down", clip.down_votes))
        view.add_item(DetailsButton(clip.id))
    if cut.before + STEP_S <= MAX_EXTRA_S:  # at the most, the button is left out (a custom id is never repeated)
        view.add_item(RecutButton(clip.id, Cut(cut.before + STEP_S, cut.after, cut.vertical), f"+{STEP_S} s before"))
    if cut.after + STEP_S <= MAX_EXTRA_S:
        view.add_item(RecutButton(clip.id, Cut(cut.before, cut.after + STEP_S, cut.vertical), f"+{STEP_S} s after"))
    turned = Cut(cut.before, cut.after, not cut.vertical)
    view.add_item(RecutButton(clip.id, turned, "Horizontal 16:9" if cut.vertical else "Vertical 9:16"))
    if watch is not None:
        view.add_item(discord.ui.Button(label=watch[0][:80], url=watch[1], style=discord.ButtonStyle.link, row=1))
    view.stop()  # dispatched by custom_id (DynamicItem): no per-message copy kept in memory
    return view

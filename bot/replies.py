"""Short ephemeral answers, and the one place where errors become what a user reads.

Consumes an interaction in any state (not answered yet, deferred, answered) and an error or a
text; produces the right call: the initial response, an edit of the deferred "thinking" message,
or an ephemeral follow-up. A ``UserFacingError`` is shown as it is; storage trouble and bugs get a
short apology (bugs are logged with their traceback).
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.errors import UserFacingError
from storage.errors import StorageError

log = logging.getLogger(__name__)

ANSWERED = "hl_answered"
"""``interaction.extras`` flag: the deferred original response has been replaced by real text."""
SORRY = "Something went wrong on our side; it has been logged. Please try again later."
BUSY = "The job database is not reachable right now; please try again in a minute."


async def tell(interaction: discord.Interaction[Any], text: str) -> None:
    """Show ``text`` to the user who caused the interaction, and only to them."""
    text = text[:1900]
    response = interaction.response
    if not response.is_done():
        await response.send_message(text, ephemeral=True)
    elif response.type is discord.InteractionResponseType.deferred_channel_message and not interaction.extras.get(ANSWERED):
        interaction.extras[ANSWERED] = True
        await interaction.edit_original_response(content=text)
    else:
        await interaction.followup.send(text, ephemeral=True)


async def explain_error(interaction: discord.Interaction[Any], error: BaseException, what: str) -> None:
    """Answer the user for ``error`` raised while doing ``what`` (never raises)."""
    if isinstance(error, UserFacingError):
        text = str(error)
    elif isinstance(error, StorageError):
        log.warning("%s failed: %s", what, error)
        text = BUSY
    else:
        log.error("%s failed", what, exc_info=error)
        text = SORRY
    try:
        await tell(interaction, text)
    except discord.HTTPException as exc:  # the interaction expired or Discord is down: nothing more to do
        log.warning("could not tell the user why %s failed: %s", what, exc)

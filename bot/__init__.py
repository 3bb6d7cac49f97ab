"""The Discord bot: slash commands, job cards, clip posts and vote buttons.

Never imports ``detector`` or torch (an import-linter contract checks it): the bot process stays
small and talks to workers only through ``storage``.
"""

from __future__ import annotations

from bot.errors import BotError

__all__ = ["BotError"]

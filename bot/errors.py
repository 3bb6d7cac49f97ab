"""The bot package's one exception root, with a machine ``code``."""

from __future__ import annotations


class BotError(Exception):
    """Base of all bot errors."""

    code = "bot_error"

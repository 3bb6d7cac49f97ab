"""The bot package's one exception root, with a machine ``code``.

A ``UserFacingError`` is something a Discord user caused (a bad VOD reference, a missing
permission, a quota): its message is shown to that user as a short ephemeral reply and nothing
else happens. Everything else is a bug or an outage: logged, and the user gets a generic apology.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of all bot errors."""

    code = "bot_error"


class BotConfigError(BotError):
    """The bot's own configuration (environment) is wrong."""

    code = "bot_config"


class UserFacingError(BotError):
    """Shown verbatim (ephemeral) to the user who caused it; the message says what to do."""

    code = "user_error"


class BadVodReference(UserFacingError):
    code = "bad_vod"


class NotAllowed(UserFacingError):
    code = "not_allowed"


class RateLimited(UserFacingError):
    code = "rate_limited"


class QuotaExceeded(UserFacingError):
    code = "quota"


class NotFound(UserFacingError):
    code = "not_found"


class BadOption(UserFacingError):
    code = "bad_option"


class VodUnavailable(UserFacingError):
    """Twitch says the VOD does not exist (deleted, expired, mistyped) or a channel has none to offer."""

    code = "vod_unavailable"


class VodStillLive(UserFacingError):
    """The VOD is the archive of a broadcast that is still live: it is not finished yet."""

    code = "vod_live"


class TwitchUnreachable(UserFacingError):
    """Twitch's API did not answer a question the command cannot do without (a channel's newest VOD)."""

    code = "twitch_unreachable"


class CannotPost(UserFacingError):
    """The bot lacks what it needs to post the clips where they would go (the text says what a moderator fixes)."""

    code = "cannot_post"

"""Errors of the Twitch API (Helix) facade: the storage error family, with a machine ``code``.

Consumed by the poll handler (which fails a POLL job with ``code`` and the message, retryable or not)
and by the command line (which prints the message). No aiohttp or twitchAPI exception leaves
``storage.twitch``: each becomes one of these, with a message that says what to do.
"""

from __future__ import annotations

from storage.errors import StorageError


class TwitchApiError(StorageError):
    """Twitch's API could not answer a question; ``retryable`` says whether trying later may help."""

    code = "twitch_api"
    retryable = True

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class TwitchCredentialsMissing(TwitchApiError):
    """``TWITCH_CLIENT_ID`` / ``TWITCH_CLIENT_SECRET`` are not set: nothing can be asked of Helix."""

    code = "twitch_credentials"
    retryable = False


class TwitchAuthFailed(TwitchApiError):
    """Twitch refused the app credentials (a wrong id or secret, a disabled application)."""

    code = "twitch_auth"
    retryable = False


class TwitchUnavailable(TwitchApiError):
    """Twitch kept failing (5xx, timeouts, rate limits, refused connections) after every retry."""

    code = "twitch_unavailable"
    retryable = True


class TwitchUserNotFound(TwitchApiError):
    """No Twitch user has this login (renamed, banned or mistyped)."""

    code = "twitch_user_not_found"
    retryable = False

"""Sources stage, Twitch ingestion: where Twitch is and who we say we are, per operation, from the environment.

Consumes the process environment (or a mapping); produces ``TwitchEndpoints``: the GQL and usher base
URLs (tests point them at a local double), one GQL client id per operation (each overridable by its
own variable, because Twitch judges operations differently per client id: chat replay pages by
cursor fail its integrity check with the web player's id), the user's optional OAuth token (for
subscriber-only VODs) and the retry policy. ``rewrite`` maps the fixed Twitch URLs yt-dlp's extractor
builds onto the configured ones; with nothing configured it changes nothing.

The defaults are what the maintained clients send today: the web client id for video metadata
(TwitchDownloader ``TwitchHelper.GetVideoInfo``), the Android app's id for chat replay
(TwitchDownloader ``ChatDownloader.cs``, since its issue #704), and yt-dlp's own choice for
playback (its Twitch extractor, unless ``HIGHLIGHTS_TWITCH_CLIENT_ID_PLAYBACK`` is set).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from detector.errors import ConfigError
from detector.sources.twitch.transport import RetryPolicy

log = logging.getLogger(__name__)

GQL_URL_ENV = "HIGHLIGHTS_TWITCH_GQL_URL"
USHER_URL_ENV = "HIGHLIGHTS_TWITCH_USHER_URL"
METADATA_CLIENT_ID_ENV = "HIGHLIGHTS_TWITCH_CLIENT_ID_METADATA"
CHAT_CLIENT_ID_ENV = "HIGHLIGHTS_TWITCH_CLIENT_ID_CHAT"
PLAYBACK_CLIENT_ID_ENV = "HIGHLIGHTS_TWITCH_CLIENT_ID_PLAYBACK"
OAUTH_TOKEN_ENV = "HIGHLIGHTS_TWITCH_OAUTH_TOKEN"
ATTEMPTS_ENV = "HIGHLIGHTS_TWITCH_ATTEMPTS"
BACKOFF_ENV = "HIGHLIGHTS_TWITCH_BACKOFF_S"
RETIRED_CLIENT_ID_ENV = "HIGHLIGHTS_TWITCH_GQL_CLIENT_ID"
"""One id for every operation: no longer read (it could not fix chat without breaking the rest)."""

DEFAULT_GQL_URL = "https://gql.twitch.tv/gql"
DEFAULT_USHER_URL = "https://usher.ttvnw.net"
WEB_CLIENT_ID = "kimne78kx3ncx6brgo4mv6wki5h1ko"
"""twitch.tv's web player (public). TwitchDownloader sends it for video metadata."""
ANDROID_CLIENT_ID = "kd1unb4b3q4t58fwlpcbzcbnm76a8fp"
"""Twitch's Android app (public). TwitchDownloader sends it for chat replay since Twitch's integrity check."""

_TOKEN = re.compile(r"[A-Za-z0-9]{20,64}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9]{20,64}")
_warned_retired = False


@dataclass(frozen=True, slots=True)
class TwitchEndpoints:
    """Twitch's endpoints, client ids and credentials for one job (see the module docstring)."""

    gql_url: str = DEFAULT_GQL_URL
    usher_url: str = DEFAULT_USHER_URL
    metadata_client_id: str = WEB_CLIENT_ID
    """Client id of our ``video(id:)`` metadata query (title, status, muted spans)."""
    chat_client_id: str = ANDROID_CLIENT_ID
    """Client id of chat replay pages (``VideoCommentsByOffsetOrCursor``), by offset and by cursor."""
    playback_client_id: str | None = None
    """Client id yt-dlp's extractor sends (metadata, playback token); None: yt-dlp's own default."""
    oauth_token: str | None = field(default=None, repr=False)
    """A Twitch user's ``auth-token`` (cookie value), for subscriber-only VODs; None: anonymous."""
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TwitchEndpoints:
        """Endpoints from the environment; ``ConfigError`` names a malformed variable."""
        env = os.environ if env is None else env
        _warn_retired(env)
        attempts, backoff = env.get(ATTEMPTS_ENV), env.get(BACKOFF_ENV)
        policy = RetryPolicy()
        try:
            if attempts:
                policy = replace(policy, attempts=max(1, int(attempts)))
            if backoff:
                seconds = max(0.0, float(backoff))
                policy = replace(policy, backoff_s=seconds, backoff_max_s=min(policy.backoff_max_s, 32 * seconds))
        except ValueError:
            raise ConfigError(f"{ATTEMPTS_ENV}={attempts!r} / {BACKOFF_ENV}={backoff!r}: not numbers.",
                              hint=f"Example: {ATTEMPTS_ENV}=5 {BACKOFF_ENV}=1.0") from None
        return cls(
            gql_url=_url(env, GQL_URL_ENV, DEFAULT_GQL_URL),
            usher_url=_url(env, USHER_URL_ENV, DEFAULT_USHER_URL).rstrip("/"),
            metadata_client_id=_client_id(env, METADATA_CLIENT_ID_ENV) or WEB_CLIENT_ID,
            chat_client_id=_client_id(env, CHAT_CLIENT_ID_ENV) or ANDROID_CLIENT_ID,
            playback_client_id=_client_id(env, PLAYBACK_CLIENT_ID_ENV),
            oauth_token=oauth_token(env.get(OAUTH_TOKEN_ENV)),
            policy=policy,
        )

    def rewrite(self, url: str) -> str:
        """``url`` with Twitch's GQL or usher base replaced by the configured one (else unchanged)."""
        if url.startswith(DEFAULT_GQL_URL) and self.gql_url != DEFAULT_GQL_URL:
            return self.gql_url + url[len(DEFAULT_GQL_URL):]
        if url.startswith(DEFAULT_USHER_URL + "/") and self.usher_url != DEFAULT_USHER_URL:
            return self.usher_url + url[len(DEFAULT_USHER_URL):]
        return url

    def kind(self, url: str) -> str | None:
        """``"gql"`` or ``"usher"`` for a request to Twitch's API hosts (real or configured), else None."""
        if url.startswith((DEFAULT_GQL_URL, self.gql_url)):
            return "gql"
        for base in (DEFAULT_USHER_URL, self.usher_url):
            if url.startswith(base + "/vod/"):
                return "usher"
        return None


def oauth_token(value: str | None) -> str | None:
    """The token in ``value`` (``OAuth abc…``, ``oauth:abc…`` or bare), None when empty; ``ConfigError``
    when it cannot be a token."""
    text = (value or "").strip()
    if not text:
        return None
    for prefix in ("OAuth ", "oauth ", "oauth:", "OAuth:"):
        if text.startswith(prefix):
            text = text[len(prefix):].strip()
    if not _TOKEN.fullmatch(text):
        raise ConfigError(f"{OAUTH_TOKEN_ENV} does not look like a Twitch token (20–64 letters and digits).",
                          hint="Use the value of the auth-token cookie of twitch.tv while logged in.")
    return text


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = (env.get(name) or "").strip()
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}={value!r} is not an http(s) URL.", hint=f"Unset it to use {default}.")
    return value


def _client_id(env: Mapping[str, str], name: str) -> str | None:
    value = (env.get(name) or "").strip()
    if not value:
        return None
    if not _CLIENT_ID.fullmatch(value):
        raise ConfigError(f"{name}={value!r} does not look like a Twitch client id (20–64 letters and digits).")
    return value


def _warn_retired(env: Mapping[str, str]) -> None:
    global _warned_retired
    if env.get(RETIRED_CLIENT_ID_ENV) and not _warned_retired:
        _warned_retired = True
        log.warning("%s is no longer read: set %s, %s or %s for the operation that needs another client id",
                    RETIRED_CLIENT_ID_ENV, METADATA_CLIENT_ID_ENV, CHAT_CLIENT_ID_ENV, PLAYBACK_CLIENT_ID_ENV)

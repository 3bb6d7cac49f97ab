"""Where Twitch's Helix API is and which app credentials to use, from the environment.

Consumes ``TWITCH_CLIENT_ID`` / ``TWITCH_CLIENT_SECRET`` (an application's id and secret from the Twitch
developer console) and ``HIGHLIGHTS_HELIX_URL`` / ``HIGHLIGHTS_TWITCH_AUTH_URL`` (default: Twitch's own
hosts; tests point them at a double on 127.0.0.1); produces ``HelixSettings`` for ``storage.twitch.helix``
or ``TwitchCredentialsMissing`` naming the variables to set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from storage.redact import register_secret
from storage.twitch.errors import TwitchCredentialsMissing

ENV_CLIENT_ID = "TWITCH_CLIENT_ID"
ENV_CLIENT_SECRET = "TWITCH_CLIENT_SECRET"
ENV_HELIX_URL = "HIGHLIGHTS_HELIX_URL"
ENV_AUTH_URL = "HIGHLIGHTS_TWITCH_AUTH_URL"
DEFAULT_HELIX_URL = "https://api.twitch.tv/helix"
DEFAULT_AUTH_URL = "https://id.twitch.tv/oauth2"


@dataclass(frozen=True, slots=True)
class HelixSettings:
    """Where Helix is, who we are, and how hard to try."""

    client_id: str
    client_secret: str = field(repr=False)
    helix_url: str = DEFAULT_HELIX_URL
    auth_url: str = DEFAULT_AUTH_URL
    attempts: int = 3
    """Tries per call before ``TwitchUnavailable`` (1 = no retry)."""
    backoff_s: float = 1.0
    """Retry n waits ``backoff_s * 2**(n-1)`` s (a rate limit waits until Twitch's reset instead)."""
    max_wait_s: float = 30.0
    """The longest rate-limit wait honoured within one call (s)."""
    timeout_s: float = 20.0
    """Total time one HTTP request may take (s)."""

    def __post_init__(self) -> None:
        register_secret(self.client_secret)  # masked in every log line and error from now on

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> HelixSettings:
        """Settings from the environment; ``TwitchCredentialsMissing`` names the variables to set."""
        env = os.environ if environ is None else environ
        client_id = (env.get(ENV_CLIENT_ID) or "").strip()
        secret = (env.get(ENV_CLIENT_SECRET) or "").strip()
        missing = [name for name, value in ((ENV_CLIENT_ID, client_id), (ENV_CLIENT_SECRET, secret)) if not value]
        if missing:
            raise TwitchCredentialsMissing(
                f"Twitch API credentials are missing: set {' and '.join(missing)} (an application's client id and "
                "secret from https://dev.twitch.tv/console/apps) to look up streamers, VODs and clips")
        return cls(client_id=client_id, client_secret=secret,
                   helix_url=(env.get(ENV_HELIX_URL) or DEFAULT_HELIX_URL).strip(),
                   auth_url=(env.get(ENV_AUTH_URL) or DEFAULT_AUTH_URL).strip(), **options)

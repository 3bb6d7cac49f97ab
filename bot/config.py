"""The bot's configuration: the environment (token, folders, limits) → one frozen ``BotConfig``.

Consumes ``os.environ`` (or a mapping in tests) and the storage URL; produces ``BotConfig``. Every
timing and default limit the bot uses is here, with its unit, so tests can shorten them.

Environment:
  ``DISCORD_TOKEN``               the bot token (without it the bot does not start)
  ``HIGHLIGHTS_BOT_MEDIA_DIR``    local VOD files inside this folder may be requested by path
  ``HIGHLIGHTS_BOT_STATE``        the bot's small state file (default: ``bot-state.json`` in the
                                  artifact root)
  ``HIGHLIGHTS_BOT_SYNC_GUILD``   register the slash commands in this guild only (instant; for testing)
  ``HIGHLIGHTS_BOT_SYNC``         ``0`` skips registering slash commands at start-up
  ``TWITCH_CLIENT_ID`` / ``TWITCH_CLIENT_SECRET``  Twitch API (Helix) app credentials; with them
                                  /highlights checks a VOD exists and is finished before queueing it,
                                  accepts a channel (its newest VOD) and /autoclip add checks the
                                  login. Without them those checks are skipped (the worker fails a
                                  job whose VOD is gone) and channels are refused.
  ``HIGHLIGHTS_HELIX_URL`` / ``HIGHLIGHTS_TWITCH_AUTH_URL``  where Helix is (tests: a local double)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import BotConfigError
from storage.artifacts import ArtifactStore
from storage.redact import redacted_repr, register_secret
from storage.tuning import TuningOptions
from storage.twitch.errors import TwitchCredentialsMissing
from storage.twitch.settings import ENV_CLIENT_ID, ENV_CLIENT_SECRET, HelixSettings
from storage.twitch.vod_access import VodAccessSettings

log = logging.getLogger(__name__)

ENV_TOKEN = "DISCORD_TOKEN"
ENV_MEDIA_DIR = "HIGHLIGHTS_BOT_MEDIA_DIR"
ENV_STATE = "HIGHLIGHTS_BOT_STATE"
ENV_SYNC_GUILD = "HIGHLIGHTS_BOT_SYNC_GUILD"
ENV_SYNC = "HIGHLIGHTS_BOT_SYNC"
STATE_FILE = "bot-state.json"
HELIX_OPTIONS: dict[str, Any] = {"attempts": 2, "backoff_s": 0.5, "timeout_s": 8.0, "max_wait_s": 3.0}
"""The bot asks Helix while a user waits: few, short tries (an outage never blocks a request, see
``bot.twitch_checks``)."""


@dataclass(frozen=True, slots=True, repr=False)
class BotConfig:
    """How the bot behaves; the defaults are the production values."""

    artifacts: ArtifactStore
    state_path: Path
    token: str | None = None
    media_root: Path | None = None
    """Local files may be requested only inside this folder (None: local files are refused)."""
    sync_commands: bool = True
    sync_guild_id: int | None = None
    card_poll_s: float = 2.0
    """How often tracked job cards read their job (s)."""
    card_edit_interval_s: float = 5.0
    """A card is edited at most once per this interval (s)."""
    webhook_edit_max_age_s: float = 14 * 60.0
    """Interaction tokens last 15 min: older cards are edited through the channel instead (s)."""
    post_poll_s: float = 10.0
    """How often finished jobs are checked for clips still to post (s)."""
    post_retry_s: float = 5.0
    """First wait before posting a job again after a failure; it doubles with each failure, up to 5 min (s)."""
    post_max_age_s: float = 24 * 3600.0
    """Jobs that finished longer ago than this are never posted (a first start on an old database)."""
    requests_per_hour: int = 6
    """Default per-user limit of /highlights requests per rolling hour (a guild may change it)."""
    active_jobs_per_user: int = 2
    """Default per-user limit of queued or running jobs (a guild may change it)."""
    tuning: TuningOptions = field(default_factory=TuningOptions)
    retune_every: int = 5
    """Fit again after this many new votes since the current tuning."""
    twitch: HelixSettings | None = None
    """Twitch API (Helix) settings; None without credentials: VOD checks skipped, channels refused."""
    twitch_check_s: float = 15.0
    """The most time one command spends asking Helix before it counts as an outage (s)."""
    twitch_access: VodAccessSettings | None = None
    """GQL and usher for the subscriber-only check of a VOD (with Helix only); None: not checked."""

    def __post_init__(self) -> None:
        register_secret(self.token)  # however the config was made, no log line or error shows the token

    def __repr__(self) -> str:
        return redacted_repr(self)  # the token (and any password in a URL) shows as ***

    @classmethod
    def from_env(cls, storage_url: str, env: Mapping[str, str] | None = None, **overrides: object) -> BotConfig:
        env = os.environ if env is None else env
        artifacts = ArtifactStore.for_storage(storage_url)
        media = env.get(ENV_MEDIA_DIR) or None
        media_root = Path(media).expanduser().absolute() if media else None
        if media_root is not None and not media_root.is_dir():
            raise BotConfigError(f"{ENV_MEDIA_DIR}={media} is not a folder; create it or unset the variable.")
        sync_guild = env.get(ENV_SYNC_GUILD) or None
        if sync_guild is not None and not sync_guild.isdigit():
            raise BotConfigError(f"{ENV_SYNC_GUILD} must be a guild id (digits), got {sync_guild!r}.")
        state = env.get(ENV_STATE) or None
        try:
            twitch: HelixSettings | None = HelixSettings.from_env(env, **HELIX_OPTIONS)
        except TwitchCredentialsMissing as exc:
            twitch = None
            if (env.get(ENV_CLIENT_ID) or "").strip() or (env.get(ENV_CLIENT_SECRET) or "").strip():
                log.warning("%s; until then the bot does not check VODs with Twitch", exc)  # one of the two set
        values: dict[str, object] = {
            "artifacts": artifacts,
            "state_path": Path(state).expanduser().absolute() if state else artifacts.root / STATE_FILE,
            "token": (env.get(ENV_TOKEN) or "").strip() or None,
            "media_root": media_root,
            "sync_commands": env.get(ENV_SYNC, "1") not in ("0", "false", "no"),
            "sync_guild_id": int(sync_guild) if sync_guild else None,
            "twitch": twitch,
            "twitch_access": VodAccessSettings.from_env(env) if twitch is not None else None,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


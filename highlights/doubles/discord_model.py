"""What the Discord double knows before any request: its ids and limits, and the records it keeps.

The ids of the bot, its application, the guild and its channels; the interaction deadlines; ``Request``
(one recorded HTTP request with what the double answered) and ``Interaction`` (an interaction fed to the
client, followed through its callback and webhook calls); ``text_channel`` shapes a channel as the API
returns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from highlights.doubles import discord_permissions as perm

API = "/api/v10"
EPHEMERAL = 64
TOKEN = "test-token"
BOT_ID = 1100000000000000001
APP_ID = 1100000000000000002
GUILD_ID = 1200000000000000001
CHANNEL_ID = 1200000000000000002
OTHER_CHANNEL_ID = 1200000000000000003
BOT_ROLE_ID = 1200000000000000008
OWNER_ID = 1200000000000000009
BOT_USER = {"id": str(BOT_ID), "username": "highlights", "discriminator": "0", "global_name": None,
            "avatar": None, "bot": True, "flags": 0}
FIRST_ANSWER_S = 3.0
"""interactions/receiving-and-responding: the first answer within 3 seconds, or the token is invalidated."""
TOKEN_LIFE_S = 15 * 60.0
"""interactions/receiving-and-responding, "Followup Messages": interaction tokens are valid for 15 minutes."""
THREAD_SENDER = perm.SEND_MESSAGES_IN_THREADS


def now_iso() -> str:
    return datetime.now(UTC).isoformat()



@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | list[Any] | None
    files: list[dict[str, Any]]
    at: float
    """``time.monotonic()`` when it arrived."""
    status: int = 0
    """What the double answered."""

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"



@dataclass
class Interaction:
    id: int
    token: str
    channel_id: int
    fed_at: float
    message_id: int | None = None
    """A component interaction: the message the component is on."""
    original_id: int | None = None
    acknowledged: bool = False
    deferred_pending: bool = False
    ephemeral: bool = False
    followups: set[int] = field(default_factory=set)



def text_channel(cid: int, name: str, guild_id: int = GUILD_ID) -> dict[str, Any]:
    return {"id": str(cid), "type": 0, "guild_id": str(guild_id), "name": name, "position": 0,
            "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None, "last_message_id": None,
            "rate_limit_per_user": 0, "flags": 0}


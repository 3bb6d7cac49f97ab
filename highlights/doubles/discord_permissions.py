"""The guild the Discord double serves: roles, the bot's member, channel overwrites, and the bot's permissions.

Permissions are computed the way Discord's developer documentation describes it (topics/permissions,
"Permission Overwrites"): the base is ``@everyone`` plus the member's roles (ADMINISTRATOR grants all),
then the channel's ``@everyone`` overwrite, the member's role overwrites together, and the member's own
overwrite, each deny before allow. Threads inherit their parent's permissions (topics/threads,
"Permissions"). Tests change a role or an overwrite here and hand the changed channel to the bot as the
gateway would (CHANNEL_UPDATE), so the bot's cached view and the double's rules stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Bit values from topics/permissions, "Bitwise Permission Flags".
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
SEND_TTS_MESSAGES = 1 << 12
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL = (1 << 51) - 1

BOT_INVITED_WITH = (VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
                    | CREATE_PUBLIC_THREADS | SEND_MESSAGES_IN_THREADS)
"""What the bot's managed role gets when invited with the URL ``highlights discord invite`` prints."""
EVERYONE = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | USE_APPLICATION_COMMANDS
TEXT, PUBLIC_THREAD = 0, 11
THREAD_TYPES = frozenset({10, 11, 12})
SEND_DEPENDENT = SEND_TTS_MESSAGES | MENTION_EVERYONE | EMBED_LINKS | ATTACH_FILES


@dataclass
class GuildModel:
    guild_id: int
    bot_id: int
    bot_role_id: int
    roles: dict[int, int] = field(default_factory=dict)
    """Role id → permission bits; the ``@everyone`` role's id is the guild id."""
    bot_roles: set[int] = field(default_factory=set)
    overwrites: dict[int, dict[int, tuple[int, int, int]]] = field(default_factory=dict)
    """Channel id → target id → (type 0 role / 1 member, allow, deny)."""

    def permissions(self, channel: dict[str, Any], parent: dict[str, Any] | None = None) -> int:
        """The bot's permissions in ``channel`` (a thread: pass its ``parent``)."""
        is_thread = int(channel["type"]) in THREAD_TYPES
        where = parent if is_thread and parent is not None else channel
        base = self.roles.get(self.guild_id, 0)
        for role in self.bot_roles:
            base |= self.roles.get(role, 0)
        if base & ADMINISTRATOR:  # topics/permissions: ADMINISTRATOR overrides every overwrite
            return ALL
        ows = self.overwrites.get(int(where["id"]), {})
        everyone = ows.get(self.guild_id)
        if everyone is not None:
            base = (base & ~everyone[2]) | everyone[1]
        allow = deny = 0
        for target, (kind, a, d) in ows.items():
            if kind == 0 and target in self.bot_roles:
                allow |= a
                deny |= d
        base = (base & ~deny) | allow
        mine = ows.get(self.bot_id)
        if mine is not None and mine[0] == 1:
            base = (base & ~mine[2]) | mine[1]
        if not base & VIEW_CHANNEL:  # topics/permissions, "Implicit Permissions": no VIEW_CHANNEL denies all
            return 0
        sender = SEND_MESSAGES_IN_THREADS if is_thread else SEND_MESSAGES
        if not base & sender:  # same section: without sending, embeds and files are implicitly denied
            base &= ~SEND_DEPENDENT
        return base

    def overwrite_payload(self, channel_id: int) -> list[dict[str, Any]]:
        """The channel's ``permission_overwrites`` as the gateway sends them."""
        return [{"id": str(t), "type": kind, "allow": str(a), "deny": str(d)}
                for t, (kind, a, d) in self.overwrites.get(channel_id, {}).items()]

    def role_payloads(self) -> list[dict[str, Any]]:
        out = []
        for position, (rid, perms) in enumerate(sorted(self.roles.items(), key=lambda r: r[0] != self.guild_id)):
            name = "@everyone" if rid == self.guild_id else ("highlights" if rid == self.bot_role_id else f"role{rid}")
            out.append({"id": str(rid), "name": name, "permissions": str(perms), "position": position, "color": 0,
                        "hoist": False, "managed": rid == self.bot_role_id, "mentionable": False, "flags": 0,
                        **({"tags": {"bot_id": str(self.bot_id)}} if rid == self.bot_role_id else {})})
        return out

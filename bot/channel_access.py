"""What the bot needs in the channel it posts clips to, what is missing there, and the invite URL asking for it.

Consumes the bot's effective permissions in a channel, as Discord computed them for an interaction
(``interaction.app_permissions``) or as the guild cache resolves them (roles and channel overwrites,
kept current by the gateway's CHANNEL_UPDATE and GUILD_ROLE_UPDATE); produces the missing permissions by
the names a moderator sees in Discord's channel settings, a sentence saying what to fix, and the
permission integer the invite URL (``highlights discord invite``) asks for. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord

SCOPES = ("bot", "applications.commands")
"""OAuth2 scopes of the invite: the bot user, and its slash commands."""


@dataclass(frozen=True, slots=True)
class Need:
    attr: str
    """The ``discord.Permissions`` flag."""
    label: str
    """Its name in Discord's settings."""
    why: str
    in_thread: bool = True
    """Still needed when the request came from inside a thread (clips are posted in that thread)."""


NEEDS: tuple[Need, ...] = (
    Need("view_channel", "View Channel", "see the channel at all"),
    Need("send_messages", "Send Messages", "post in the channel", in_thread=False),
    Need("embed_links", "Embed Links", "show each clip's card"),
    Need("attach_files", "Attach Files", "upload the clip videos"),
    Need("read_message_history", "Read Message History", "find what it already posted after a restart"),
    Need("create_public_threads", "Create Public Threads", "open one thread per job", in_thread=False),
    Need("send_messages_in_threads", "Send Messages in Threads", "post the clips in that thread"),
)


def invite_permissions() -> discord.Permissions:
    """Every permission in ``NEEDS``: what the invite URL grants the bot's role."""
    return discord.Permissions(**{n.attr: True for n in NEEDS})


def invite_url(application_id: int, guild_id: int | None = None) -> str:
    """The OAuth2 URL that adds the bot with its commands and ``invite_permissions()``."""
    guild = discord.Object(guild_id) if guild_id else discord.utils.MISSING
    return discord.utils.oauth_url(application_id, permissions=invite_permissions(), scopes=SCOPES, guild=guild,
                                   disable_guild_select=guild_id is not None)


def missing(perms: discord.Permissions, *, in_thread: bool = False) -> list[Need]:
    """The needs ``perms`` lacks (in a thread, only those that matter there)."""
    return [n for n in NEEDS if (n.in_thread or not in_thread) and not getattr(perms, n.attr)]


def labels(needs: list[Need]) -> str:
    return ", ".join(f"**{n.label}**" for n in needs)


def fix_text(channel_id: int | str, needs: list[Need]) -> str:
    """What a moderator does about ``needs`` in one sentence."""
    return (f"In <#{channel_id}> I am missing {labels(needs)}. A moderator can grant them to my role in the channel's "
            "settings (Permissions), then run /setup to check.")


def permissions_in(interaction: discord.Interaction[Any], channel_id: int) -> tuple[discord.Permissions | None, bool]:
    """The bot's permissions in ``channel_id`` and whether it is a thread (None: the bot cannot tell).

    The interaction's own channel uses what Discord sent with it; another channel the guild cache."""
    channel: Any = None
    guild = interaction.guild
    if guild is not None:
        channel = guild.get_channel_or_thread(channel_id)
    is_thread = isinstance(channel, discord.Thread) or (
        channel is None and interaction.channel_id == channel_id and isinstance(interaction.channel, discord.Thread))
    if interaction.channel_id == channel_id:
        return interaction.app_permissions, is_thread
    if guild is None or channel is None or guild.me is None:
        return None, is_thread
    return channel.permissions_for(guild.me), is_thread


def cached_permissions(client: discord.Client, guild_id: int, channel_id: int) -> tuple[discord.Permissions | None, bool]:
    """The bot's permissions in a channel from the guild cache alone (background work, no interaction)."""
    guild = client.get_guild(guild_id)
    channel = guild.get_channel_or_thread(channel_id) if guild is not None else None
    if guild is None or channel is None or guild.me is None:
        return None, False
    return channel.permissions_for(guild.me), isinstance(channel, discord.Thread)


def refusal_text(client: discord.Client, guild_id: int | str, channel_id: int | str, exc: discord.HTTPException,
                 what: str) -> str:
    """Why Discord refused ``what`` in a channel, and what a moderator can do, for the job card and /jobs."""
    perms, in_thread = cached_permissions(client, int(guild_id), int(channel_id))
    lacking = missing(perms, in_thread=in_thread) if perms is not None else []
    if lacking:
        return f"Discord refused to {what}. {fix_text(channel_id, lacking)}"
    if exc.status == 404:
        return f"Discord refused to {what}: <#{channel_id}> or the message is gone. Choose a clip channel with /setup."
    if exc.status == 413:
        return f"Discord refused to {what}: a file is over this server's upload limit."
    detail = (exc.text or "").splitlines()[0][:150] if exc.text else ""
    return (f"Discord refused to {what} in <#{channel_id}> ({exc.status}, code {exc.code}{': ' + detail if detail else ''}). "
            "Check my permissions there, then run /setup.")

"""Who may do what: guild-only commands, admins (Manage Server), and the roles allowed to request jobs.

Consumes an interaction (its member's permissions and roles, as Discord sent them) and the guild's
settings; raises ``UserFacingError`` subclasses whose text says who may do it instead.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.errors import NotAllowed, UserFacingError
from bot.state import GuildSettings


def require_guild(interaction: discord.Interaction[Any]) -> str:
    """The guild id as text; outside a server the command is refused."""
    if interaction.guild_id is None:
        raise UserFacingError("This works only inside a server, not in direct messages.")
    return str(interaction.guild_id)


def is_admin(interaction: discord.Interaction[Any]) -> bool:
    """Administrator or Manage Server in this channel (as Discord computed them for the interaction)."""
    perms = interaction.permissions
    return bool(perms.administrator or perms.manage_guild)


def require_admin(interaction: discord.Interaction[Any], what: str) -> None:
    if not is_admin(interaction):
        raise NotAllowed(f"Only server admins (Manage Server) can {what}.")


def role_ids(user: discord.abc.User) -> set[str]:
    roles = getattr(user, "roles", None) or []
    return {str(r.id) for r in roles}


def require_requester(interaction: discord.Interaction[Any], settings: GuildSettings) -> None:
    """Admins always; otherwise everyone, unless /setup limited requests to some roles."""
    if not settings.requester_role_ids or is_admin(interaction):
        return
    if role_ids(interaction.user) & set(settings.requester_role_ids):
        return
    mentions = ", ".join(f"<@&{r}>" for r in settings.requester_role_ids)
    raise NotAllowed(f"Only members with one of these roles can request highlights here: {mentions}.")

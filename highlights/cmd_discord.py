"""``highlights discord invite``: the URL that adds the bot to a server, with its commands and permissions.

Consumes the bot's application id (``--app-id``, else the bot user id inside ``DISCORD_TOKEN``, which
is the application id for every bot made in the developer portal; ``.env`` is read as by ``highlights
run``); produces the OAuth2 URL with the ``bot`` and ``applications.commands`` scopes and the
permission integer of what the bot needs in its clip channel (``bot.channel_access.NEEDS``), and on
stderr what each permission is for.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import sys
from pathlib import Path

ENV_TOKEN = "DISCORD_TOKEN"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("discord", help="set the Discord bot up (invite URL)",
                       description="Helpers for running the Discord bot on your server.")
    inner = p.add_subparsers(dest="discord_command", metavar="SUBCOMMAND")
    invite = inner.add_parser("invite", help="print the URL that adds the bot to a server",
                              description="Print the OAuth2 URL that adds the bot with its slash commands and the "
                                          "permissions it needs (scopes bot and applications.commands).")
    invite.add_argument("--app-id", metavar="ID", default=None,
                        help="the application id (developer portal → General Information); default: from DISCORD_TOKEN")
    invite.add_argument("--guild", metavar="ID", default=None, help="preselect this server in the invite dialog")
    invite.add_argument("--env-file", metavar="PATH", type=Path, default=None,
                        help="settings file (default: .env in the current folder, if any)")
    invite.set_defaults(func=run_invite)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def application_id_from_token(token: str) -> int | None:
    """The bot user id a token starts with (base64 of the id, before the first dot); None if it is not one."""
    head = token.strip().split(".", 1)[0]
    try:
        text = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(text) if text.isdigit() and 15 <= len(text) <= 21 else None


def _snowflake(value: str, what: str, where: str) -> int:
    from detector.errors import ConfigError

    text = value.strip()
    if not (text.isdigit() and 15 <= len(text) <= 21):
        raise ConfigError(f"{what} {value[:40]!r} is not a Discord id (15-21 digits).", hint=where)
    return int(text)


def run_invite(args: argparse.Namespace) -> int:
    from detector.errors import ConfigError
    from highlights.env_file import load_env_file

    load_env_file(args.env_file)
    try:
        from bot.channel_access import NEEDS, invite_permissions, invite_url
    except ImportError:
        raise ConfigError("discord.py is not installed here.", hint="pip install '.[bot]'") from None
    if args.app_id:
        app_id = _snowflake(args.app_id, "--app-id", "Copy it from the developer portal (General Information → "
                                                     "Application ID).")
    else:
        token = os.environ.get(ENV_TOKEN, "").strip()
        found = application_id_from_token(token) if token else None
        if found is None:
            raise ConfigError(f"No application id: pass --app-id, or set {ENV_TOKEN} (in the environment or .env).",
                              hint="The id is on the developer portal's General Information page.")
        app_id = found
    guild = _snowflake(args.guild, "--guild", "In Discord, turn on Developer Mode (Settings → Advanced), then "
                                              "right-click the server → Copy Server ID.") if args.guild else None
    print(invite_url(app_id, guild))
    print(f"application {app_id}; scopes bot, applications.commands; permissions {invite_permissions().value}:",
          file=sys.stderr)
    for need in NEEDS:
        print(f"  {need.label}: {need.why}", file=sys.stderr)
    return 0

"""What Discord's REST API refuses, as checks the Discord double runs on every request body.

Each check raises ``DiscordError`` with the HTTP status, the JSON error code and the body Discord itself
answers with (``{"code", "message"}``, plus ``errors`` for an invalid form body), so the real discord.py
client raises the same ``HTTPException`` subclass with the same ``code`` it would get from Discord.
Every rule names the page of Discord's developer documentation (discord.com/developers/docs/…) it is
taken from; where the docs are silent, the discord-api-docs issue or the discord.py source that shows
the behaviour.
"""

from __future__ import annotations

import re
from typing import Any

MESSAGES = {
    0: "General error",
    10003: "Unknown Channel",
    10008: "Unknown Message",
    10015: "Unknown Webhook",
    10062: "Unknown interaction",
    40005: "Request entity too large",
    40060: "Interaction has already been acknowledged.",
    50001: "Missing Access",
    50005: "Cannot edit a message authored by another user",
    50006: "Cannot send an empty message",
    50013: "Missing Permissions",
    50027: "Invalid Webhook Token",
    50035: "Invalid Form Body",
}
"""JSON error codes and their messages (topics/opcodes-and-status-codes, "JSON Error Codes")."""

MIB = 1024 * 1024
UPLOAD_LIMITS = {0: 10 * MIB, 1: 10 * MIB, 2: 50 * MIB, 3: 100 * MIB}
"""Per-file upload limit by the guild's boost tier (reference, "Uploading Files": 10 MiB by default, more
with the server's boost tier; tiers 2 and 3 as discord.py's ``Guild._PREMIUM_GUILD_LIMITS``)."""

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
EMBED_LIMITS = {"title": 256, "description": 4096, "footer.text": 2048, "author.name": 256}
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
ACTION_ROWS_MAX = 5
BUTTONS_PER_ROW_MAX = 5
CUSTOM_ID_MAX = 100
BUTTON_LABEL_MAX = 80
THREAD_NAME_MAX = 100
ARCHIVE_DURATIONS = frozenset({60, 1440, 4320, 10080})
COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")
COMMAND_SIZE_MAX = 8000
COMMANDS_MAX = 100
OPTIONS_MAX = 25
CHOICES_MAX = 25


class DiscordError(Exception):
    """An error answer as Discord sends it."""

    def __init__(self, status: int, code: int, message: str | None = None,
                 errors: dict[str, Any] | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(code, "General error")
        self.errors = errors
        super().__init__(f"{status} {self.code} {self.message}")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def form_error(path: list[str | int], code: str, message: str) -> DiscordError:
    """An invalid form body: ``errors`` nests the keys of ``path`` down to ``_errors`` (reference, "Error Messages")."""
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        errors = {str(key): errors}
    return DiscordError(400, 50035, errors=errors)


def too_long(path: list[str | int], limit: int) -> DiscordError:
    return form_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _length(value: Any) -> int:
    # resources/message, "Embed Limits": measured without leading and trailing whitespace
    return len(str(value).strip()) if value is not None else 0


# -- messages -----------------------------------------------------------------------------------------------
def check_message(body: dict[str, Any], files: list[dict[str, Any]], *, upload_limit: int, edit: bool = False) -> None:
    """A create (or edit) message body with its uploaded files."""
    content = body.get("content")
    if content is not None and len(str(content)) > CONTENT_MAX:
        raise too_long(["content"], CONTENT_MAX)  # resources/message, "Create Message": content up to 2000 characters
    embeds = body.get("embeds") or []
    if len(embeds) > EMBEDS_MAX:
        raise too_long(["embeds"], EMBEDS_MAX)  # resources/message, "Create Message": up to 10 rich embeds
    total = 0
    for i, embed in enumerate(embeds):
        total += check_embed(embed, ["embeds", i])
    if total > EMBED_TOTAL_MAX:  # resources/message, "Embed Limits": 6000 characters across all embeds
        raise form_error(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}")
    check_components(body.get("components") or [])
    for f in files:  # reference, "Uploading Files": the limit applies to each file; over it Discord answers 413
        if f["size"] > upload_limit:
            raise DiscordError(413, 40005)
    if not edit and not (str(content or "").strip() or embeds or body.get("components") or files
                         or body.get("sticker_ids") or body.get("poll")):
        raise DiscordError(400, 50006)  # resources/message, "Create Message": at least one of content, embeds, … files


def check_embed(embed: dict[str, Any], at: list[str | int]) -> int:
    """One embed's limits (resources/message, "Embed Limits"); its characters towards the 6000 total."""
    size = 0
    for key, limit in EMBED_LIMITS.items():
        outer, _, inner = key.partition(".")
        value = embed.get(outer)
        if inner:
            value = value.get(inner) if isinstance(value, dict) else None
        n = _length(value)
        if n > limit:
            raise too_long([*at, *key.split(".")], limit)
        size += n
    url = embed.get("url")
    if url is not None and not re.match(r"^https?://[^\s/]+", str(url)):  # resources/message, "Embed Structure": url
        raise form_error([*at, "url"], "URL_TYPE_INVALID_URL", "Not a well formed URL.")
    fields = embed.get("fields") or []
    if len(fields) > FIELDS_MAX:  # resources/message, "Embed Limits": up to 25 fields
        raise too_long([*at, "fields"], FIELDS_MAX)
    for j, field in enumerate(fields):
        for key, limit in (("name", FIELD_NAME_MAX), ("value", FIELD_VALUE_MAX)):
            n = _length(field.get(key))
            if n == 0:  # resources/message, "Embed Field Structure": name and value are required strings
                raise form_error([*at, "fields", j, key], "BASE_TYPE_REQUIRED", "This field is required")
            if n > limit:  # resources/message, "Embed Limits": field.name 256, field.value 1024
                raise too_long([*at, "fields", j, key], limit)
            size += n
    return size


def check_components(rows: list[dict[str, Any]]) -> None:
    """Legacy (action row) components: rows, buttons, custom ids, labels (components/reference)."""
    if len(rows) > ACTION_ROWS_MAX:  # components/reference: legacy messages allow up to 5 action rows
        raise too_long(["components"], ACTION_ROWS_MAX)
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if row.get("type") != 1:  # components/reference, "Action Row": top-level components are action rows
            raise form_error(["components", i, "type"], "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "Expected an action row")
        children = row.get("components") or []
        if not children or len(children) > BUTTONS_PER_ROW_MAX:  # components/reference: up to 5 buttons per row
            raise form_error(["components", i, "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
        for j, item in enumerate(children):
            at: list[str | int] = ["components", i, "components", j]
            label = item.get("label")
            if label is not None and len(str(label)) > BUTTON_LABEL_MAX:  # components/reference, "Button": label max 80
                raise too_long([*at, "label"], BUTTON_LABEL_MAX)
            if item.get("style") == 5:  # components/reference, "Button": link buttons have a url, no custom_id
                if not item.get("url") or item.get("custom_id"):
                    raise form_error(at, "BUTTON_COMPONENT_INVALID", "Link buttons need a url and no custom_id")
                continue
            custom_id = str(item.get("custom_id") or "")
            if not 1 <= len(custom_id) <= CUSTOM_ID_MAX:  # components/reference: custom_id is 1-100 characters
                raise form_error([*at, "custom_id"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            if custom_id in seen:  # components/reference: components of a message must not share a custom_id
                raise form_error([*at, "custom_id"], "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
            seen.add(custom_id)


# -- threads ------------------------------------------------------------------------------------------------
def check_thread(body: dict[str, Any]) -> None:
    """Start Thread without Message (resources/channel)."""
    name = str(body.get("name") or "")
    if not 1 <= len(name) <= THREAD_NAME_MAX:  # resources/channel, "Start Thread without Message": 1-100 character name
        raise form_error(["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    duration = body.get("auto_archive_duration")
    if duration is not None and int(duration) not in ARCHIVE_DURATIONS:  # same page: 60, 1440, 4320 or 10080
        raise form_error(["auto_archive_duration"], "BASE_TYPE_CHOICES", "Value must be one of {60, 1440, 4320, 10080}.")


# -- application commands ----------------------------------------------------------------------------------
def check_commands(commands: list[dict[str, Any]]) -> None:
    """Bulk overwrite of application commands (interactions/application-commands)."""
    if len(commands) > COMMANDS_MAX:  # interactions/application-commands, "Registering a Command": 100 CHAT_INPUT commands
        raise too_long([], COMMANDS_MAX)
    names: set[tuple[int, str]] = set()
    for i, command in enumerate(commands):
        kind = int(command.get("type", 1))
        key = (kind, str(command.get("name")))
        if key in names:  # interactions/application-commands: names are unique per application, type and scope
            raise form_error([i, "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique")
        names.add(key)
        _check_named(command, [i])
        _check_options(command.get("options") or [], [i, "options"])
        if _size(command) > COMMAND_SIZE_MAX:  # interactions/application-commands: 8000 characters per command
            raise form_error([i], "APPLICATION_COMMAND_TOO_LARGE", f"Command exceeds maximum size ({COMMAND_SIZE_MAX})")


def _check_named(item: dict[str, Any], at: list[str | int]) -> None:
    name = str(item.get("name") or "")
    # interactions/application-commands, "Application Command Naming": 1-32 characters of the regex, lower case
    if not COMMAND_NAME.match(name) or name != name.lower():
        raise form_error([*at, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    description = str(item.get("description") or "")
    if not 1 <= len(description) <= 100:  # same page: CHAT_INPUT descriptions are 1-100 characters
        raise form_error([*at, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


def _check_options(options: list[dict[str, Any]], at: list[str | int]) -> None:
    if len(options) > OPTIONS_MAX:  # interactions/application-commands: options, max of 25
        raise too_long(at, OPTIONS_MAX)
    optional_seen = False
    for j, option in enumerate(options):
        _check_named(option, [*at, j])
        if option.get("required"):
            if optional_seen:  # same page: required options must be listed before optional options
                raise form_error([*at, j, "required"], "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                 "Required options must be placed before non-required options")
        elif int(option.get("type", 3)) not in (1, 2):
            optional_seen = True
        choices = option.get("choices") or []
        if len(choices) > CHOICES_MAX:  # same page, "Application Command Option Structure": choices, max 25
            raise too_long([*at, j, "choices"], CHOICES_MAX)
        for k, choice in enumerate(choices):
            if not 1 <= len(str(choice.get("name") or "")) <= 100:  # same page: 1-100 character choice name
                raise form_error([*at, j, "choices", k, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        _check_options(option.get("options") or [], [*at, j, "options"])


def _size(item: dict[str, Any]) -> int:
    """Characters of names, descriptions and choice values (interactions/application-commands, "Registering a Command")."""
    n = len(str(item.get("name") or "")) + len(str(item.get("description") or ""))
    for choice in item.get("choices") or []:
        n += len(str(choice.get("name") or "")) + len(str(choice.get("value") or ""))
    return n + sum(_size(o) for o in item.get("options") or [])

"""The REST routes of the Discord double: commands, interaction callbacks, webhooks, channels, messages.

``DiscordRoutes`` is the part of ``highlights.doubles.discord.DiscordDouble`` that answers a request once
it is authorised: each rule names the page of Discord's developer documentation it comes from, and a
refusal raises ``DiscordError`` with Discord's status and JSON error code.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import discord

from highlights.doubles import discord_permissions as perm
from highlights.doubles.discord_model import (
    APP_ID,
    BOT_ID,
    BOT_USER,
    EPHEMERAL,
    FIRST_ANSWER_S,
    OWNER_ID,
    THREAD_SENDER,
    TOKEN_LIFE_S,
    Interaction,
    now_iso,
)
from highlights.doubles.discord_rules import (
    UPLOAD_LIMITS,
    DiscordError,
    check_commands,
    check_message,
    check_thread,
    form_error,
)


class DiscordRoutes:
    """Routes a request to Discord's answer; the state lives in ``DiscordDouble``."""

    interactions: dict[str, Interaction]
    messages: dict[int, dict[str, Any]]
    channels: dict[int, dict[str, Any]]
    commands: list[dict[str, Any]]
    guild_commands: dict[int, list[dict[str, Any]]]
    guild: perm.GuildModel
    premium_tier: int
    _ids: itertools.count[int]

    def snowflake(self) -> int:
        return discord.utils.time_snowflake(datetime.now(UTC)) + next(self._ids)

    def bot_permissions(self, channel_id: int) -> int:
        channel = self.channels[channel_id]
        parent = self.channels.get(int(channel["parent_id"])) if channel.get("parent_id") else None
        return self.guild.permissions(channel, parent)

    def upload_limit(self) -> int:
        return UPLOAD_LIMITS[self.premium_tier]

    def _route(self, method: str, p: list[str], raw: Any, files: list[dict[str, Any]], query: Any) -> Any:
        body: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if p[:2] == ["users", "@me"] and method == "GET":
            return BOT_USER
        if p[:2] == ["oauth2", "applications"] and method == "GET":
            return {"id": str(APP_ID), "name": "highlights", "icon": None, "description": "", "bot_public": True,
                    "bot_require_code_grant": False, "owner": {**BOT_USER, "id": str(OWNER_ID), "bot": False},
                    "verify_key": "0" * 64, "flags": 0, "team": None}
        if p[0] == "applications" and p[-1] == "commands" and method == "PUT":
            return self._register(p, raw)
        if p[0] == "interactions" and p[-1] == "callback":
            return self._callback(p[2], body, files)
        if p[0] == "webhooks" and len(p) >= 3:
            return self._webhook(method, p[1], p[2], p[3:], body, files)
        if p[0] == "channels" and len(p) >= 2 and p[1].isdigit():
            return self._channels(method, int(p[1]), p[2:], body, files, query)
        raise DiscordError(404, 0, "404: Not Found")

    def _register(self, p: list[str], raw: Any) -> list[dict[str, Any]]:
        commands = raw if isinstance(raw, list) else []
        check_commands(commands)
        stored = [{**c, "id": str(self.snowflake()), "application_id": str(APP_ID), "version": "1"} for c in commands]
        if len(p) >= 5 and p[2] == "guilds":
            self.guild_commands[int(p[3])] = stored
        else:
            self.commands = stored
        return stored

    # -- interactions -----------------------------------------------------------------------------------
    def _callback(self, token: str, body: dict[str, Any], files: list[dict[str, Any]]) -> dict[str, Any]:
        info = self.interactions.get(token)
        if info is None or time.monotonic() - info.fed_at > FIRST_ANSWER_S:
            # interactions/receiving-and-responding: no answer within 3 s and the token is invalidated
            raise DiscordError(404, 10062)
        if info.acknowledged:  # topics/opcodes-and-status-codes 40060: an interaction is acknowledged once
            raise DiscordError(400, 40060)
        kind = int(body["type"])
        data = body.get("data") or {}
        message: dict[str, Any] | None = None
        loading = False
        if kind == 4:
            check_message(data, files, upload_limit=self.upload_limit())
        elif kind == 7:
            check_message(data, files, upload_limit=self.upload_limit(), edit=True)
        elif kind == 8:
            _check_choices(data.get("choices") or [])
        info.acknowledged = True
        if kind in (4, 5):
            loading = kind == 5
            info.ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
            message = self._new_message(info.channel_id, data if kind == 4 else {"flags": data.get("flags", 0)},
                                        files, interaction=True)
            info.original_id = int(message["id"])
            info.deferred_pending = loading
        elif kind == 6:
            info.original_id = info.message_id
        elif kind == 7:
            info.original_id = info.message_id
            message = self._edit_message(int(info.message_id or 0), data, files)
        answer: dict[str, Any] = {"interaction": {"id": str(info.id), "type": 2, "response_message_loading": loading,
                                                  "response_message_ephemeral": info.ephemeral}}
        if message is not None:
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": kind, "message": message}
        return answer

    def _webhook(self, method: str, app: str, token: str, rest: list[str], body: dict[str, Any],
                 files: list[dict[str, Any]]) -> Any:
        info = self.interactions.get(token)
        if app != str(APP_ID) or info is None or not info.acknowledged:
            raise DiscordError(404, 10015)  # receiving-and-responding, "Followup Messages": only after an answer
        if time.monotonic() - info.fed_at > TOKEN_LIFE_S:
            raise DiscordError(401, 50027)  # receiving-and-responding: tokens are valid for 15 minutes
        if not rest and method == "POST":
            check_message(body, files, upload_limit=self.upload_limit())
            if info.deferred_pending:  # receiving-and-responding, "Create Followup Message": it edits the deferral
                info.deferred_pending = False
                keep = {**body, "flags": EPHEMERAL if info.ephemeral else 0}
                return self._edit_message(int(info.original_id or 0), keep, files)
            message = self._new_message(info.channel_id, body, files, interaction=True)
            info.followups.add(int(message["id"]))
            return message
        if rest[:1] == ["messages"] and len(rest) == 2:
            target = info.original_id if rest[1] == "@original" else int(rest[1])
            if target is None or (target != info.original_id and target not in info.followups):
                raise DiscordError(404, 10008)  # resources/webhook, "Edit Webhook Message": its own messages only
            if method == "PATCH":
                check_message(body, files, upload_limit=self.upload_limit(), edit=True)
                if rest[1] == "@original":
                    info.deferred_pending = False
                return self._edit_message(int(target), body, files)
            if method == "GET":
                return self.messages[int(target)]
        raise DiscordError(404, 0, "404: Not Found")

    # -- channels -----------------------------------------------------------------------------------------
    def _channels(self, method: str, cid: int, rest: list[str], body: dict[str, Any], files: list[dict[str, Any]],
                  query: Any) -> Any:
        channel = self.channels.get(cid)
        if channel is None:
            raise DiscordError(404, 10003)  # topics/opcodes-and-status-codes: Unknown Channel
        allowed = self.bot_permissions(cid)
        if not allowed & perm.VIEW_CHANNEL:  # topics/permissions: without View Channel a channel is out of reach
            raise DiscordError(403, 50001)
        is_thread = channel["type"] in perm.THREAD_TYPES
        if not rest and method == "GET":
            return channel
        if rest == ["messages"] and method == "POST":
            # resources/message, "Create Message": SEND_MESSAGES; topics/threads: SEND_MESSAGES_IN_THREADS in threads
            _require(allowed, THREAD_SENDER if is_thread else perm.SEND_MESSAGES)
            if body.get("embeds"):  # discord-api-docs#2601: embeds without Embed Links are refused with 50013
                _require(allowed, perm.EMBED_LINKS)
            if files:  # topics/permissions: ATTACH_FILES allows uploading files
                _require(allowed, perm.ATTACH_FILES)
            check_message(body, files, upload_limit=self.upload_limit())
            return self._new_message(cid, body, files)
        if rest == ["messages"] and method == "GET":
            limit = int(query.get("limit", 50))
            if not 1 <= limit <= 100:  # resources/message, "Get Channel Messages": limit 1-100
                raise DiscordError(400, 50035)
            if not allowed & perm.READ_MESSAGE_HISTORY:  # same page: without it no messages are returned
                return []
            found = sorted(self.channel_messages(cid), key=lambda m: int(m["id"]), reverse=True)
            if query.get("before"):
                found = [m for m in found if int(m["id"]) < int(query["before"])]
            if query.get("after"):
                found = [m for m in found if int(m["id"]) > int(query["after"])]
                return found[-limit:]
            return found[:limit]
        if rest[:1] == ["messages"] and len(rest) == 2 and method == "PATCH":
            message = self.messages.get(int(rest[1]))
            if message is None or int(message["channel_id"]) != cid:
                raise DiscordError(404, 10008)
            if message["author"]["id"] != str(BOT_ID):  # resources/message, "Edit Message": the author's own only
                raise DiscordError(403, 50005)
            if body.get("embeds") and not allowed & perm.EMBED_LINKS:
                body = {k: v for k, v in body.items() if k != "embeds"}  # discord-api-docs#2601: dropped on edit
            check_message(body, files, upload_limit=self.upload_limit(), edit=True)
            return self._edit_message(int(rest[1]), body, files)
        if rest == ["threads"] and method == "POST":
            kind = int(body.get("type", 12))  # resources/channel: type defaults to PRIVATE_THREAD
            # topics/permissions: CREATE_PUBLIC_THREADS for public threads, CREATE_PRIVATE_THREADS (1 << 36) private
            _require(allowed, perm.CREATE_PUBLIC_THREADS if kind == perm.PUBLIC_THREAD else 1 << 36)
            check_thread(body)
            return self._new_thread(cid, channel, kind, body)
        raise DiscordError(404, 0, "404: Not Found")

    def _new_thread(self, cid: int, channel: dict[str, Any], kind: int, body: dict[str, Any]) -> dict[str, Any]:
        tid = self.snowflake()
        thread = {"id": str(tid), "type": kind, "guild_id": channel.get("guild_id"), "parent_id": str(cid),
                  "owner_id": str(BOT_ID), "name": body["name"], "message_count": 0, "member_count": 1,
                  "rate_limit_per_user": 0, "flags": 0, "last_message_id": None,
                  "thread_metadata": {"archived": False, "auto_archive_duration": body.get("auto_archive_duration", 1440),
                                      "archive_timestamp": now_iso(), "locked": False}}
        self.channels[tid] = thread
        return thread

    # -- messages ---------------------------------------------------------------------------------------
    def _new_message(self, channel_id: int, body: dict[str, Any], files: list[dict[str, Any]], *,
                     interaction: bool = False) -> dict[str, Any]:
        mid = self.snowflake()
        message = {
            "id": str(mid), "channel_id": str(channel_id), "author": BOT_USER, "content": body.get("content") or "",
            "timestamp": now_iso(), "edited_timestamp": None, "tts": False, "mention_everyone": False,
            "mentions": [], "mention_roles": [], "attachments": _attachments(files, self.snowflake),
            "embeds": body.get("embeds") or [], "pinned": False, "type": 20 if interaction else 0,
            "flags": int(body.get("flags") or 0), "components": body.get("components") or [],
        }
        if interaction:
            message["webhook_id"] = str(APP_ID)
            message["application_id"] = str(APP_ID)
        self.messages[mid] = message
        return message

    def _edit_message(self, mid: int, body: dict[str, Any], files: list[dict[str, Any]]) -> dict[str, Any]:
        message = self.messages.get(mid)
        if message is None:
            raise DiscordError(404, 10008)
        for key in ("content", "embeds", "components", "flags"):
            if key in body and body[key] is not None:
                message[key] = body[key]
        if files or "attachments" in body:
            message["attachments"] = _attachments(files, self.snowflake)
        message["edited_timestamp"] = now_iso()
        return message



def _require(allowed: int, needed: int) -> None:
    if allowed & needed != needed:
        raise DiscordError(403, 50013)  # topics/opcodes-and-status-codes 50013: you lack permissions



def _check_choices(choices: list[dict[str, Any]]) -> None:
    if len(choices) > 25:  # receiving-and-responding, "Autocomplete": up to 25 choices
        raise form_error(["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for i, choice in enumerate(choices):
        if not 1 <= len(str(choice.get("name") or "")) <= 100:  # application-commands: 1-100 character choice name
            raise form_error(["data", "choices", i, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")



def _attachments(files: list[dict[str, Any]], ids: Callable[[], int]) -> list[dict[str, Any]]:
    out = []
    for f in files:
        aid = ids()
        url = f"https://cdn.discordapp.test/attachments/{aid}/{f['filename']}"
        out.append({"id": str(aid), "filename": f["filename"], "size": f["size"], "url": url, "proxy_url": url,
                    "content_type": f.get("content_type")})
    return out


"""A local double of Discord's REST API (aiohttp on 127.0.0.1), as strict as Discord, and its test queries.

The real discord.py client talks to this server (``discord.http.Route.BASE`` points here): it logs in
(``/users/@me``, ``/oauth2/applications/@me``), registers commands (globally or in one guild), answers
interactions (``/interactions/{id}/{token}/callback``), sends and edits follow-ups through the
interaction webhook, sends and edits channel messages (JSON or multipart with files), creates threads
and reads a channel's history. Every request is recorded (method, path, JSON body, files) with its
arrival time; messages are kept so later requests (edits, history) see them as Discord would.

What Discord refuses, this double refuses, with Discord's status, JSON error code and body
(``tests.bot.discord_rules`` for bodies, ``tests.bot.discord_permissions`` for the bot's permissions):
the 3-second deadline of an interaction's first answer (10062) and its single acknowledgement (40060),
the 15-minute life of its token (50027), embed, content, component, thread-name and command limits
(50035, 50006), uploads over the guild's boost-tier limit (413, 40005), channel routes without View
Channel (50001), without the permission an action needs (50013: send, send in threads, embed links,
attach files, create public threads), editing someone else's message (50005), a history read without
Read Message History (an empty list), unknown channels and messages (10003, 10008), a wrong bot token
(401). Tests inject 429s with ``retry_after`` (``rate_limit``) and other refusals (``inject``).
Events are fed the way the gateway delivers them: ``client._connection.parsers[EVENT](data)``.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord
from aiohttp import web

from tests.bot import discord_permissions as perm
from tests.bot.discord_rules import (
    UPLOAD_LIMITS,
    DiscordError,
    check_commands,
    check_message,
    check_thread,
    form_error,
)

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


def _now_iso() -> str:
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
class _Interaction:
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


@dataclass
class _Injected:
    prefix: str
    error: DiscordError
    times: int
    retry_after: float | None = None


@dataclass
class DiscordDouble:
    premium_tier: int = 0
    token: str = TOKEN
    """The only bot token this Discord knows."""
    requests: list[Request] = field(default_factory=list)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    channels: dict[int, dict[str, Any]] = field(default_factory=dict)
    commands: list[dict[str, Any]] = field(default_factory=list)
    guild_commands: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    interactions: dict[str, _Interaction] = field(default_factory=dict)
    guild: perm.GuildModel = field(default_factory=lambda: perm.GuildModel(GUILD_ID, BOT_ID, BOT_ROLE_ID))
    _injected: list[_Injected] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _waiters: set[asyncio.Future[None]] = field(default_factory=set)
    _runner: web.AppRunner | None = None
    base: str = ""

    # -- server -----------------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", API + "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}{API}"
        self.guild.roles = {GUILD_ID: perm.EVERYONE, BOT_ROLE_ID: perm.BOT_INVITED_WITH}
        self.guild.bot_roles = {BOT_ROLE_ID}
        for cid, name in ((CHANNEL_ID, "highlights"), (OTHER_CHANNEL_ID, "clips")):
            self.channels[cid] = text_channel(cid, name)
        return self.base

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def snowflake(self) -> int:
        return discord.utils.time_snowflake(datetime.now(UTC)) + next(self._ids)

    # -- what tests change ------------------------------------------------------------------------------
    def inject(self, prefix: str, status: int, code: int, times: int = 1) -> None:
        """Answer the next ``times`` requests whose ``"METHOD /path"`` starts with ``prefix`` with this error."""
        self._injected.append(_Injected(prefix, DiscordError(status, code), times))

    def rate_limit(self, prefix: str, retry_after: float, times: int = 1) -> None:
        """429 the next matching requests as Discord does (topics/rate-limits, "Exceeding A Rate Limit")."""
        error = DiscordError(429, 0, "You are being rate limited.")
        self._injected.append(_Injected(prefix, error, times, retry_after=retry_after))

    def set_overwrite(self, channel_id: int, target: int, *, allow: int = 0, deny: int = 0, member: bool = False
                      ) -> dict[str, Any]:
        """Set a channel permission overwrite; returns the channel as CHANNEL_UPDATE carries it."""
        self.guild.overwrites.setdefault(channel_id, {})[target] = (1 if member else 0, allow, deny)
        self.channels[channel_id]["permission_overwrites"] = self.guild.overwrite_payload(channel_id)
        return self.channels[channel_id]

    def bot_permissions(self, channel_id: int) -> int:
        channel = self.channels[channel_id]
        parent = self.channels.get(int(channel["parent_id"])) if channel.get("parent_id") else None
        return self.guild.permissions(channel, parent)

    def upload_limit(self) -> int:
        return UPLOAD_LIMITS[self.premium_tier]

    def age(self, token: str, seconds: float) -> None:
        """Make interaction ``token`` ``seconds`` older (its deadlines come sooner)."""
        self.interactions[token].fed_at -= seconds

    # -- queries for tests --------------------------------------------------------------------------------
    def find(self, method: str, path_part: str = "", since: int = 0, *, ok: bool | None = None) -> list[Request]:
        """Recorded requests; ``ok``: only those answered 2xx (True) or refused (False)."""
        return [r for r in self.requests[since:] if r.method == method and path_part in r.path
                and (ok is None or (200 <= r.status < 300) == ok)]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition",
                       recheck_s: float = 0.05) -> Any:
        """The first true value of ``predicate`` (sync or async), checked after every request the double
        answers, and every ``recheck_s`` for conditions on the bot's own state (storage, files).
        ``timeout`` only bounds a failure; the predicate must not raise or assert."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            left = deadline - loop.time()
            if left <= 0:
                break
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait({waiter}, timeout=min(recheck_s, left))
            finally:
                self._waiters.discard(waiter)
        routes = "\n".join(f"  {r.route} → {r.status} {json.dumps(r.body)[:200] if r.body else ''}"
                           for r in self.requests[-15:])
        raise AssertionError(f"timed out waiting for {what}; last requests:\n{routes}")

    def callback(self, token: str) -> Request | None:
        found = [r for r in self.requests if r.method == "POST" and r.path.endswith(f"/{token}/callback")]
        return found[0] if found else None

    def original(self, token: str) -> dict[str, Any] | None:
        info = self.interactions.get(token)
        if info is None or info.original_id is None:
            return None
        return self.messages.get(info.original_id)

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if int(m["channel_id"]) == channel_id]

    def threads(self) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c["type"] in perm.THREAD_TYPES]

    # -- handler ----------------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await _read_body(request)
        recorded = Request(request.method, path, dict(request.query), body, files, time.monotonic())
        self.requests.append(recorded)
        try:
            response = self._answer(recorded, request.headers.get("Authorization"))
        finally:
            for waiter in list(self._waiters):
                if not waiter.done():
                    waiter.set_result(None)
        recorded.status = response.status
        return response

    def _answer(self, recorded: Request, auth: str | None) -> web.Response:
        for injected in self._injected:
            if injected.times > 0 and recorded.route.startswith(injected.prefix):
                injected.times -= 1
                if injected.retry_after is not None:
                    return _rate_limited(injected.retry_after)
                return _json(injected.error.body(), injected.error.status)
        parts = recorded.path.strip("/").split("/")
        try:
            if parts[0] not in ("interactions", "webhooks") and auth != f"Bot {self.token}":
                # reference, "Authentication": a bot token in the Authorization header, else 401
                raise DiscordError(401, 0, "401: Unauthorized")
            result = self._route(recorded.method, parts, recorded.body, recorded.files, recorded.query)
        except DiscordError as exc:
            return _json(exc.body(), exc.status)
        if result is None:
            return web.Response(status=204)
        return _json(result)

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
                                      "archive_timestamp": _now_iso(), "locked": False}}
        self.channels[tid] = thread
        return thread

    # -- messages ---------------------------------------------------------------------------------------
    def _new_message(self, channel_id: int, body: dict[str, Any], files: list[dict[str, Any]], *,
                     interaction: bool = False) -> dict[str, Any]:
        mid = self.snowflake()
        message = {
            "id": str(mid), "channel_id": str(channel_id), "author": BOT_USER, "content": body.get("content") or "",
            "timestamp": _now_iso(), "edited_timestamp": None, "tts": False, "mention_everyone": False,
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
        message["edited_timestamp"] = _now_iso()
        return message

    # -- gateway-style input ----------------------------------------------------------------------------
    def register(self, payload: dict[str, Any]) -> None:
        """Remember an interaction fed to the client, so its callback and webhook calls can be served."""
        message = payload.get("message")
        self.interactions[payload["token"]] = _Interaction(
            id=int(payload["id"]), token=payload["token"], channel_id=int(payload["channel_id"]),
            fed_at=time.monotonic(), message_id=int(message["id"]) if message else None)


def _require(allowed: int, needed: int) -> None:
    if allowed & needed != needed:
        raise DiscordError(403, 50013)  # topics/opcodes-and-status-codes 50013: you lack permissions


def _check_choices(choices: list[dict[str, Any]]) -> None:
    if len(choices) > 25:  # receiving-and-responding, "Autocomplete": up to 25 choices
        raise form_error(["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for i, choice in enumerate(choices):
        if not 1 <= len(str(choice.get("name") or "")) <= 100:  # application-commands: 1-100 character choice name
            raise form_error(["data", "choices", i, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


def _json(value: Any, status: int = 200) -> web.Response:
    """JSON exactly as Discord labels it (discord.py parses a body only for ``application/json``)."""
    return web.Response(body=json.dumps(value).encode(), status=status, headers={"Content-Type": "application/json"})


def _rate_limited(retry_after: float) -> web.Response:
    """topics/rate-limits, "Exceeding A Rate Limit": 429, ``retry_after`` in the body and the headers; the
    ``Via`` header is what discord.py (``HTTPClient.request``) reads as "from Discord, not a Cloudflare ban"."""
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
    headers = {"Content-Type": "application/json", "Retry-After": str(max(int(retry_after + 0.999), 1)),
               "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": str(retry_after),
               "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}", "X-RateLimit-Bucket": "double-bucket",
               "X-RateLimit-Scope": "user", "Via": "1.1 google"}
    return web.Response(body=json.dumps(body).encode(), status=429, headers=headers)


def text_channel(cid: int, name: str, guild_id: int = GUILD_ID) -> dict[str, Any]:
    return {"id": str(cid), "type": 0, "guild_id": str(guild_id), "name": name, "position": 0,
            "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None, "last_message_id": None,
            "rate_limit_per_user": 0, "flags": 0}


def _attachments(files: list[dict[str, Any]], ids: Callable[[], int]) -> list[dict[str, Any]]:
    out = []
    for f in files:
        aid = ids()
        url = f"https://cdn.discordapp.test/attachments/{aid}/{f['filename']}"
        out.append({"id": str(aid), "filename": f["filename"], "size": f["size"], "url": url, "proxy_url": url,
                    "content_type": f.get("content_type")})
    return out


async def _read_body(request: web.Request) -> tuple[dict[str, Any] | list[Any] | None, list[dict[str, Any]]]:
    files: list[dict[str, Any]] = []
    if request.content_type.startswith("multipart/"):
        body: Any = None
        reader = await request.multipart()
        async for part in reader:
            data = await part.read()  # type: ignore[union-attr]
            if part.name == "payload_json":
                body = json.loads(data)
            else:
                files.append({"field": part.name, "filename": part.filename, "size": len(data),
                              "content_type": part.headers.get("Content-Type"), "head": bytes(data[:16])})
        return body, files
    if request.can_read_body:
        raw = await request.read()
        return (json.loads(raw) if raw else None), files
    return None, files

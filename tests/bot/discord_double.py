"""A local double of Discord's REST API (aiohttp on 127.0.0.1) and a gateway-style event feeder.

The real discord.py client talks to this server (``discord.http.Route.BASE`` points here): it logs
in (``/users/@me``, ``/oauth2/applications/@me``), registers commands, answers interactions
(``/interactions/{id}/{token}/callback``), sends and edits follow-ups through the interaction
webhook, sends and edits channel messages (JSON or multipart with files), creates threads and reads
a channel's history. Every request is recorded (method, path, JSON body, files) with its arrival
time, and messages are kept so later requests (edits, history) see them as Discord would.

Discord behaviours modelled because the bot depends on them: after a deferred "thinking" response
the first follow-up replaces the original response (keeping its ephemeral flag); a deferred update
of a component makes ``@original`` the message the component is on; ephemeral messages carry flag
64. Events are fed the way the gateway delivers them: ``client._connection.parsers[EVENT](data)``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord
from aiohttp import web

API = "/api/v10"
EPHEMERAL = 64
BOT_ID = 1100000000000000001
APP_ID = 1100000000000000002
GUILD_ID = 1200000000000000001
CHANNEL_ID = 1200000000000000002
OTHER_CHANNEL_ID = 1200000000000000003
OWNER_ID = 1200000000000000009
BOT_USER = {"id": str(BOT_ID), "username": "highlights", "discriminator": "0", "global_name": None,
            "avatar": None, "bot": True, "flags": 0}


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
    deferred_pending: bool = False
    ephemeral: bool = False


@dataclass
class DiscordDouble:
    requests: list[Request] = field(default_factory=list)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    channels: dict[int, dict[str, Any]] = field(default_factory=dict)
    commands: list[dict[str, Any]] = field(default_factory=list)
    interactions: dict[str, _Interaction] = field(default_factory=dict)
    fail_next: dict[str, int] = field(default_factory=dict)
    """``"METHOD /path"`` prefix → HTTP status to answer the next matching request with (once)."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
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
        for cid, name in ((CHANNEL_ID, "highlights"), (OTHER_CHANNEL_ID, "clips")):
            self.channels[cid] = text_channel(cid, name)
        return self.base

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def snowflake(self) -> int:
        return discord.utils.time_snowflake(datetime.now(UTC)) + next(self._ids)

    # -- queries for tests --------------------------------------------------------------------------------
    def find(self, method: str, path_part: str = "", since: int = 0) -> list[Request]:
        return [r for r in self.requests[since:] if r.method == method and path_part in r.path]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.02)
        routes = "\n".join(f"  {r.route} {json.dumps(r.body)[:200] if r.body else ''}" for r in self.requests[-15:])
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
        return [c for c in self.channels.values() if c["type"] == 11]

    # -- handler ----------------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await _read_body(request)
        recorded = Request(request.method, path, dict(request.query), body, files, time.monotonic())
        self.requests.append(recorded)
        for prefix, status in list(self.fail_next.items()):
            if recorded.route.startswith(prefix):
                del self.fail_next[prefix]
                return _json({"message": "injected failure", "code": 0}, status)
        parts = path.strip("/").split("/")
        try:
            result = self._route(request.method, parts, body, files, request.query)
        except KeyError as exc:
            return _json({"message": f"Unknown {exc}", "code": 10008}, 404)
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
            self.commands = [{**c, "id": str(self.snowflake()), "application_id": str(APP_ID), "version": "1"}
                             for c in (raw if isinstance(raw, list) else [])]
            return self.commands
        if p[0] == "interactions" and p[-1] == "callback":
            return self._callback(p[2], body, files)
        if p[0] == "webhooks":
            return self._webhook(method, p[2], p[3:], body, files)
        if p[0] == "channels":
            return self._channels(method, int(p[1]), p[2:], body, files, query)
        raise KeyError("/".join(p))

    def _callback(self, token: str, body: dict[str, Any], files: list[dict[str, Any]]) -> dict[str, Any]:
        info = self.interactions[token]
        kind = int(body["type"])
        data = body.get("data") or {}
        message: dict[str, Any] | None = None
        loading = False
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

    def _webhook(self, method: str, token: str, rest: list[str], body: dict[str, Any], files: list[dict[str, Any]]
                 ) -> Any:
        info = self.interactions[token]
        if not rest and method == "POST":
            if info.deferred_pending:  # Discord: the first follow-up after a deferral replaces the original
                info.deferred_pending = False
                keep = {**body, "flags": EPHEMERAL if info.ephemeral else 0}
                return self._edit_message(int(info.original_id or 0), keep, files)
            return self._new_message(info.channel_id, body, files, interaction=True)
        if rest[:1] == ["messages"] and len(rest) == 2:
            target = info.original_id if rest[1] == "@original" else int(rest[1])
            if target is None:
                raise KeyError("original response")
            if method == "PATCH":
                if rest[1] == "@original":
                    info.deferred_pending = False
                return self._edit_message(int(target), body, files)
            if method == "GET":
                return self.messages[int(target)]
        raise KeyError(f"webhook {method} {rest}")

    def _channels(self, method: str, cid: int, rest: list[str], body: dict[str, Any], files: list[dict[str, Any]],
                  query: Any) -> Any:
        channel = self.channels[cid]
        if not rest and method == "GET":
            return channel
        if rest == ["messages"] and method == "POST":
            return self._new_message(cid, body, files)
        if rest == ["messages"] and method == "GET":
            found = sorted(self.channel_messages(cid), key=lambda m: int(m["id"]), reverse=True)
            if query.get("before"):
                found = [m for m in found if int(m["id"]) < int(query["before"])]
            return found[: int(query.get("limit", 50))]
        if rest[:1] == ["messages"] and len(rest) == 2 and method == "PATCH":
            if int(self.messages[int(rest[1])]["channel_id"]) != cid:
                raise KeyError("message in this channel")
            return self._edit_message(int(rest[1]), body, files)
        if rest == ["threads"] and method == "POST":
            tid = self.snowflake()
            thread = {"id": str(tid), "type": int(body.get("type", 11)), "guild_id": channel.get("guild_id"),
                      "parent_id": str(cid), "owner_id": str(BOT_ID), "name": body["name"], "message_count": 0,
                      "member_count": 1, "rate_limit_per_user": 0, "flags": 0, "last_message_id": None,
                      "thread_metadata": {"archived": False, "auto_archive_duration": body.get("auto_archive_duration", 1440),
                                          "archive_timestamp": _now_iso(), "locked": False}}
            self.channels[tid] = thread
            return thread
        raise KeyError(f"channel {method} {rest}")

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
        message = self.messages[mid]
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


def _json(value: Any, status: int = 200) -> web.Response:
    """JSON exactly as Discord labels it (discord.py parses a body only for ``application/json``)."""
    return web.Response(body=json.dumps(value).encode(), status=status, headers={"Content-Type": "application/json"})


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

"""A local double of Discord's REST API (aiohttp on 127.0.0.1), as strict as Discord, and its test queries.

The real discord.py client talks to this server (``discord.http.Route.BASE`` points here): it logs in
(``/users/@me``, ``/oauth2/applications/@me``), registers commands (globally or in one guild), answers
interactions (``/interactions/{id}/{token}/callback``), sends and edits follow-ups through the
interaction webhook, sends and edits channel messages (JSON or multipart with files), creates threads
and reads a channel's history. Every request is recorded (method, path, JSON body, files) with its
arrival time; messages are kept so later requests (edits, history) see them as Discord would.

What Discord refuses, this double refuses, with Discord's status, JSON error code and body
(``highlights.doubles.discord_rules`` for bodies, ``highlights.doubles.discord_permissions`` for the bot's permissions):
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
from typing import Any

from aiohttp import web

from highlights.doubles import discord_permissions as perm
from highlights.doubles.discord_model import (  # noqa: F401 (re-exported: tests import the ids from here)
    API,
    APP_ID,
    BOT_ID,
    BOT_ROLE_ID,
    BOT_USER,
    CHANNEL_ID,
    EPHEMERAL,
    GUILD_ID,
    OTHER_CHANNEL_ID,
    OWNER_ID,
    TOKEN,
    Interaction,
    Request,
    text_channel,
)
from highlights.doubles.discord_routes import DiscordRoutes
from highlights.doubles.discord_rules import DiscordError


@dataclass
class _Injected:
    prefix: str
    error: DiscordError
    times: int
    retry_after: float | None = None



@dataclass
class DiscordDouble(DiscordRoutes):
    premium_tier: int = 0
    token: str = TOKEN
    """The only bot token this Discord knows."""
    requests: list[Request] = field(default_factory=list)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    channels: dict[int, dict[str, Any]] = field(default_factory=dict)
    commands: list[dict[str, Any]] = field(default_factory=list)
    guild_commands: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    interactions: dict[str, Interaction] = field(default_factory=dict)
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

    # -- gateway-style input ----------------------------------------------------------------------------
    def register(self, payload: dict[str, Any]) -> None:
        """Remember an interaction fed to the client, so its callback and webhook calls can be served."""
        message = payload.get("message")
        self.interactions[payload["token"]] = Interaction(
            id=int(payload["id"]), token=payload["token"], channel_id=int(payload["channel_id"]),
            fed_at=time.monotonic(), message_id=int(message["id"]) if message else None)



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

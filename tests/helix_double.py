"""A local double of the Twitch endpoints the Helix facade uses, on 127.0.0.1, for tests.

Serves Helix's ``/helix/users``, ``/helix/videos``, ``/helix/streams`` and ``/helix/clips`` (with cursor
pagination, ``first``, the filters the facade sends and Twitch's JSON shapes, status codes and
``Ratelimit-*`` headers) and the OAuth endpoints ``/oauth2/token`` (client credentials) and
``/oauth2/validate``. Every Helix request must carry the ``Client-Id`` and a bearer token it issued.

The catalogue is mutable while the server runs (add a user, a VOD, a clip; go live and end the
broadcast; delete a VOD; revoke tokens), and faults can be queued per path prefix (a status such as
500, 502 with an HTML body or 429 with a reset time; a delay; a clip cursor that never ends).
It runs on a ``ThreadingHTTPServer`` in a thread of its own, so sync tests, async tests and
subprocesses reach it alike. ``env()`` gives the environment that points the facade at it.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CLIENT_ID = "double-client-id"
CLIENT_SECRET = "double-client-secret"


def twitch_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def twitch_duration(seconds: float) -> str:
    """Twitch's duration text: ``3h8m33s``, ``45m2s``, ``12s``."""
    total = max(int(seconds), 0)
    h, m, s = total // 3600, total % 3600 // 60, total % 60
    return (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + f"{s}s"


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass
class Fault:
    prefix: str
    status: int = 500
    times: int | None = 1
    """How many requests it hits; None: every one until cleared."""
    body: Any = None
    """The answer's body (text as is, anything else as JSON); None: Twitch's error JSON for ``status``."""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Wait this long before answering (longer than the client's timeout: a timeout)."""


class HelixDouble(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.users: dict[str, dict[str, Any]] = {}
        """login → user."""
        self.videos: dict[str, dict[str, Any]] = {}
        self.streams: dict[str, dict[str, Any]] = {}
        """user id → live stream."""
        self.clips: list[dict[str, Any]] = []
        self.tokens: set[str] = set()
        self.faults: list[Fault] = []
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        """(method, path, query and form fields) of every request."""
        self.urls: list[str] = []
        """Every request's path and query as sent (to check that no secret travels in a URL)."""
        self.endless_clip_cursor = False
        self._ids = itertools.count(2_000_000_001)
        self._user_ids = itertools.count(100_001)
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> HelixDouble:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="helix-double", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> HelixDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def env(self) -> dict[str, str]:
        return {"TWITCH_CLIENT_ID": CLIENT_ID, "TWITCH_CLIENT_SECRET": CLIENT_SECRET,
                "HIGHLIGHTS_HELIX_URL": f"{self.base}/helix", "HIGHLIGHTS_TWITCH_AUTH_URL": f"{self.base}/oauth2"}

    # -- catalogue --------------------------------------------------------------------------------------
    def add_user(self, login: str, *, display_name: str | None = None) -> dict[str, Any]:
        with self.lock:
            user: dict[str, Any] = {"id": str(next(self._user_ids)), "login": login.lower(), "display_name": display_name or login,
                    "type": "", "broadcaster_type": "affiliate", "description": "", "profile_image_url": "",
                    "offline_image_url": "", "view_count": 0, "created_at": "2016-01-01T00:00:00Z"}
            self.users[user["login"]] = user
            return user

    def add_vod(self, login: str, *, created_at: datetime | None = None, duration_s: float = 3600.0,
                title: str = "a broadcast", type: str = "archive", muted: list[tuple[float, float]] | None = None,
                stream_id: str | None = None) -> dict[str, Any]:
        """A finished video of ``login`` (created ``duration_s`` + 1 min ago unless ``created_at`` is given)."""
        user = self.users[login.lower()]
        created = created_at or datetime.now(UTC) - timedelta(seconds=duration_s + 60)
        with self.lock:
            vod = {"id": str(next(self._ids)), "user_id": user["id"], "login": user["login"], "title": title,
                   "created_at": created, "duration_s": duration_s, "type": type, "live": False,
                   "muted": muted, "stream_id": stream_id if type == "archive" else None}
            self.videos[vod["id"]] = vod
            return vod

    def go_live(self, login: str, *, title: str = "live now", archive: bool = True,
                started_at: datetime | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """``login`` starts a broadcast; with ``archive``, its VOD appears at once and grows while live."""
        user = self.users[login.lower()]
        started = started_at or datetime.now(UTC)
        with self.lock:
            stream = {"id": str(next(self._ids) + 40_000_000_000), "user_id": user["id"], "login": user["login"],
                      "title": title, "started_at": started}
            self.streams[user["id"]] = stream
        vod = None
        if archive:
            vod = self.add_vod(login, created_at=started + timedelta(seconds=2), duration_s=0.0, title=title,
                               stream_id=stream["id"])
            vod["live"] = True
        return stream, vod

    def end_live(self, login: str) -> None:
        user = self.users[login.lower()]
        with self.lock:
            self.streams.pop(user["id"], None)
            for vod in self.videos.values():
                if vod["user_id"] == user["id"] and vod["live"]:
                    vod["duration_s"] = max((datetime.now(UTC) - vod["created_at"]).total_seconds(), 1.0)
                    vod["live"] = False

    def delete_vod(self, vod_id: str) -> None:
        with self.lock:
            self.videos.pop(vod_id, None)

    def add_clip(self, vod_id: str, *, offset_s: float | None, duration_s: float = 30.0, views: int = 0,
                 title: str = "clip", created_at: datetime | None = None) -> dict[str, Any]:
        """A viewer's clip of ``vod_id`` at ``offset_s`` (None: Twitch does not know the offset)."""
        vod = self.videos[vod_id]
        with self.lock:
            clip_id = f"Clip{len(self.clips) + 1}-{secrets.token_hex(4)}"
            clip = {"id": clip_id, "url": f"https://clips.twitch.tv/{clip_id}",
                    "embed_url": f"https://clips.twitch.tv/embed?clip={clip_id}", "broadcaster_id": vod["user_id"],
                    "broadcaster_name": vod["login"], "creator_id": "42", "creator_name": "viewer",
                    "video_id": vod_id, "game_id": "33103", "language": "en", "title": title,
                    "view_count": views, "thumbnail_url": "",
                    "created_at": created_at or vod["created_at"] + timedelta(seconds=(offset_s or 0) + 40),
                    "duration": duration_s, "vod_offset": None if offset_s is None else int(offset_s),
                    "is_featured": False}
            self.clips.append(clip)
            return clip

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    # -- faults -----------------------------------------------------------------------------------------
    def fail(self, prefix: str, status: int = 500, *, times: int | None = 1, **kw: Any) -> Fault:
        fault = Fault(prefix=prefix, status=status, times=times, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()
            self.endless_clip_cursor = False

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.prefix):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    # -- rendering --------------------------------------------------------------------------------------
    def video_json(self, vod: dict[str, Any]) -> dict[str, Any]:
        duration = (datetime.now(UTC) - vod["created_at"]).total_seconds() if vod["live"] else vod["duration_s"]
        muted = vod["muted"]
        return {"id": vod["id"], "stream_id": vod["stream_id"], "user_id": vod["user_id"], "user_login": vod["login"],
                "user_name": vod["login"], "title": vod["title"], "description": "",
                "created_at": twitch_time(vod["created_at"]), "published_at": twitch_time(vod["created_at"]),
                "url": f"https://www.twitch.tv/videos/{vod['id']}", "thumbnail_url": "", "viewable": "public",
                "view_count": 10, "language": "en", "type": vod["type"], "duration": twitch_duration(duration),
                "muted_segments": None if not muted else [{"duration": int(d), "offset": int(o)} for o, d in muted]}

    @staticmethod
    def stream_json(stream: dict[str, Any]) -> dict[str, Any]:
        return {"id": stream["id"], "user_id": stream["user_id"], "user_login": stream["login"],
                "user_name": stream["login"], "game_id": "33103", "game_name": "Game", "type": "live",
                "title": stream["title"], "tags": [], "viewer_count": 100, "started_at": twitch_time(stream["started_at"]),
                "language": "en", "thumbnail_url": "", "tag_ids": [], "is_mature": False}

    @staticmethod
    def clip_json(clip: dict[str, Any]) -> dict[str, Any]:
        return {**clip, "created_at": twitch_time(clip["created_at"])}


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    return int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["o"])


class _Handler(BaseHTTPRequestHandler):
    server: HelixDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    # -- plumbing ---------------------------------------------------------------------------------------
    def _send(self, status: int, body: Any, *, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        extra = {"Ratelimit-Limit": "800", "Ratelimit-Remaining": "799", "Ratelimit-Reset": str(int(time.time()) + 60)}
        extra.update(headers or {})
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        names = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
        self._send(status, {"error": names.get(status, "Error"), "status": status, "message": message})

    def _begin(self, method: str) -> tuple[str, dict[str, list[str]]] | None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            body = self.rfile.read(length).decode()
            for key, values in parse_qs(body).items():
                query.setdefault(key, values)
        srv = self.server
        with srv.lock:
            srv.hits[parts.path] += 1
            srv.requests.append((method, parts.path, query))
            srv.urls.append(self.path)
        fault = srv.take_fault(parts.path)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            answer = fault.body if fault.body is not None else {"error": "Internal Server Error",
                                                                 "status": fault.status, "message": "injected fault"}
            self._send(fault.status, answer, content_type=fault.content_type, headers=fault.headers)
            return None
        return parts.path, query

    def do_POST(self) -> None:  # noqa: N802
        begun = self._begin("POST")
        if begun is None:
            return
        path, q = begun
        if path != "/oauth2/token":
            self._error(404, "no such endpoint")
            return
        if q.get("grant_type", [""])[0] != "client_credentials":
            self._error(400, "unsupported grant type")
        elif q.get("client_id", [""])[0] != CLIENT_ID:
            self._error(400, "invalid client")
        elif q.get("client_secret", [""])[0] != CLIENT_SECRET:
            self._error(403, "invalid client secret")
        else:
            token = secrets.token_hex(15)
            with self.server.lock:
                self.server.tokens.add(token)
            self._send(200, {"access_token": token, "expires_in": 5_011_271, "token_type": "bearer"})

    def do_GET(self) -> None:  # noqa: N802
        begun = self._begin("GET")
        if begun is None:
            return
        path, q = begun
        srv = self.server
        if path == "/oauth2/validate":
            token = (self.headers.get("Authorization") or "").removeprefix("OAuth ").removeprefix("Bearer ")
            if token in srv.tokens:
                self._send(200, {"client_id": CLIENT_ID, "scopes": [], "expires_in": 5_000_000})
            else:
                self._error(401, "invalid access token")
            return
        if not path.startswith("/helix/"):
            self._error(404, "no such endpoint")
            return
        if self.headers.get("Client-Id") != CLIENT_ID:
            self._error(401, "Client ID and OAuth token do not match")
            return
        if (self.headers.get("Authorization") or "").removeprefix("Bearer ") not in srv.tokens:
            self._error(401, "Invalid OAuth token")
            return
        handler = {"/helix/users": self._users, "/helix/videos": self._videos, "/helix/streams": self._streams,
                   "/helix/clips": self._clips}.get(path)
        if handler is None:
            self._error(404, "no such endpoint")
            return
        try:
            first = int(q.get("first", ["20"])[0])
        except ValueError:
            self._error(400, "first must be a number")
            return
        if not 1 <= first <= 100:
            self._error(400, "The parameter \"first\" was malformed: the value must be between 1 and 100")
            return
        handler(q, first)

    def _page(self, items: list[dict[str, Any]], q: dict[str, list[str]], first: int, *, endless: bool = False) -> None:
        start = _offset(q.get("after", [None])[0])
        page = items[start:start + first]
        more = start + first < len(items)
        cursor = _cursor(start if endless else start + first) if (more or endless) and page else None
        self._send(200, {"data": page, "pagination": {"cursor": cursor} if cursor else {}})

    # -- endpoints --------------------------------------------------------------------------------------
    def _users(self, q: dict[str, list[str]], first: int) -> None:
        srv = self.server
        logins = [x.lower() for x in q.get("login", [])]
        ids = q.get("id", [])
        if not logins and not ids:
            self._error(401, "OAuth token is missing")  # an app token cannot ask "who am I"
            return
        with srv.lock:
            data = [dict(u) for u in srv.users.values() if u["login"] in logins or u["id"] in ids]
        self._send(200, {"data": data})

    def _videos(self, q: dict[str, list[str]], first: int) -> None:
        srv = self.server
        ids, user_id = q.get("id", []), q.get("user_id", [None])[0]
        if bool(ids) == bool(user_id):
            self._error(400, "Exactly one of id, user_id or game_id must be specified")
            return
        with srv.lock:
            if ids:
                found = [srv.video_json(srv.videos[i]) for i in ids if i in srv.videos]
                if not found:
                    self._error(404, "Not Found")
                    return
                self._send(200, {"data": found, "pagination": {}})
                return
            kind = q.get("type", ["all"])[0]
            mine = [v for v in srv.videos.values() if v["user_id"] == user_id and kind in ("all", v["type"])]
            mine.sort(key=lambda v: v["created_at"], reverse=True)
            items = [srv.video_json(v) for v in mine]
        self._page(items, q, first)

    def _streams(self, q: dict[str, list[str]], first: int) -> None:
        srv = self.server
        user_ids, logins = q.get("user_id", []), [x.lower() for x in q.get("user_login", [])]
        with srv.lock:
            items = [srv.stream_json(s) for s in srv.streams.values()
                     if (not user_ids and not logins) or s["user_id"] in user_ids or s["login"] in logins]
        self._page(items, q, first)

    def _clips(self, q: dict[str, list[str]], first: int) -> None:
        srv = self.server
        broadcaster = q.get("broadcaster_id", [None])[0]
        if not broadcaster:
            self._error(400, "One of broadcaster_id, game_id or id must be specified")
            return
        try:
            lo = _parse_time(q["started_at"][0]) if "started_at" in q else None
            hi = _parse_time(q["ended_at"][0]) if "ended_at" in q else None
        except ValueError:
            self._error(400, "started_at and ended_at must be RFC3339 times")
            return
        if lo is not None and hi is None:
            hi = lo + timedelta(days=7)
        with srv.lock:
            chosen = [c for c in srv.clips if c["broadcaster_id"] == broadcaster
                      and (lo is None or c["created_at"] >= lo) and (hi is None or c["created_at"] <= hi)]
            chosen.sort(key=lambda c: c["view_count"], reverse=True)
            items = [srv.clip_json(c) for c in chosen][:1000]
            endless = srv.endless_clip_cursor
        self._page(items, q, first, endless=endless)

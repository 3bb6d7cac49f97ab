"""The HTTP side of the Twitch double: how each request to GQL, usher and the CDN is answered.

``TwitchHandler`` reads a request, asks the server (``highlights.doubles.twitch.TwitchDouble``) for its
state (the catalogue, the GQL rules, queued faults) and writes Twitch's answer; the rules and their
references are listed in ``highlights.doubles.twitch``'s docstring.
"""

from __future__ import annotations

import json
import re
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from highlights.doubles.twitch_gql import operation_key, persisted_query_not_found, sign

if TYPE_CHECKING:
    from highlights.doubles.twitch import TwitchDouble

ACCESS_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                 b"<Message>Access Denied</Message></Error>")

class TwitchHandler(BaseHTTPRequestHandler):
    server: TwitchDouble

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str, *, fault: str | None = None,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        sent = body[: len(body) // 2] if fault == "truncate" else body
        self.wfile.write(sent)
        with self.server.lock:
            self.server.bytes_sent += len(sent)
        if fault == "truncate":
            self.close_connection = True

    def _json(self, status: int, doc: Any, **kw: Any) -> None:
        self._send(status, json.dumps(doc).encode(), "application/json", **kw)

    def _common_fault(self, fault: str | None) -> bool:
        """Answer ``fault`` if it is one every endpoint shares; True when answered."""
        if fault in ("500", "503"):
            self._json(int(fault), {"error": "Internal Server Error", "status": int(fault), "message": ""})
            return True
        if fault == "429":
            self._json(429, {"error": "Too Many Requests", "status": 429, "message": ""},
                       headers={"Retry-After": self.server.retry_after})
            return True
        if fault == "slow":
            time.sleep(self.server.slow_s)
        return False

    def do_POST(self) -> None:  # noqa: N802
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if urlsplit(self.path).path != "/gql":
            self._json(404, {"error": "Not Found", "status": 404, "message": "page not found"})
            return
        try:
            doc = json.loads(body)
        except ValueError:
            self._json(400, {"error": "Bad Request", "status": 400, "message": "invalid json"})
            return
        ops = [op if isinstance(op, dict) else {} for op in (doc if isinstance(doc, list) else [doc])]
        client_id = self.headers.get("Client-ID") or ""
        auth = self.headers.get("Authorization") or ""
        fault = None
        for op in ops:
            fault = srv.fault(f"gql:{operation_key(op)}") or fault
        with srv.lock:
            srv.gql_requests.extend({**op, "_key": operation_key(op), "_client_id": client_id, "_auth": auth}
                                    for op in ops)
        if not client_id:
            # No Client-ID: 400 "No client id specified" (Twitch's API as quoted in laurencee/Livestream.Monitor issue
            # #21; that was Kraken, and GQL answering alike is an assumption: no GQL quote was found).
            self._json(400, {"error": "Bad Request", "status": 400, "message": "No client id specified"})
            return
        user_id = None
        if auth.startswith("OAuth "):
            user_id = srv.users.get(auth[len("OAuth "):].strip())
            if user_id is None:
                # An `OAuth <token>` Twitch does not know: 401 with this message (streamlink issue #5009,
                # DevilXD/TwitchDropsMiner issue #452); other Authorization values are ignored (#5009).
                self._json(401, {"error": "Unauthorized", "status": 401,
                                 "message": 'The "Authorization" token is invalid.'})
                return
        if self._common_fault(fault):
            return
        if fault in ("gql-error", "gql-fatal"):
            answers = [{"errors": [{"message": "service error"}], "data": None} if fault == "gql-error"
                       else persisted_query_not_found(operation_key(op)) for op in ops]
        elif fault == "repeat" and srv._last_page is not None:
            answers = [json.loads(srv._last_page)]
        else:
            answers = [srv.gql.answer(op, client_id=client_id, user_id=user_id) for op in ops]
            if operation_key(ops[0]) == "VideoCommentsByOffsetOrCursor" and "errors" not in answers[0]:
                srv._last_page = json.dumps(answers[0]).encode()
        self._json(200, answers if isinstance(doc, list) else answers[0], fault=fault)

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        parts = urlsplit(self.path)
        path = parts.path
        fault = srv.fault(path)
        if self._common_fault(fault):
            return
        usher = re.fullmatch(r"/vod/(?:v2/)?(\d+)\.m3u8", path)  # yt-dlp's path, TwitchDownloader's /vod/v2/
        if usher:
            self._usher(usher.group(1), parse_qs(parts.query), fault)
            return
        cdn = re.fullmatch(r"/vods/(\d+)/(\w+)/([\w.-]+)", path)
        if cdn:
            self._cdn(cdn.group(1), cdn.group(2), cdn.group(3), fault)
            return
        file = (srv.root / path.lstrip("/")).resolve()
        if not file.is_relative_to(srv.root.resolve()) or not file.is_file():
            self._send(404, b"not found", "text/plain")
            return
        kind = "application/vnd.apple.mpegurl" if path.endswith(".m3u8") else "video/mp2t"
        self._send(200, file.read_bytes(), kind, fault=fault)

    def _cdn(self, vod_id: str, rendition: str, name: str, fault: str | None) -> None:
        srv = self.server
        vod = srv.catalogue.get(vod_id)
        if vod is None or vod.deleted:
            self._send(403, ACCESS_DENIED, "application/xml")
            return
        if rendition == "storyboards":
            # The storyboard spec yt-dlp twitch.py _extract_storyboard reads (fetched non-fatally).
            doc = [{"count": 10, "width": 160, "height": 90, "rows": 5, "cols": 2, "interval": 6,
                    "images": [f"{vod_id}-low-0.jpg"]}]
            self._json(200, doc, fault=fault)
            return
        if name.endswith(".m3u8"):
            text = srv.media(vod, rendition, name) if (srv.root / rendition).is_dir() else None
            if text is None:
                self._send(403, ACCESS_DENIED, "application/xml")
                return
            self._send(200, text.encode(), "application/vnd.apple.mpegurl", fault=fault)
            return
        file = srv.segment(vod, rendition, name) if (srv.root / rendition).is_dir() else None
        if file is None:
            self._send(403, ACCESS_DENIED, "application/xml")
            return
        self._send(200, file.read_bytes(), "video/mp2t", fault=fault)

    def _usher(self, vod_id: str, query: dict[str, list[str]], fault: str | None) -> None:
        srv = self.server
        token, sig = (query.get("token") or [""])[0], (query.get("sig") or [""])[0]
        try:
            grant = json.loads(token)
            granted = (str(grant.get("vod_id")) == vod_id and grant.get("expires", 0) > time.time()
                       and len(sig) == 40 and sign(token) == sig)
        except (ValueError, AttributeError):
            grant, granted = {}, False
        vod = srv.catalogue.get(vod_id)
        if not granted:
            # A token not signed for this VOD: 403 (the body's code is an assumption; no client quotes one).
            self._json(403, [{"error": "Unauthorized", "error_code": "unauthorized", "type": "error"}])
        elif vod is None or vod.deleted:  # unreachable for clients that ask GQL first; the body is an assumption
            self._json(404, [{"error": "transcode does not exist", "error_code": "vod_manifest_not_found",
                              "type": "error"}])
        elif vod.subscribers is not None and str(grant.get("user_id")) not in vod.subscribers:
            # Subscriber-only: 403, application/json, error_code vod_manifest_restricted (yt-dlp twitch.py
            # _extract_twitch_m3u8_formats; TwitchDownloader TwitchHelper.GetVideoPlaylist checks the same).
            self._json(403, [{"error": "Manifest is restricted", "error_code": "vod_manifest_restricted",
                              "type": "error"}])
        else:
            self._send(200, srv.master(vod).encode(), "application/vnd.apple.mpegurl", fault=fault)


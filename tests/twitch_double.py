"""A local double of the Twitch endpoints ingestion talks to — GQL, usher and the HLS CDN — on 127.0.0.1.

One ``ThreadingHTTPServer`` (port 0) speaks the same protocol as Twitch, with the same paths,
headers, JSON shapes and status codes:

- ``POST /gql`` (``Client-ID`` required, single or batched operations): the persisted
  ``PlaybackAccessToken`` (→ ``videoPlaybackAccessToken {value, signature}``) and
  ``VideoCommentsByOffsetOrCursor`` (→ ``video.comments.edges[].{cursor,node}`` + ``pageInfo``),
  and a plain ``video(id:)`` query (metadata and ``muteInfo.mutedSegmentConnection.nodes``);
  an unknown VOD is ``video: null``;
- ``GET /vod/<id>.m3u8?sig=&token=`` (usher): checks the signed token, answers the master playlist
  of an ffmpeg-made VOD (absolute URIs under ``/vods/<id>/``), 403 JSON for a subscriber-only VOD,
  404 for a deleted one;
- ``GET /vods/<id>/<rendition>/…``: media playlists (segments in muted spans renamed
  ``<n>-muted.ts``; no ``#EXT-X-ENDLIST`` while a VOD is recording) and segments;
- ``GET /<path>``: the HLS folder as is (``/master.m3u8``), for tests that need no Twitch at all.

Every request is counted in ``hits`` (GET: the path; GQL: ``gql:<operationName>``) and
``bytes_sent``. Faults are injected per key: ``faults[key]`` is a list used up one per request,
``always[key]`` applies to every request. Kinds: ``500``/``503``, ``429`` (with ``Retry-After:
retry_after``), ``slow`` (answers after ``slow_s``: a client timeout), ``truncate`` (half the body,
then the connection closes), ``repeat`` (a comments page answered with the previous page again),
``gql-error`` (Twitch's transient ``service error``) and ``gql-fatal`` (``PersistedQueryNotFound``).
The VODs it serves (and the HLS media behind them) come from ``tests/twitch_vods.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.twitch_vods import (  # noqa: F401 (re-exported: one import for tests that use the double)
    DELETED,
    MISSING,
    MUTED,
    NORMAL,
    RECORDING,
    SUB_ONLY,
    FakeVod,
    build_hls_vod,
    default_catalogue,
    make_comments,
)

TOKEN_HASH = "0828119ded1c13477966434e15800ff57ddacf13ba1911c129dc2200705b0712"
COMMENTS_HASH = "b70a3591ff0f4e0313d126c6a1502d79a1c02baebb288227c582044aa76adf6a"
_SECRET = b"twitch-double"


def _cursor(index: int) -> str:
    return base64.b64encode(json.dumps({"id": index, "v": 1}).encode()).decode()


class TwitchDouble(ThreadingHTTPServer):
    """See the module docstring; use as a context manager (serves on a daemon thread)."""

    daemon_threads = True

    def __init__(self, root: Path, catalogue: dict[str, FakeVod] | None = None, *, page_size: int = 100) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root, self.catalogue, self.page_size = root, catalogue or default_catalogue(), page_size
        self.hits: Counter[str] = Counter()
        self.bytes_sent = 0
        self.faults: dict[str, list[str]] = {}
        self.always: dict[str, str] = {}
        self.retry_after, self.slow_s = "0", 1.0
        self.gql_requests: list[dict[str, Any]] = []
        self.client_ids: set[str] = set()
        self.lock = threading.Lock()
        self._last_page: bytes | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> TwitchDouble:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is expected here

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def url(self) -> str:
        """The plain HLS master playlist (no Twitch in between)."""
        return f"{self.base}/master.m3u8"

    def env(self) -> dict[str, str]:
        return {"HIGHLIGHTS_TWITCH_GQL_URL": f"{self.base}/gql", "HIGHLIGHTS_TWITCH_USHER_URL": self.base,
                "HIGHLIGHTS_TWITCH_GQL_CLIENT_ID": "double-client-id"}

    def segments(self, rendition: str, vod_id: str | None = None) -> set[str]:
        prefix = f"/vods/{vod_id}/{rendition}/" if vod_id else f"/{rendition}/"
        return {p.rsplit("/", 1)[1] for p in self.hits if p.startswith(prefix) and p.endswith(".ts")}

    def fault(self, key: str) -> str | None:
        with self.lock:
            self.hits[key] += 1
            queued = self.faults.get(key)
            return queued.pop(0) if queued else self.always.get(key)

    def sign(self, value: str) -> str:
        return hmac.new(_SECRET, value.encode(), hashlib.sha1).hexdigest()

    # --- GQL -------------------------------------------------------------------------------------

    def answer_gql(self, op: dict[str, Any]) -> dict[str, Any]:
        name = op.get("operationName")
        variables = op.get("variables") or {}
        persisted = ((op.get("extensions") or {}).get("persistedQuery") or {}).get("sha256Hash")
        if name == "PlaybackAccessToken" and persisted == TOKEN_HASH:
            vod = self.catalogue.get(str(variables.get("vodID"))) if variables.get("isVod") else None
            if vod is None:
                return {"data": {"videoPlaybackAccessToken": None}}
            value = json.dumps({"vod_id": int(vod.vod_id), "expires": int(time.time()) + 72000, "chansub": {
                "restricted_bitrates": []}, "privileged": False, "version": 2})
            return {"data": {"videoPlaybackAccessToken": {"value": value, "signature": self.sign(value),
                                                          "__typename": "PlaybackAccessToken"}}}
        if name == "VideoCommentsByOffsetOrCursor" and persisted == COMMENTS_HASH:
            return self._comments(variables)
        if "query" in op and re.search(r"\bvideo\(id:", str(op["query"])):
            vod = self.catalogue.get(str(variables.get("id")))
            return {"data": {"video": vod.video() if vod else None}}
        return {"errors": [{"message": "PersistedQueryNotFound"}], "data": None}

    def _comments(self, variables: dict[str, Any]) -> dict[str, Any]:
        vod = self.catalogue.get(str(variables.get("videoID")))
        if vod is None:
            return {"data": {"video": None}}
        if variables.get("cursor"):
            start = int(json.loads(base64.b64decode(variables["cursor"]))["id"]) + 1
        else:
            offset = int(variables.get("contentOffsetSeconds") or 0)
            start = next((i for i, c in enumerate(vod.comments) if c["contentOffsetSeconds"] >= offset), len(vod.comments))
        page = vod.comments[start:start + self.page_size]
        edges = [{"cursor": _cursor(start + i), "node": node, "__typename": "VideoCommentEdge"}
                 for i, node in enumerate(page)]
        return {"data": {"video": {"id": vod.vod_id, "creator": {"id": "1000", "channel": {"id": "1000"}},
                                   "comments": {"edges": edges, "pageInfo": {
                                       "hasNextPage": start + len(page) < len(vod.comments),
                                       "hasPreviousPage": start > 0}}}}}

    # --- usher and the CDN -----------------------------------------------------------------------

    def master(self, vod_id: str) -> str:
        base = f"{self.base}/vods/{vod_id}/"
        lines = []
        for line in (self.root / "master.m3u8").read_text().splitlines():
            if line and not line.startswith("#"):
                line = base + line
            lines.append(re.sub(r'URI="([^"]+)"', lambda m: f'URI="{base}{m.group(1)}"', line))
        return "\n".join(lines) + "\n"

    def media(self, vod: FakeVod, rendition: str) -> str:
        lines, clock, duration = [], 0.0, 0.0
        for line in (self.root / rendition / "index.m3u8").read_text().splitlines():
            if line.startswith("#EXTINF:"):
                duration = float(line[8:].split(",")[0])
            elif line.endswith(".ts"):
                if any(clock < hi and clock + duration > lo for lo, hi in vod.playlist_muted):
                    line = line[:-3] + "-muted.ts"
                clock += duration
            elif vod.status == "RECORDING" and line == "#EXT-X-ENDLIST":
                continue
            elif vod.status == "RECORDING" and line.startswith("#EXT-X-PLAYLIST-TYPE"):
                line = "#EXT-X-PLAYLIST-TYPE:EVENT"
            lines.append(line)
        return "\n".join(lines) + "\n"


class _Handler(BaseHTTPRequestHandler):
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
        ops = doc if isinstance(doc, list) else [doc]
        fault = None
        for op in ops:
            fault = srv.fault(f"gql:{op.get('operationName')}") or fault
        with srv.lock:
            srv.gql_requests.extend(ops)
            if self.headers.get("Client-ID"):
                srv.client_ids.add(self.headers["Client-ID"])
        if not self.headers.get("Client-ID"):
            self._json(400, {"error": "Bad Request", "status": 400,
                             "message": 'The "Client-ID" header is missing from the request.'})
            return
        if self._common_fault(fault):
            return
        if fault in ("gql-error", "gql-fatal"):
            message = "service error" if fault == "gql-error" else "PersistedQueryNotFound"
            answers = [{"errors": [{"message": message}], "data": None} for _ in ops]
        elif fault == "repeat" and srv._last_page is not None:
            answers = [json.loads(srv._last_page)]
        else:
            answers = [srv.answer_gql(op) for op in ops]
            if ops[0].get("operationName") == "VideoCommentsByOffsetOrCursor":
                srv._last_page = json.dumps(answers[0]).encode()
        self._json(200, answers if isinstance(doc, list) else answers[0], fault=fault)

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        parts = urlsplit(self.path)
        path = parts.path
        fault = srv.fault(path)
        if self._common_fault(fault):
            return
        usher = re.fullmatch(r"/vod/(\d+)\.m3u8", path)
        if usher:
            self._usher(usher.group(1), parse_qs(parts.query), fault)
            return
        file, text = None, None
        vod_path = re.fullmatch(r"/vods/(\d+)/(\w+)/([\w.-]+)", path)
        if vod_path and vod_path.group(1) in srv.catalogue:
            vod, rendition, name = srv.catalogue[vod_path.group(1)], vod_path.group(2), vod_path.group(3)
            if name == "index.m3u8":
                text = srv.media(vod, rendition)
            else:
                file = srv.root / rendition / name.replace("-muted.ts", ".ts")
        elif not vod_path:
            file = srv.root / path.lstrip("/")
        if text is None:
            file = file.resolve() if file else None
            if file is None or not file.is_relative_to(srv.root) or not file.is_file():
                self._send(404, b"not found", "text/plain")
                return
        data = text.encode() if text is not None else file.read_bytes()  # type: ignore[union-attr]
        kind = "application/vnd.apple.mpegurl" if path.endswith(".m3u8") else "video/mp2t"
        self._send(200, data, kind, fault=fault)

    def _usher(self, vod_id: str, query: dict[str, list[str]], fault: str | None) -> None:
        srv = self.server
        token, sig = (query.get("token") or [""])[0], (query.get("sig") or [""])[0]
        try:
            granted = str(json.loads(token).get("vod_id")) == vod_id and hmac.compare_digest(srv.sign(token), sig)
        except (ValueError, AttributeError):
            granted = False
        vod = srv.catalogue.get(vod_id)
        if not granted:
            self._json(403, [{"error": "Unauthorized", "error_code": "unauthorized", "type": "error"}])
        elif vod is None or vod.deleted:
            self._json(404, [{"error": "transcode does not exist", "error_code": "vod_manifest_not_found",
                              "type": "error"}])
        elif vod.restricted:
            self._json(403, [{"error": "Manifest is restricted", "error_code": "vod_manifest_restricted",
                              "type": "error"}])
        else:
            self._send(200, srv.master(vod_id).encode(), "application/vnd.apple.mpegurl", fault=fault)


def run_highlights(argv: list[str], env: dict[str, str], monkeypatch: Any) -> int:
    """``highlights …`` (its real ``main``) with ``env`` set and the ``twitch`` command added if cli.py lacks it."""
    import argparse

    from highlights import cli, cmd_twitch

    build = cli.build_parser

    def with_twitch() -> argparse.ArgumentParser:
        parser = build()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "twitch" not in sub.choices:
            cmd_twitch.add_parser(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", with_twitch)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cli.main(argv)

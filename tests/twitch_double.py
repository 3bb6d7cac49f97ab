"""A local double of the Twitch endpoints ingestion talks to — GQL, usher and the VOD CDN — on 127.0.0.1.

One ``ThreadingHTTPServer`` (port 0) answers what yt-dlp's Twitch extractor, TwitchDownloader and our
own client send, the way Twitch answers it. Each rule names its reference in a comment beside it:

- ``POST /gql`` (``tests.twitch_gql_double``): single or batched operations; a ``Client-ID`` is
  required; ``Authorization: OAuth <token>`` must name a known user; persisted queries only with the
  hashes those clients send today (any other, like the retired PlaybackAccessToken hash →
  ``PersistedQueryNotFound``); full-text ``videoPlaybackAccessToken`` and ``video(id:)`` queries;
  chat pages by cursor refused to the web client id ("failed integrity check"); a deleted VOD is
  ``video: null``;
- ``GET /vod/<id>.m3u8`` and ``/vod/v2/<id>.m3u8`` (usher): the signed token checked; a
  subscriber-only VOD without an entitled token → 403 JSON ``vod_manifest_restricted``; a Twitch-shaped
  master playlist (``chunked`` and ``audio_only``, ``EXT-X-TWITCH-INFO``) pointing at
  ``index-muted-<slug>.m3u8`` for a muted VOD, else ``index-dvr.m3u8``;
- ``GET /vods/<id>/<rendition>/…`` (the CDN): media playlists (``-muted.ts`` names in the muted one,
  ``-unmuted.ts`` in ``index-dvr.m3u8``; no ``#EXT-X-ENDLIST`` while recording), segments
  (``-unmuted.ts`` and the plain name of a muted segment → 403), the storyboard JSON;
- ``GET /<path>``: the HLS folder as is (``/master.m3u8``), for tests that need no Twitch at all.

Every request is counted in ``hits`` (GET: the path; GQL: ``gql:<operation>``, see
``operation_key``); ``gql_requests`` keeps each operation with the client id and authorization it
came with. Faults are injected per key: ``faults[key]`` is a list used up one per request,
``always[key]`` applies to every request. Kinds: ``500``/``503``, ``429`` (``Retry-After:
retry_after``), ``slow`` (answers after ``slow_s``), ``truncate`` (half the body, then the connection
closes), ``repeat`` (a comments page answered with the previous page again), ``gql-error`` (Twitch's
transient ``service error``) and ``gql-fatal`` (``PersistedQueryNotFound``). ``retire(operation)``
makes Twitch forget a persisted query, as it does without notice.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.twitch_gql_double import GqlRules, operation_key, persisted_query_not_found, sign
from tests.twitch_vods import (  # noqa: F401 (re-exported: one import for tests that use the double)
    DELETED,
    DVR_MUTED,
    MISSING,
    MUTED,
    NORMAL,
    OTHER_TOKEN,
    RECORDING,
    SUB_ONLY,
    SUBSCRIBER_TOKEN,
    USERS,
    FakeVod,
    build_hls_vod,
    default_catalogue,
    make_comments,
)

ACCESS_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                 b"<Message>Access Denied</Message></Error>")


class TwitchDouble(ThreadingHTTPServer):
    """See the module docstring; use as a context manager (serves on a daemon thread)."""

    daemon_threads = True

    def __init__(self, root: Path, catalogue: dict[str, FakeVod] | None = None, *, page_size: int = 100,
                 users: dict[str, str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root, self.catalogue = root, catalogue or default_catalogue()
        self.users = dict(USERS if users is None else users)
        self.gql = GqlRules(self.catalogue, self.base, page_size=page_size)
        self.hits: Counter[str] = Counter()
        self.bytes_sent = 0
        self.faults: dict[str, list[str]] = {}
        self.always: dict[str, str] = {}
        self.retry_after, self.slow_s = "0", 1.0
        self.gql_requests: list[dict[str, Any]] = []
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

    def env(self, *, fast: bool = False) -> dict[str, str]:
        """The environment that points our client at this double (``fast``: retries without waiting)."""
        env = {"HIGHLIGHTS_TWITCH_GQL_URL": f"{self.base}/gql", "HIGHLIGHTS_TWITCH_USHER_URL": self.base}
        if fast:
            env |= {"HIGHLIGHTS_TWITCH_ATTEMPTS": "2", "HIGHLIGHTS_TWITCH_BACKOFF_S": "0.01"}
        return env

    def retire(self, operation: str) -> None:
        """Twitch forgets the persisted query of ``operation`` (as it did PlaybackAccessToken's in 2025)."""
        self.gql.hashes.pop(operation, None)

    def segments(self, rendition: str, vod_id: str | None = None) -> set[str]:
        prefix = f"/vods/{vod_id}/{rendition}/" if vod_id else f"/{rendition}/"
        return {p.rsplit("/", 1)[1] for p in self.hits if p.startswith(prefix) and p.endswith(".ts")}

    def operations(self, name: str) -> list[dict[str, Any]]:
        """The GQL operations received under ``name`` (see ``operation_key``), each with ``_client_id`` and ``_auth``."""
        with self.lock:
            return [op for op in self.gql_requests if op["_key"] == name]

    def fault(self, key: str) -> str | None:
        with self.lock:
            self.hits[key] += 1
            queued = self.faults.get(key)
            return queued.pop(0) if queued else self.always.get(key)

    # --- usher and the CDN -----------------------------------------------------------------------

    def master(self, vod: FakeVod) -> str:
        """A master playlist shaped like usher's (yt-dlp twitch.py parses EXT-X-MEDIA NAME and VIDEO groups)."""
        base = f"{self.base}/vods/{vod.vod_id}"
        name = "index-dvr.m3u8" if not vod.playlist_muted or vod.dvr_playlist else f"index-muted-{vod.muted_slug}.m3u8"
        lines = ["#EXTM3U", '#EXT-X-TWITCH-INFO:ORIGIN="s3",B="false",REGION="EU",USER-IP="127.0.0.1",'
                 'SERVING-ID="double",CLUSTER="local",USER-COUNTRY="DE",MANIFEST-CLUSTER="local"']
        for info, rendition in _variants(self.root / "master.m3u8"):
            if rendition == "audio_only":
                lines += ['#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="audio_only",NAME="Audio Only",AUTOSELECT=NO,DEFAULT=NO',
                          f'#EXT-X-STREAM-INF:BANDWIDTH={info["BANDWIDTH"]},CODECS="{info["CODECS"]}",VIDEO="audio_only"']
            else:
                height = info["RESOLUTION"].split("x")[1]
                lines += [f'#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="{rendition}",NAME="{height}p (source)",AUTOSELECT=YES,'
                          "DEFAULT=YES",
                          f'#EXT-X-STREAM-INF:BANDWIDTH={info["BANDWIDTH"]},CODECS="{info["CODECS"]}",'
                          f'RESOLUTION={info["RESOLUTION"]},VIDEO="{rendition}"']
            lines.append(f"{base}/{rendition}/{name}")
        return "\n".join(lines) + "\n"

    def media(self, vod: FakeVod, rendition: str, name: str) -> str | None:
        """A rendition's media playlist ``name`` (None: not served for this VOD)."""
        if name == f"index-muted-{vod.muted_slug}.m3u8" and vod.playlist_muted:
            suffix = "-muted.ts"
        elif name == "index-dvr.m3u8":
            suffix = "-unmuted.ts"  # yt-dlp issue #819: index-dvr names a muted segment <n>-unmuted.ts
        else:
            return None
        lines, clock, duration = [], 0.0, 0.0
        for line in (self.root / rendition / "index-dvr.m3u8").read_text().splitlines():
            if line.startswith("#EXTINF:"):
                duration = float(line[8:].split(",")[0])
            elif line.endswith(".ts"):
                if _overlaps(vod, clock, clock + duration):
                    line = line[:-3] + suffix
                clock += duration
            elif vod.status == "RECORDING" and line == "#EXT-X-ENDLIST":
                continue  # a VOD still recording is an EVENT playlist without its end (RFC 8216, 4.3.3.5)
            elif vod.status == "RECORDING" and line.startswith("#EXT-X-PLAYLIST-TYPE"):
                line = "#EXT-X-PLAYLIST-TYPE:EVENT"
            lines.append(line)
        return "\n".join(lines) + "\n"

    def segment(self, vod: FakeVod, rendition: str, name: str) -> Path | None:
        """The file behind segment ``name``, or None when the CDN refuses it (403)."""
        match = re.fullmatch(r"(\d+)(-muted|-unmuted)?\.ts", name)
        if match is None:
            return None
        number, kind = int(match[1]), match[2]
        if kind == "-unmuted":
            return None  # never served: only <n>-muted.ts is (yt-dlp issue #819)
        muted = _overlaps(vod, *_span_of(self.root / rendition / "index-dvr.m3u8", number))
        if muted != (kind == "-muted"):
            # A muted segment's original, or a -muted name of a segment that never was: 403, as S3 answers for a
            # key it does not serve (TwitchDownloader VideoDownloadThread: unmuting a muted part gets 403).
            return None
        path = self.root / rendition / f"{number}.ts"
        return path if path.is_file() else None


def _variants(master: Path) -> list[tuple[dict[str, str], str]]:
    found, pending = [], None
    for line in master.read_text().splitlines():
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = {k: v.strip('"') for k, v in re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1])}
        elif line and not line.startswith("#") and pending is not None:
            found.append((pending, line.split("/", 1)[0]))
            pending = None
    return found


def _span_of(playlist: Path, number: int) -> tuple[float, float]:
    clock, index, duration = 0.0, -1, 0.0
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line.endswith(".ts"):
            index += 1
            if index == number:
                return clock, clock + duration
            clock += duration
    return -1.0, -1.0


def _overlaps(vod: FakeVod, lo: float, hi: float) -> bool:
    return any(lo < b and hi > a for a, b in vod.playlist_muted)


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


def run_highlights(argv: list[str], env: dict[str, str], monkeypatch: Any) -> int:
    """``highlights …`` (its real ``main``) with ``env`` set."""
    from highlights import cli

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cli.main(argv)

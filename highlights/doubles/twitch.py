"""A local double of the Twitch endpoints ingestion talks to — GQL, usher and the VOD CDN — on 127.0.0.1.

One ``ThreadingHTTPServer`` (port 0) answers what yt-dlp's Twitch extractor, TwitchDownloader and our
own client send, the way Twitch answers it. Each rule names its reference in a comment beside it:

- ``POST /gql`` (``highlights.doubles.twitch_gql``): single or batched operations; a ``Client-ID`` is
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

import re
import threading
from collections import Counter
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from highlights.doubles.twitch_gql import GqlRules
from highlights.doubles.twitch_http import TwitchHandler
from highlights.doubles.twitch_vods import (  # noqa: F401 (re-exported: one import for tests that use the double)
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


class TwitchDouble(ThreadingHTTPServer):
    """See the module docstring; use as a context manager (serves on a daemon thread)."""

    daemon_threads = True

    def __init__(self, root: Path, catalogue: dict[str, FakeVod] | None = None, *, page_size: int = 100,
                 users: dict[str, str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), TwitchHandler)
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

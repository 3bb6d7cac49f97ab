"""Sources stage, Twitch ingestion: a local HLS server for benches and tests.

Consumes a folder laid out as an HLS VOD (a master playlist, one sub-folder per rendition holding its
media playlist and segments, as ``detector.bench.ingest_vod`` or ffmpeg's hls muxer write it) and
serves it over plain HTTP on 127.0.0.1 (port 0: the system picks a free one) from a daemon thread;
produces counts of what was served: requests per path, and bytes and segment requests per
rendition, so a bench or a test can say exactly what a download step fetched. Nothing leaves the
machine. ``content`` is the one hook a subclass overrides to answer other paths (a Twitch double's
usher and ``/vods/<id>/…`` routes, rewritten playlists); ``rendition_of`` says which rendition a
path belongs to.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
"""Bytes written per ``write`` while streaming a file (segments are never read whole into memory)."""
_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".aac": "audio/aac",
          ".mp4": "video/mp4", ".m4s": "video/iso.segment"}


@dataclass(frozen=True, slots=True)
class Traffic:
    """What the server sent since its counters were last reset."""

    bytes: dict[str, int] = field(default_factory=dict)
    """Body bytes sent per rendition (playlists included; the master playlist counts as ``"master"``)."""
    segments: dict[str, int] = field(default_factory=dict)
    """Segment requests answered per rendition (a segment fetched twice counts twice)."""
    requests: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    @property
    def total_segments(self) -> int:
        return sum(self.segments.values())


class HlsServer(ThreadingHTTPServer):
    """Serves the HLS folder ``root`` at ``base``; use as a context manager (it serves while inside)."""

    daemon_threads = True

    def __init__(self, root: Path, *, host: str = "127.0.0.1", port: int = 0,
                 handler: type[BaseHTTPRequestHandler] | None = None) -> None:
        super().__init__((host, port), handler or HlsHandler)
        self.root = Path(root).resolve()
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        """Requests per URL path (any method, any answer)."""
        self._bytes: Counter[str] = Counter()
        self._segments: Counter[str] = Counter()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> HlsServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="hls-server", daemon=True)
        self._thread.start()
        log.debug("serving %s at %s", self.root, self.base)
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("a client of %s hung up early", self.base)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str = "master.m3u8") -> str:
        """The URL of ``path`` (relative to ``root``)."""
        return f"{self.base}/{path.lstrip('/')}"

    # --- override points -------------------------------------------------------------------------

    def content(self, path: str) -> Path | bytes | None:
        """What to answer for the URL ``path``: a file, a body, or ``None`` for 404.

        The default serves the files under ``root`` as they are and nothing outside it.
        """
        file = (self.root / path.lstrip("/")).resolve()
        if not file.is_relative_to(self.root) or not file.is_file():
            return None
        return file

    def rendition_of(self, path: str) -> str:
        """The rendition ``path`` belongs to: its parent folder's name (``"master"`` at the top)."""
        parts = [p for p in path.split("/") if p]
        return parts[-2] if len(parts) >= 2 else "master"

    # --- counters --------------------------------------------------------------------------------

    def count_request(self, path: str) -> None:
        with self.lock:
            self.hits[path] += 1
            if path.endswith((".ts", ".aac", ".m4s", ".mp4")):
                self._segments[self.rendition_of(path)] += 1

    def count_bytes(self, path: str, n: int) -> None:
        with self.lock:
            self._bytes[self.rendition_of(path)] += n

    def traffic(self) -> Traffic:
        with self.lock:
            return Traffic(dict(self._bytes), dict(self._segments), sum(self.hits.values()))

    def reset(self) -> None:
        """Zero every counter (between two measured steps)."""
        with self.lock:
            self.hits.clear()
            self._bytes.clear()
            self._segments.clear()

    def segments(self, rendition: str) -> set[str]:
        """The names of the distinct segments of ``rendition`` requested since the last reset."""
        with self.lock:
            paths = list(self.hits)
        return {p.rsplit("/", 1)[1] for p in paths
                if p.endswith((".ts", ".aac", ".m4s")) and self.rendition_of(p) == rendition}


class HlsHandler(BaseHTTPRequestHandler):
    """GET/HEAD of what ``HlsServer.content`` answers; files are streamed in ``CHUNK`` pieces."""

    server: HlsServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s %s", self.address_string(), format % args)

    def do_HEAD(self) -> None:  # noqa: N802
        self.answer(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self.answer(body=True)

    def answer(self, *, body: bool) -> None:
        path = urlsplit(self.path).path
        self.server.count_request(path)
        found = self.server.content(path)
        if found is None:
            self.send_plain(404, b"not found\n")
            return
        size = found.stat().st_size if isinstance(found, Path) else len(found)
        self.send_response(200)
        self.send_header("Content-Type", _TYPES.get(Path(path).suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if not body:
            return
        if isinstance(found, Path):
            with found.open("rb") as src:
                self.stream(path, src)
        else:
            self.wfile.write(found)
            self.server.count_bytes(path, len(found))

    def stream(self, path: str, src: BinaryIO) -> None:
        """Copy ``src`` to the client, counting the bytes really written (a hang-up stops the copy)."""
        sent = 0
        try:
            while chunk := src.read(CHUNK):
                self.wfile.write(chunk)
                sent += len(chunk)
        finally:
            self.server.count_bytes(path, sent)

    def send_plain(self, status: int, text: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)


def folder_sizes(root: Path) -> dict[str, int]:
    """Bytes on disk per rendition folder of the HLS folder ``root`` (what a whole download would fetch)."""
    sizes: dict[str, int] = {}
    for file in Path(root).rglob("*"):
        if file.is_file():
            key = file.parent.name if file.parent != Path(root) else "master"
            sizes[key] = sizes.get(key, 0) + file.stat().st_size
    return sizes


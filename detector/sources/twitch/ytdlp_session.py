"""Sources stage, Twitch ingestion: one yt-dlp session — pick renditions, fetch playlists and segments.

Consumes an HLS master (or media) playlist URL and ``FetchOptions``; produces the chosen renditions
(yt-dlp format dicts), their media playlists' text, and ``.ts`` files holding given segment lists,
downloaded by yt-dlp's native HLS downloader (per-segment retries with backoff, progress hooks).
yt-dlp runs through its Python API with the generic extractor forced, so a URL is fetched as given
and no site extractor ever contacts another host (a Twitch usher URL goes to the configured usher,
through ``ytdlp_twitch.TwitchYoutubeDL``). Its messages go to this module's logger; its
progress hooks feed a ``ProgressCallback`` and check an ``AbortCheck`` (which stops it by raising
``Cancelled``). Every file is written under the folder it is given; callers pass a fresh temporary
folder per attempt and rename only complete results (see ``fetch.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.errors import Cancelled
from detector.records import AbortCheck
from detector.sources.twitch.endpoints import TwitchEndpoints
from detector.sources.twitch.errors import DownloadError, TransientDownload
from detector.sources.twitch.playlist import MediaPlaylist, Segment, parse_media_playlist, render_playlist

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """How downloads behave (all times in seconds, sizes in bytes)."""

    attempts: int = 4
    """Tries of one download step (playlist or segment list) before it fails with ``DownloadError`` (≥ 1)."""
    fragment_retries: int = 3
    """yt-dlp's own retries of one segment inside a try."""
    backoff_s: float = 2.0
    """First pause between tries; doubled each time, up to ``backoff_max_s``."""
    backoff_max_s: float = 60.0
    socket_timeout_s: float = 30.0
    """A request with no bytes for this long fails (and is retried)."""
    reserve_bytes: int = 1 << 30
    """Free space that must remain on the download folder's disk after a download."""
    ffmpeg_timeout_s: float = 600.0
    """Limit of one local remux (segments → .m4a/.mp4)."""

    def delay(self, attempt: int) -> float:
        """Pause after failed try number ``attempt`` (1-based)."""
        return min(self.backoff_max_s, self.backoff_s * 2 ** max(0, attempt - 1))


class _Logger:
    """yt-dlp's logger interface → ``log`` (its errors become warnings: the caller raises its own)."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.warning("yt-dlp: %s", msg)


def _params(options: FetchOptions, hook: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    sleep = lambda n: min(options.backoff_max_s, options.backoff_s * 2 ** n)  # noqa: E731
    return {
        "logger": _Logger(), "quiet": True, "noprogress": True, "no_color": True,
        "force_generic_extractor": True, "noplaylist": True, "cachedir": False,
        "socket_timeout": options.socket_timeout_s, "retries": options.fragment_retries,
        "fragment_retries": options.fragment_retries, "skip_unavailable_fragments": False,
        "retry_sleep_functions": {"fragment": sleep, "http": sleep},
        "concurrent_fragment_downloads": 1, "fixup": "never", "check_formats": False,
        "overwrites": True, "continuedl": False, "progress_hooks": [hook],
    }


class YtdlpSession:
    """A ``yt_dlp.YoutubeDL`` configured for this project; use as a context manager."""

    def __init__(self, options: FetchOptions, abort: AbortCheck | None = None,
                 on_fragment: Callable[[int], None] | None = None, endpoints: TwitchEndpoints | None = None) -> None:
        try:
            from detector.sources.twitch.ytdlp_twitch import TwitchYoutubeDL
        except ImportError:
            raise DownloadError("Downloading VODs needs the yt-dlp package, which is not installed.",
                                hint="Install the worker extra (`pip install .[worker]`).") from None
        self._abort = abort
        self._on_fragment = on_fragment
        self._ydl = TwitchYoutubeDL(_params(options, self._hook), endpoints or TwitchEndpoints.from_env(), abort)

    def __enter__(self) -> YtdlpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self._ydl.close()

    def _hook(self, d: dict[str, Any]) -> None:
        if self._abort is not None and self._abort():
            raise Cancelled("The download was cancelled.")
        if d.get("status") == "downloading" and self._on_fragment is not None and d.get("fragment_index"):
            self._on_fragment(int(d["fragment_index"]))

    def formats(self, url: str, spec: str) -> list[dict[str, Any]]:
        """The renditions yt-dlp's format ``spec`` picks from the playlist at ``url`` (one or two)."""
        import yt_dlp

        self._ydl.format_selector = self._ydl.build_format_selector(spec)
        try:
            info = self._ydl.extract_info(url, download=False)
        except yt_dlp.utils.DownloadError as exc:
            if "Requested format is not available" in str(exc):
                raise DownloadError(f"{url} offers no rendition matching {spec!r}.",
                                    hint="The VOD may lack an audio-only or a small enough rendition.") from None
            raise TransientDownload(f"Reading the playlist {url} failed: {_clean(exc)}") from None
        if info is None:
            raise DownloadError(f"yt-dlp found nothing to download at {url}.")
        chosen = info.get("requested_formats") or [info]
        for fmt in chosen:
            if fmt.get("protocol") not in ("m3u8", "m3u8_native"):
                raise DownloadError(f"{url} is not an HLS playlist (yt-dlp sees protocol {fmt.get('protocol')}).")
        return [dict(fmt) for fmt in chosen]

    def media_playlist(self, fmt: dict[str, Any]) -> MediaPlaylist:
        """Fetch and parse the media playlist of rendition ``fmt``."""
        import yt_dlp

        try:
            with self._ydl.urlopen(fmt["url"]) as response:
                text = response.read().decode("utf-8", "replace")
                final_url = response.url
        except (yt_dlp.networking.exceptions.RequestError, OSError) as exc:
            raise TransientDownload(f"Reading the playlist {fmt['url']} failed: {exc}") from None
        return parse_media_playlist(text, final_url)

    def download_segments(self, fmt: dict[str, Any], playlist: MediaPlaylist, segments: Sequence[Segment],
                          out: Path) -> Path:
        """Download ``segments`` of rendition ``fmt`` into ``out`` (a ``.ts``); raise when incomplete."""
        info = {
            "id": out.stem, "title": out.stem, "ext": "ts", "url": fmt["url"], "protocol": "m3u8_native",
            "format_id": fmt.get("format_id"), "http_headers": fmt.get("http_headers") or {},
            "hls_media_playlist_data": render_playlist(playlist.header, segments), "is_live": False,
            "extractor_key": "TwitchSections",
        }
        import yt_dlp

        try:
            ok = self._ydl.dl(str(out), info)
        except yt_dlp.utils.DownloadError as exc:
            if isinstance(getattr(exc, "exc_info", (None, None))[1], Cancelled):
                raise Cancelled("The download was cancelled.") from None
            raise TransientDownload(f"Downloading segments of {fmt['url']} failed: {_clean(exc)}") from None
        if not ok or not out.is_file() or out.stat().st_size == 0:
            raise TransientDownload(f"Downloading segments of {fmt['url']} produced no file.")
        return out


def _clean(exc: BaseException) -> str:
    return str(exc).removeprefix("ERROR: ").strip()


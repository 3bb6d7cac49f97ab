"""Sources stage, Twitch ingestion: an HLS media playlist → only the segments covering some time windows.

Consumes the text of an HLS *media* playlist (``#EXTINF`` segments, as Twitch's VOD renditions and
ffmpeg's hls muxer write them) and the windows a later stage needs on the VOD timeline; produces a
trimmed playlist that lists only the segments overlapping those windows (with absolute URIs, so it
can be handed to yt-dlp's native HLS downloader as ``hls_media_playlist_data``) and the spans of the
VOD each kept run of segments really covers. Also reads a VOD's muted (DMCA) spans from its segment
names and the renditions an HLS master playlist lists. A muted segment is named ``<n>-muted.ts`` in
the playlists usher hands out (``index-muted-<slug>.m3u8``); the VOD's original ``index-dvr.m3u8``
names it ``<n>-unmuted.ts``, a file Twitch's CDN does not serve (403), so such a URI is read as
``<n>-muted.ts`` (yt-dlp issue #819). Pure text work: no network, no files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from detector.errors import MediaError
from detector.spans import merge_spans

_KEEP_HEADER = ("#EXT-X-VERSION", "#EXT-X-TARGETDURATION", "#EXT-X-PLAYLIST-TYPE", "#EXT-X-INDEPENDENT-SEGMENTS")
_SEGMENT_TAGS_BEFORE_URI = ("#EXTINF", "#EXT-X-BYTERANGE", "#EXT-X-PROGRAM-DATE-TIME", "#EXT-X-DISCONTINUITY")


@dataclass(frozen=True, slots=True)
class Segment:
    """One media segment: where it sits on the VOD timeline (s) and its absolute URI."""

    index: int
    start_s: float
    duration_s: float
    uri: str
    tags: tuple[str, ...] = ()
    """Per-segment tags written before the URI (``#EXTINF`` included)."""

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    """A parsed media playlist: its header tags and its segments in order."""

    header: tuple[str, ...]
    segments: tuple[Segment, ...]

    @property
    def duration_s(self) -> float:
        return self.segments[-1].end_s if self.segments else 0.0


def parse_media_playlist(text: str, base_url: str) -> MediaPlaylist:
    """Parse ``text`` (fetched from ``base_url``); ``MediaError`` when it is not an HLS media playlist."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise MediaError(f"{base_url} is not an HLS playlist (no #EXTM3U line).")
    if any(line.startswith("#EXT-X-STREAM-INF") for line in lines):
        raise MediaError(f"{base_url} is a master playlist; a media playlist (one rendition) was expected.")
    if any(line.startswith("#EXT-X-MAP") or line.startswith("#EXT-X-KEY") for line in lines):
        raise MediaError(f"{base_url} uses init sections or encryption, which sections-only fetching "
                         "does not handle yet.")
    header: list[str] = []
    segments: list[Segment] = []
    pending: list[str] = []
    duration: float | None = None
    clock = 0.0
    for line in lines[1:]:
        if line.startswith("#EXTINF:"):
            try:
                duration = float(line[len("#EXTINF:"):].split(",", 1)[0])
            except ValueError:
                raise MediaError(f"{base_url}: bad segment duration in {line!r}.") from None
            pending.append(line)
        elif line.startswith(_SEGMENT_TAGS_BEFORE_URI):
            pending.append(line)
        elif line.startswith("#"):
            if line.startswith(_KEEP_HEADER) and not segments:
                header.append(line)
        else:
            if duration is None:
                raise MediaError(f"{base_url}: segment {line!r} has no #EXTINF duration.")
            segments.append(Segment(len(segments), clock, duration, served_uri(urljoin(base_url, line)),
                                    tuple(pending)))
            clock += duration
            duration, pending = None, []
    if not segments:
        raise MediaError(f"{base_url} lists no media segments.")
    return MediaPlaylist(tuple(header), tuple(segments))


def merge_windows(windows: Sequence[tuple[float, float]], margin_s: float, limit_s: float) -> list[tuple[float, float]]:
    """``windows`` widened by ``margin_s`` on each side, clamped to ``[0, limit_s]``, overlaps merged."""
    return merge_spans(windows, limit_s, margin_s=margin_s)


def select_runs(playlist: MediaPlaylist, spans: Sequence[tuple[float, float]]) -> list[tuple[Segment, ...]]:
    """Runs of consecutive segments overlapping ``spans`` (one run per span, adjacent runs joined)."""
    runs: list[list[Segment]] = []
    for lo, hi in spans:
        picked = [s for s in playlist.segments if s.end_s > lo and s.start_s < hi]
        if not picked:
            continue
        if runs and picked[0].index <= runs[-1][-1].index + 1:
            runs[-1].extend(s for s in picked if s.index > runs[-1][-1].index)
        else:
            runs.append(picked)
    return [tuple(run) for run in runs]


def render_playlist(header: Sequence[str], segments: Sequence[Segment]) -> str:
    """A VOD media playlist text listing ``segments`` (absolute URIs), media sequence 0."""
    lines = ["#EXTM3U", *(h for h in header if not h.startswith("#EXT-X-MEDIA-SEQUENCE")), "#EXT-X-MEDIA-SEQUENCE:0"]
    for seg in segments:
        lines += [t for t in seg.tags if not t.startswith("#EXT-X-DISCONTINUITY")] or [f"#EXTINF:{seg.duration_s:.6f},"]
        lines.append(seg.uri)
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


# --- muted segments and master playlists ------------------------------------------------------

MUTED_SUFFIX = "-muted.ts"
"""Twitch replaces a muted (DMCA) segment ``<n>.ts`` by ``<n>-muted.ts`` in a VOD's media playlists."""
UNMUTED_SUFFIX = "-unmuted.ts"
"""How ``index-dvr.m3u8`` names a muted segment; only the ``-muted.ts`` file is served."""


def served_uri(uri: str) -> str:
    """``uri`` with a ``<n>-unmuted.ts`` file name read as ``<n>-muted.ts`` (query string kept)."""
    parts = urlsplit(uri)
    if not parts.path.endswith(UNMUTED_SUFFIX):
        return uri
    return parts._replace(path=parts.path[: -len(UNMUTED_SUFFIX)] + MUTED_SUFFIX).geturl()
_AUDIO_CODECS = ("mp4a", "opus", "ac-3", "ec-3", "flac")
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def muted_spans(playlist: MediaPlaylist) -> tuple[tuple[float, float], ...]:
    """The spans ``(start_s, end_s)`` of ``playlist``'s muted segments, adjacent ones joined."""
    spans = [(s.start_s, s.end_s) for s in playlist.segments
             if urlsplit(s.uri).path.rsplit("/", 1)[-1].endswith(MUTED_SUFFIX)]
    return tuple(merge_windows(spans, 0.0, playlist.duration_s))


@dataclass(frozen=True, slots=True)
class Rendition:
    """One media playlist a master playlist lists."""

    uri: str
    audio_only: bool
    name: str | None = None


def _attributes(text: str) -> dict[str, str]:
    return {key: value.strip('"') for key, value in _ATTRIBUTE.findall(text)}


def parse_master_playlist(text: str, base_url: str) -> list[Rendition]:
    """The renditions of the HLS master playlist ``text`` (variant streams, then audio media with a URI)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise MediaError(f"{base_url} is not an HLS playlist (no #EXTM3U line).")
    found: list[Rendition] = []
    pending: dict[str, str] | None = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = _attributes(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA:"):
            attrs = _attributes(line.split(":", 1)[1])
            if attrs.get("TYPE") == "AUDIO" and attrs.get("URI"):
                found.append(Rendition(urljoin(base_url, attrs["URI"]), True, attrs.get("NAME")))
        elif not line.startswith("#") and pending is not None:
            codecs = [c.strip() for c in pending.get("CODECS", "").split(",") if c.strip()]
            audio = "RESOLUTION" not in pending and (
                pending.get("VIDEO") == "audio_only" or bool(codecs) and all(c.startswith(_AUDIO_CODECS) for c in codecs))
            found.append(Rendition(urljoin(base_url, line), audio, pending.get("VIDEO")))
            pending = None
    if not found:
        raise MediaError(f"{base_url} lists no renditions.")
    return found

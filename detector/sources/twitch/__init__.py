"""Sources stage, Twitch ingestion: a Twitch VOD → local audio and sections files.

``resolver`` turns a VOD id into an HLS playlist URL (the real Twitch lookup is not written yet);
``fetch`` downloads the audio-only rendition and only the sections later stages need, through yt-dlp
(``ytdlp_session``) and the playlist trimming in ``playlist``. yt-dlp is imported lazily, only when a
download starts, so importing this package is cheap and works without it.
"""

from __future__ import annotations

from detector.sources.twitch.errors import DownloadError, NotEnoughDisk, TransientDownload
from detector.sources.twitch.fetch import FetchedAudio, Section, fetch_audio, fetch_sections
from detector.sources.twitch.resolver import PlaylistResolver, TemplateResolver, TwitchResolverMissing, check_vod_id
from detector.sources.twitch.ytdlp_session import FetchOptions

__all__ = [
    "DownloadError", "FetchOptions", "FetchedAudio", "NotEnoughDisk", "PlaylistResolver", "Section",
    "TemplateResolver", "TransientDownload", "TwitchResolverMissing", "check_vod_id", "fetch_audio",
    "fetch_sections",
]

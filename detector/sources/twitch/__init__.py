"""Sources stage, Twitch ingestion: a Twitch VOD → local audio and sections files.

``resolver`` turns a VOD id into its usher HLS playlist URL and metadata (muted spans included) via
Twitch GQL (``gql``, over the retrying ``transport``); ``chat_replay`` saves the VOD's whole chat as
TwitchDownloader JSON; ``fetch`` downloads the audio-only rendition and only the sections later
stages need, through yt-dlp (``ytdlp_session``) and the playlist trimming in ``playlist``. yt-dlp is
imported lazily, only when a download starts, so importing this package is cheap and works without it.
"""

from __future__ import annotations

from detector.sources.twitch.chat_replay import ChatReplay, download_chat
from detector.sources.twitch.errors import DownloadError, NotEnoughDisk, TransientDownload
from detector.sources.twitch.fetch import FetchedAudio, Section, fetch_audio, fetch_sections
from detector.sources.twitch.gql import GqlClient, VodMeta
from detector.sources.twitch.resolver import (
    PlaylistResolver,
    ResolvedVod,
    TemplateResolver,
    TwitchResolver,
    VodStillRecording,
    VodUnavailable,
    check_vod_id,
    default_resolver,
)
from detector.sources.twitch.transport import RetryPolicy
from detector.sources.twitch.ytdlp_session import FetchOptions

__all__ = [
    "ChatReplay", "DownloadError", "FetchOptions", "FetchedAudio", "GqlClient", "NotEnoughDisk", "PlaylistResolver",
    "ResolvedVod", "RetryPolicy", "Section", "TemplateResolver", "TransientDownload", "TwitchResolver", "VodMeta",
    "VodStillRecording", "VodUnavailable", "check_vod_id", "default_resolver", "download_chat", "fetch_audio",
    "fetch_sections",
]

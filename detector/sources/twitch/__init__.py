"""Sources stage, Twitch ingestion: a Twitch VOD → local audio, chat and sections files.

``resolver`` turns a VOD id into its usher HLS playlist URL with yt-dlp's own Twitch extractor
(``ytdlp_twitch``), after our GQL metadata query (``gql``) for its status and muted spans;
``chat_replay`` saves the VOD's whole chat as TwitchDownloader JSON; ``fetch`` downloads the
audio-only rendition and only the sections later stages need, through yt-dlp (``ytdlp_session``) and
the playlist trimming in ``playlist``; ``check`` tests each request against the live Twitch.
``endpoints`` reads every URL, client id and token from the environment. yt-dlp is imported lazily,
only when a VOD is resolved or downloaded, so importing this package is cheap and works without it.
"""

from __future__ import annotations

from detector.sources.twitch.chat_replay import ChatReplay, download_chat
from detector.sources.twitch.endpoints import TwitchEndpoints
from detector.sources.twitch.errors import (
    ChatRefused,
    DownloadError,
    ExtractorOutdated,
    GqlError,
    NotEnoughDisk,
    TransientDownload,
    TwitchAuthFailed,
    VodStillRecording,
    VodSubscriberOnly,
    VodUnavailable,
)
from detector.sources.twitch.fetch import FetchedAudio, Section, fetch_audio, fetch_sections
from detector.sources.twitch.gql import GqlClient, VodMeta
from detector.sources.twitch.resolver import (
    PlaylistResolver,
    ResolvedVod,
    TemplateResolver,
    TwitchResolver,
    check_vod_id,
    default_resolver,
)
from detector.sources.twitch.transport import RetryPolicy
from detector.sources.twitch.ytdlp_session import FetchOptions

__all__ = [
    "ChatRefused", "ChatReplay", "DownloadError", "ExtractorOutdated", "FetchOptions", "FetchedAudio", "GqlClient",
    "GqlError", "NotEnoughDisk", "PlaylistResolver", "ResolvedVod", "RetryPolicy", "Section", "TemplateResolver",
    "TransientDownload", "TwitchAuthFailed", "TwitchEndpoints", "TwitchResolver", "VodMeta", "VodStillRecording",
    "VodSubscriberOnly", "VodUnavailable", "check_vod_id", "default_resolver", "download_chat", "fetch_audio",
    "fetch_sections",
]

"""Sources stage, Twitch ingestion: a Twitch VOD id → the URL of its HLS (master) playlist.

Consumes a VOD id (the bot has already checked what the user typed; this module checks the id's form
again before anything is requested); produces a playlist URL that the downloader hands to yt-dlp.
Resolution is a port (``PlaylistResolver``) so tests and admins can point it anywhere:
``TemplateResolver`` fills a URL template (a local HLS double, a mirror). The real Twitch resolver
(GQL playback access token → usher ``.m3u8``) is **not written yet**: ``TwitchResolverMissing``
stands in for it and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from detector.errors import ConfigError
from detector.sources.twitch.errors import DownloadError

VOD_ID = re.compile(r"\d{6,12}")
"""Twitch VOD ids are 6–12 digits (the bot strips an old ``v`` prefix before they get here)."""


class PlaylistResolver(Protocol):
    """Returns the HLS playlist URL of a Twitch VOD; raises ``DownloadError`` when it cannot."""

    def __call__(self, vod_id: str) -> str: ...


def check_vod_id(vod_id: str) -> str:
    """``vod_id`` stripped, when it has a Twitch VOD id's form; ``ConfigError`` otherwise."""
    text = str(vod_id).strip()
    if not VOD_ID.fullmatch(text):
        raise ConfigError(f"{vod_id!r} is not a Twitch VOD id.", hint="Ids are 6–12 digits, as in twitch.tv/videos/2012345678.")
    return text


@dataclass(frozen=True, slots=True)
class TemplateResolver:
    """Fills ``template``'s ``{vod_id}`` (e.g. ``http://127.0.0.1:8080/{vod_id}/master.m3u8``)."""

    template: str

    def __call__(self, vod_id: str) -> str:
        if "{vod_id}" not in self.template:
            raise ConfigError(f"The playlist URL template {self.template!r} has no {{vod_id}} placeholder.")
        return self.template.format(vod_id=check_vod_id(vod_id))


@dataclass(frozen=True, slots=True)
class TwitchResolverMissing:
    """Placeholder for the real Twitch resolver (GQL token + usher), which is not implemented yet."""

    def __call__(self, vod_id: str) -> str:
        check_vod_id(vod_id)
        raise DownloadError(f"Downloading Twitch VOD {vod_id} directly is not supported yet.",
                            hint="Give the VOD's media file instead, or configure a playlist URL template.")

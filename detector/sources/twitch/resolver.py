"""Sources stage, Twitch ingestion: a Twitch VOD id → the URL of its HLS (master) playlist, and its facts.

Consumes a VOD id (the bot has already checked what the user typed; this module checks the id's form
again before anything is requested); produces a playlist URL that the downloader hands to yt-dlp.
Resolution is a port (``PlaylistResolver``): ``TwitchResolver`` runs yt-dlp's own Twitch extractor
(``ytdlp_twitch``: its metadata queries, its full-text playback-token query, usher), retried while
Twitch or the network fails; ``TemplateResolver`` fills a URL template (a local HLS double, a mirror).
``TwitchResolver.resolve`` first asks our own GQL metadata query (``gql.GqlClient.video``) for what
yt-dlp does not give — the VOD's status and its muted (DMCA) spans — so a deleted VOD (``video:
null``) or one still recording fails at once with its reason, and a VOD Twitch lists but yt-dlp
cannot resolve is told apart as an outdated extractor (``ExtractorOutdated``: upgrade yt-dlp). The
muted spans join Twitch's list with the ``-muted``/``-unmuted`` segments of a media playlist.
``default_resolver()`` builds a ``TwitchResolver`` from the environment (``endpoints``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from detector.errors import ConfigError, MediaError
from detector.records import AbortCheck
from detector.sources.twitch.endpoints import TwitchEndpoints
from detector.sources.twitch.errors import (
    UPGRADE_HINT,
    DownloadError,
    ExtractorOutdated,
    VodStillRecording,
    VodUnavailable,
)
from detector.sources.twitch.gql import GqlClient, VodMeta
from detector.sources.twitch.playlist import merge_windows, muted_spans, parse_media_playlist
from detector.sources.twitch.transport import RetryPolicy, request, with_retries

if TYPE_CHECKING:
    from detector.sources.twitch.ytdlp_twitch import Exchange, ExtractedVod

log = logging.getLogger(__name__)

VOD_ID = re.compile(r"\d{6,12}")
"""Twitch VOD ids are 6–12 digits (the bot strips an old ``v`` prefix before they get here)."""
__all__ = ["PlaylistResolver", "ResolvedVod", "TemplateResolver", "TwitchResolver", "VodStillRecording",
           "VodUnavailable", "check_vod_id", "default_resolver"]


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
class ResolvedVod:
    """A VOD ready to download: its playlist URL and what Twitch says about it."""

    vod_id: str
    playlist_url: str
    """The usher master playlist URL (it carries a playback token that expires after a while)."""
    meta: VodMeta
    """Metadata; ``meta.muted`` already joins Twitch's muted list and the ``-muted.ts`` segments."""

    @property
    def muted(self) -> tuple[tuple[float, float], ...]:
        return self.meta.muted


@dataclass(frozen=True, slots=True)
class TwitchResolver:
    """The real resolver: our metadata query, then yt-dlp's Twitch extractor (see the module docstring)."""

    gql: GqlClient

    @property
    def endpoints(self) -> TwitchEndpoints:
        return self.gql.endpoints

    @property
    def policy(self) -> RetryPolicy:
        return self.gql.policy

    def __call__(self, vod_id: str) -> str:
        return self.extract(vod_id).master_url

    def extract(self, vod_id: str, *, listed: bool = False,
                on_exchanges: Callable[[tuple[Exchange, ...]], None] | None = None) -> ExtractedVod:
        """yt-dlp's extraction of VOD ``vod_id``, retried while it fails transiently; ``listed``: our own
        query already found the VOD, so yt-dlp saying it does not exist means yt-dlp is outdated."""
        from detector.sources.twitch.ytdlp_twitch import extract_vod

        vod_id = check_vod_id(vod_id)

        def step() -> ExtractedVod:
            try:
                return extract_vod(vod_id, self.endpoints, abort=self.gql.abort, on_exchanges=on_exchanges)
            except DownloadError as exc:
                if type(exc) is not DownloadError:
                    raise
                if listed:  # Twitch's GQL lists the VOD: what fails is yt-dlp's way of asking
                    raise ExtractorOutdated(f"yt-dlp's Twitch extractor fails on VOD {vod_id}, which Twitch lists: "
                                            f"{exc.message}", hint=UPGRADE_HINT) from None
                if "does not exist" in exc.message:
                    raise VodUnavailable(f"Twitch has no VOD {vod_id}: it was deleted, has expired or never existed.",
                                         hint="Check the VOD link.") from None
                raise

        extracted = with_retries(f"Resolving Twitch VOD {vod_id} (yt-dlp)", step, self.policy, self.gql.abort)
        log.info("resolved Twitch VOD %s with yt-dlp %s: %d renditions", vod_id, _ytdlp_version(),
                 len(extracted.formats))
        return extracted

    def playlist_muted(self, vod_id: str, formats: tuple[dict[str, Any], ...]) -> tuple[tuple[float, float], ...]:
        """The muted spans named by the segments of one media playlist (the audio-only one if listed)."""
        chosen = next((f for f in formats if f.get("vcodec") == "none"), formats[0])
        answer = request(f"Reading a media playlist of VOD {vod_id}", str(chosen["url"]), policy=self.policy,
                         abort=self.gql.abort)
        if answer.status != 200:
            raise DownloadError(f"A media playlist of VOD {vod_id} answered HTTP {answer.status}.")
        try:
            return muted_spans(parse_media_playlist(answer.text(), answer.url or str(chosen["url"])))
        except MediaError as exc:
            raise DownloadError(f"A media playlist of VOD {vod_id} cannot be read: {exc}") from None

    def resolve(self, vod_id: str, *, allow_recording: bool = False) -> ResolvedVod:
        """Metadata, playlist URL and muted spans of VOD ``vod_id``.

        ``VodUnavailable`` when Twitch has no such VOD; ``VodStillRecording`` while the stream still
        runs, unless ``allow_recording``; ``VodSubscriberOnly`` without a token that grants access.
        """
        vod_id = check_vod_id(vod_id)
        meta = self.gql.require_video(vod_id)
        if meta.is_recording and not allow_recording:
            raise VodStillRecording(f"Twitch VOD {vod_id} is still being recorded (the stream is live).",
                                    hint="Ask again after the stream has ended.")
        extracted = self.extract(vod_id, listed=True)
        muted = merge_windows([*meta.muted, *self.playlist_muted(vod_id, extracted.formats)], 0.0, math.inf)
        if muted:
            log.info("VOD %s has %d muted span(s): %s", vod_id, len(muted),
                     ", ".join(f"{a:.0f}-{b:.0f} s" for a, b in muted))
        return ResolvedVod(vod_id, extracted.master_url, meta.with_muted(tuple(muted)))


def _ytdlp_version() -> str:
    from yt_dlp.version import __version__

    return str(__version__)


def default_resolver(env: Mapping[str, str] | None = None, *, policy: RetryPolicy | None = None,
                     abort: AbortCheck | None = None) -> TwitchResolver:
    """A ``TwitchResolver`` for the endpoints the environment names (defaults: the real Twitch hosts)."""
    return TwitchResolver(GqlClient.from_env(env, policy=policy, abort=abort))

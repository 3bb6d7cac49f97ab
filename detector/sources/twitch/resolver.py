"""Sources stage, Twitch ingestion: a Twitch VOD id → the URL of its HLS (master) playlist, and its facts.

Consumes a VOD id (the bot has already checked what the user typed; this module checks the id's form
again before anything is requested); produces a playlist URL that the downloader hands to yt-dlp.
Resolution is a port (``PlaylistResolver``): ``TwitchResolver`` asks Twitch GQL for the VOD's
playback access token and builds the usher URL ``{HIGHLIGHTS_TWITCH_USHER_URL}/vod/{id}.m3u8?sig=…
&token=…`` (checking that usher answers it: a 403 means subscriber-only or restricted, a 404 deleted
or expired, both a clear ``VodUnavailable``); ``TemplateResolver`` fills a URL template (a local HLS
double, a mirror). ``TwitchResolver.resolve`` also returns the VOD's metadata (``VodMeta``) with its
muted (DMCA) spans: Twitch's own list joined with the ``-muted.ts`` segments of a media playlist.
``default_resolver()`` builds a ``TwitchResolver`` from the environment.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from detector.errors import ConfigError, MediaError
from detector.records import AbortCheck
from detector.sources.twitch.errors import DownloadError
from detector.sources.twitch.gql import GqlClient, PlaybackToken, VodMeta
from detector.sources.twitch.playlist import merge_windows, muted_spans, parse_master_playlist, parse_media_playlist
from detector.sources.twitch.transport import Response, RetryPolicy, request

log = logging.getLogger(__name__)

VOD_ID = re.compile(r"\d{6,12}")
"""Twitch VOD ids are 6–12 digits (the bot strips an old ``v`` prefix before they get here)."""
USHER_URL_ENV = "HIGHLIGHTS_TWITCH_USHER_URL"
DEFAULT_USHER_URL = "https://usher.ttvnw.net"


class PlaylistResolver(Protocol):
    """Returns the HLS playlist URL of a Twitch VOD; raises ``DownloadError`` when it cannot."""

    def __call__(self, vod_id: str) -> str: ...


class VodUnavailable(DownloadError):
    """Twitch will not serve the VOD: subscriber-only or restricted (403), deleted or expired (404)."""

    code = "vod_unavailable"
    retryable = False


class VodStillRecording(DownloadError):
    """The VOD is still being recorded (the stream is live); its end is not there yet."""

    code = "vod_recording"
    retryable = False


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


def usher_vod_url(usher_url: str, vod_id: str, token: PlaybackToken, *, nonce: int | None = None) -> str:
    """The usher master playlist URL of VOD ``vod_id`` signed with ``token``."""
    query = {
        "allow_source": "true", "allow_audio_only": "true", "allow_spectre": "true", "platform": "web",
        "player": "twitchweb", "playlist_include_framerate": "true", "supported_codecs": "h264",
        "p": str(nonce if nonce is not None else random.randint(1_000_000, 9_999_999)),
        "sig": token.signature, "token": token.value,
    }
    return f"{usher_url.rstrip('/')}/vod/{vod_id}.m3u8?{urlencode(query)}"


def _refusal(vod_id: str, answer: Response) -> DownloadError:
    try:
        detail = json.loads(answer.body)
        detail = detail[0] if isinstance(detail, list) and detail else detail
        code = str(detail.get("error_code") or detail.get("error") or "") if isinstance(detail, dict) else ""
    except ValueError:
        code = ""
    because = f" ({code})" if code else ""
    if answer.status == 403:
        return VodUnavailable(f"Twitch refuses the playlist of VOD {vod_id} (HTTP 403{because}): it is for "
                              "subscribers only or otherwise restricted.",
                              hint="Pick a public VOD, or give the VOD's media file instead.")
    if answer.status in (404, 410):
        return VodUnavailable(f"Twitch has no playlist for VOD {vod_id} (HTTP {answer.status}{because}): it was "
                              "deleted or has expired.", hint="Check the VOD link.")
    return DownloadError(f"Twitch's usher answered HTTP {answer.status}{because} for VOD {vod_id}.")


@dataclass(frozen=True, slots=True)
class TwitchResolver:
    """The real resolver: GQL playback token → usher master playlist (checked to answer)."""

    gql: GqlClient
    usher_url: str = DEFAULT_USHER_URL

    @property
    def policy(self) -> RetryPolicy:
        return self.gql.policy

    def __call__(self, vod_id: str) -> str:
        return self.master(vod_id)[0]

    def master(self, vod_id: str) -> tuple[str, str]:
        """``(url, text)`` of VOD ``vod_id``'s usher master playlist; ``VodUnavailable`` when refused."""
        vod_id = check_vod_id(vod_id)
        url = usher_vod_url(self.usher_url, vod_id, self.gql.playback_token(vod_id))
        answer = request(f"Reading Twitch's playlist of VOD {vod_id}", url, policy=self.policy, abort=self.gql.abort)
        if answer.status != 200:
            raise _refusal(vod_id, answer)
        text = answer.text()
        if not text.lstrip().startswith("#EXTM3U"):
            raise DownloadError(f"Twitch's usher answered VOD {vod_id} with something that is not a playlist.")
        log.info("resolved Twitch VOD %s to its usher playlist", vod_id)
        return url, text

    def playlist_muted(self, vod_id: str, master_url: str, master_text: str) -> tuple[tuple[float, float], ...]:
        """The muted spans named by the segments of one media playlist (the audio-only one if listed)."""
        try:
            renditions = parse_master_playlist(master_text, master_url)
        except MediaError as exc:
            raise DownloadError(f"Twitch's playlist of VOD {vod_id} cannot be read: {exc}") from None
        chosen = next((r for r in renditions if r.audio_only), renditions[0])
        answer = request(f"Reading a media playlist of VOD {vod_id}", chosen.uri, policy=self.policy,
                         abort=self.gql.abort)
        if answer.status != 200:
            raise _refusal(vod_id, answer)
        try:
            return muted_spans(parse_media_playlist(answer.text(), answer.url or chosen.uri))
        except MediaError as exc:
            raise DownloadError(f"A media playlist of VOD {vod_id} cannot be read: {exc}") from None

    def resolve(self, vod_id: str, *, allow_recording: bool = False) -> ResolvedVod:
        """Metadata, playlist URL and muted spans of VOD ``vod_id``.

        ``VodStillRecording`` while the stream still runs, unless ``allow_recording``.
        """
        vod_id = check_vod_id(vod_id)
        meta = self.gql.require_video(vod_id)
        if meta.is_recording and not allow_recording:
            raise VodStillRecording(f"Twitch VOD {vod_id} is still being recorded (the stream is live).",
                                    hint="Ask again after the stream has ended.")
        url, text = self.master(vod_id)
        muted = merge_windows([*meta.muted, *self.playlist_muted(vod_id, url, text)], 0.0, math.inf)
        if muted:
            log.info("VOD %s has %d muted span(s): %s", vod_id, len(muted),
                     ", ".join(f"{a:.0f}-{b:.0f} s" for a, b in muted))
        return ResolvedVod(vod_id, url, meta.with_muted(tuple(muted)))


def default_resolver(env: Mapping[str, str] | None = None, *, policy: RetryPolicy | None = None,
                     abort: AbortCheck | None = None) -> TwitchResolver:
    """A ``TwitchResolver`` for the endpoints the environment names (defaults: the real Twitch hosts)."""
    env = os.environ if env is None else env
    return TwitchResolver(GqlClient.from_env(env, policy=policy, abort=abort),
                          env.get(USHER_URL_ENV) or DEFAULT_USHER_URL)

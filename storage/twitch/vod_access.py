"""Who may watch a Twitch VOD, asked the way a player asks: one playback-token query, one usher request.

Consumed by the bot's ``/highlights`` check (``bot.twitch_checks``), so a subscriber-only VOD is
refused while the user waits instead of failing its job later. Helix cannot tell: it lists such VODs
like any other. The token query is the full-text ``PlaybackAccessToken_Template`` TwitchDownloader's
``TwitchHelper.GetVideoToken`` sends (with ``Authorization: OAuth <token>`` when the user's token is
set), the usher request the one yt-dlp's Twitch extractor sends; usher's 403 ``vod_manifest_restricted``
or ``unauthorized_entitlements`` means subscribers only (yt-dlp ``twitch.py`` and TwitchDownloader
``GetVideoPlaylist`` read the same codes). Produces an ``Access``; an outage, a refused token or an
answer it cannot read is ``TwitchUnavailable`` (the bot then queues the VOD unchecked and the worker
judges it). The environment variables are the worker's (``detector.sources.twitch.endpoints``).
"""

from __future__ import annotations

import enum
import json
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from storage.twitch.errors import TwitchUnavailable

GQL_URL_ENV = "HIGHLIGHTS_TWITCH_GQL_URL"
USHER_URL_ENV = "HIGHLIGHTS_TWITCH_USHER_URL"
PLAYBACK_CLIENT_ID_ENV = "HIGHLIGHTS_TWITCH_CLIENT_ID_PLAYBACK"
OAUTH_TOKEN_ENV = "HIGHLIGHTS_TWITCH_OAUTH_TOKEN"
WEB_CLIENT_ID = "kimne78kx3ncx6brgo4mv6wki5h1ko"
DEFAULT_GQL_URL = "https://gql.twitch.tv/gql"
DEFAULT_USHER_URL = "https://usher.ttvnw.net"
SUBSCRIBER_CODES = ("vod_manifest_restricted", "unauthorized_entitlements")
TOKEN_QUERY = (
    "query PlaybackAccessToken_Template($login: String!, $isLive: Boolean!, $vodID: ID!, $isVod: Boolean!, "
    "$playerType: String!) { streamPlaybackAccessToken(channelName: $login, params: {platform: \"web\", "
    "playerBackend: \"mediaplayer\", playerType: $playerType}) @include(if: $isLive) { value signature __typename } "
    "videoPlaybackAccessToken(id: $vodID, params: {platform: \"web\", playerBackend: \"mediaplayer\", "
    "playerType: $playerType}) @include(if: $isVod) { value signature __typename } }")


class Access(enum.Enum):
    OPEN = "open"
    SUBSCRIBERS = "subscribers"
    """usher refuses the playlist to this viewer: subscribers only (or the token's account lacks access)."""
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class VodAccessSettings:
    """Where GQL and usher are, and whose token (if any) asks."""

    gql_url: str = DEFAULT_GQL_URL
    usher_url: str = DEFAULT_USHER_URL
    client_id: str = WEB_CLIENT_ID
    oauth_token: str | None = field(default=None, repr=False)
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VodAccessSettings:
        env = os.environ if env is None else env
        token = (env.get(OAUTH_TOKEN_ENV) or "").strip()
        for prefix in ("OAuth ", "oauth ", "oauth:", "OAuth:"):
            token = token.removeprefix(prefix).strip()
        return cls(gql_url=(env.get(GQL_URL_ENV) or DEFAULT_GQL_URL).strip(),
                   usher_url=(env.get(USHER_URL_ENV) or DEFAULT_USHER_URL).strip().rstrip("/"),
                   client_id=(env.get(PLAYBACK_CLIENT_ID_ENV) or WEB_CLIENT_ID).strip(), oauth_token=token or None)


async def vod_access(vod_id: str, settings: VodAccessSettings) -> Access:
    """Whether usher serves VOD ``vod_id``'s playlist to the configured viewer (see the module docstring)."""
    if not vod_id.isdigit():
        raise TwitchUnavailable(f"{vod_id!r} is not a VOD id", retryable=False)
    headers = {"Client-ID": settings.client_id, "Content-Type": "application/json"}
    if settings.oauth_token:
        headers["Authorization"] = f"OAuth {settings.oauth_token}"
    body = {"operationName": "PlaybackAccessToken_Template", "query": TOKEN_QUERY,
            "variables": {"isLive": False, "login": "", "isVod": True, "vodID": vod_id, "playerType": "embed"}}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.timeout_s)) as session:
            async with session.post(settings.gql_url, data=json.dumps(body), headers=headers) as answer:
                status, doc = answer.status, await _json(answer)
            if status != 200:
                raise TwitchUnavailable(f"Twitch GQL answered HTTP {status} to the playback token query "
                                        f"({_message(doc)})", retryable=status >= 500)
            token = ((doc or {}).get("data") or {}).get("videoPlaybackAccessToken") if isinstance(doc, dict) else None
            if token is None:
                if isinstance(doc, dict) and doc.get("errors"):
                    raise TwitchUnavailable(f"Twitch GQL refused the playback token query ({_message(doc)})")
                return Access.GONE
            query = {"allow_source": "true", "allow_audio_only": "true", "allow_spectre": "true",
                     "p": str(random.randint(1_000_000, 9_999_999)), "platform": "web", "player": "twitchweb",
                     "supported_codecs": "av1,h265,h264", "playlist_include_framerate": "true",
                     "sig": str(token.get("signature")), "token": str(token.get("value"))}
            async with session.get(f"{settings.usher_url}/vod/{vod_id}.m3u8", params=query) as answer:
                status, text = answer.status, await answer.text(errors="replace")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TwitchUnavailable(f"Twitch did not answer ({type(exc).__name__}: {exc})") from None
    if status == 200:
        return Access.OPEN
    if status == 403 and any(code in text for code in SUBSCRIBER_CODES):
        return Access.SUBSCRIBERS
    if status in (404, 410):
        return Access.GONE
    raise TwitchUnavailable(f"Twitch's usher answered HTTP {status}: {text[:120]}", retryable=status >= 500)


async def _json(answer: aiohttp.ClientResponse) -> Any:
    try:
        return await answer.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return None


def _message(doc: Any) -> str:
    if not isinstance(doc, dict):
        return "no JSON"
    if doc.get("errors"):
        return "; ".join(str(e.get("message") if isinstance(e, dict) else e) for e in doc["errors"])[:200]
    return str(doc.get("message") or doc.get("error") or "")[:200]

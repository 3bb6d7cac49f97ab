"""A small async facade over Twitch's Helix API (through twitchAPI) with app credentials.

Consumes ``TWITCH_CLIENT_ID`` / ``TWITCH_CLIENT_SECRET`` and the base URLs ``HIGHLIGHTS_HELIX_URL`` /
``HIGHLIGHTS_TWITCH_AUTH_URL`` (tests point them at a double on 127.0.0.1); produces the frozen records
of ``storage.twitch.records``: a user by login, a video by id (None when it does not exist), a user's
newest archived VOD, the live stream now (to recognise a VOD still being recorded) and viewers' clips
of a VOD. Every call is retried a bounded number of times on 5xx answers, timeouts, refused
connections and rate limits, then fails with ``TwitchUnavailable``; wrong credentials fail at once with
``TwitchAuthFailed``. No aiohttp or twitchAPI exception reaches a caller.

The settings come from ``storage.twitch.settings``; ``storage.twitch.client`` makes twitchAPI raise on
every failed answer (429s and unexpected statuses would otherwise read as "no such user" or "no VOD").
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
from twitchAPI.twitch import Twitch
from twitchAPI.type import (
    TwitchAPIException,
    TwitchAuthorizationException,
    TwitchBackendException,
    TwitchResourceNotFound,
    VideoType,
)

from storage.clock import utcnow
from storage.redact import redact
from storage.twitch.client import HelixClient, Throttled
from storage.twitch.errors import TwitchApiError, TwitchAuthFailed, TwitchUnavailable
from storage.twitch.records import (
    LiveStream,
    MutedSegment,
    TwitchUser,
    TwitchVideo,
    ViewerClip,
    parse_duration,
    still_recording,
)
from storage.twitch.settings import HelixSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

CLIP_WINDOW_S = 7 * 24 * 3600.0
"""Clips made up to this long after a VOD ended are looked for (most are made while it is live)."""
MAX_CLIPS_SCANNED = 2000
"""Helix serves at most about 1,000 clips per query; a cursor that never ends stops here."""

_LOGIN = re.compile(r"[a-z0-9_]{1,25}")


def _base(url: str) -> str:
    return url.rstrip("/") + "/"


def _redact(text: str) -> str:
    return redact(text)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def _first(gen: AsyncGenerator[T, None]) -> T | None:
    """The first item of a twitchAPI listing, closing it (and its HTTP session) at once."""
    try:
        return await anext(gen, None)
    finally:
        await gen.aclose()


def _auth_status(exc: TwitchAuthorizationException) -> int | None:
    match = re.search(r"code (\d{3})", str(exc))
    return int(match.group(1)) if match else None


class Helix:
    """Helix with app credentials (see the module docstring). One instance per process; ``close()`` when done."""

    def __init__(self, settings: HelixSettings) -> None:
        self.settings = settings
        self._client: HelixClient | None = None
        self._auth_lock = asyncio.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Helix:
        return cls(HelixSettings.from_env(environ, **options))

    async def close(self) -> None:
        self._client = None  # twitchAPI opens one HTTP session per request: nothing stays open

    async def __aenter__(self) -> Helix:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # -- the questions ----------------------------------------------------------------------------------
    async def user_by_login(self, login: str) -> TwitchUser | None:
        """The user with this login; None when Twitch has none."""
        key = login.strip().lstrip("@").lower()
        if not _LOGIN.fullmatch(key):
            return None
        user = await self._call(f"the user {key!r}", lambda tw: _first(tw.get_users(logins=[key])))
        if user is None:
            return None
        return TwitchUser(id=str(user.id), login=str(user.login), display_name=str(user.display_name or user.login))

    async def video(self, vod_id: str) -> TwitchVideo | None:
        """The video with this id; None when it does not exist (or is not a numeric id)."""
        key = str(vod_id).strip().lstrip("v")
        if not key.isdigit():
            return None

        async def ask(tw: Twitch) -> Any:
            try:
                return await _first(tw.get_videos(ids=[key]))
            except TwitchResourceNotFound:
                return None

        found = await self._call(f"the video {key}", ask)
        return None if found is None else _video(found)

    async def newest_archive(self, user_id: str) -> TwitchVideo | None:
        """The user's newest past broadcast (``type=archive``); None when they have none."""
        found = await self._call(f"the newest VOD of user {user_id}", lambda tw: _first(
            tw.get_videos(user_id=str(user_id), video_type=VideoType.ARCHIVE, first=1)))
        return None if found is None else _video(found)

    async def recent_archives(self, user_id: str, limit: int = 10) -> list[TwitchVideo]:
        """The user's ``limit`` newest past broadcasts (``type=archive``), newest first."""
        async def ask(tw: Twitch) -> list[TwitchVideo]:
            found: list[TwitchVideo] = []
            gen = tw.get_videos(user_id=str(user_id), video_type=VideoType.ARCHIVE, first=min(max(limit, 1), 100))
            try:
                async for video in gen:
                    found.append(_video(video))
                    if len(found) >= limit:
                        break
            finally:
                await gen.aclose()
            return found

        return await self._call(f"the recent VODs of user {user_id}", ask)

    async def newest_archive_of(self, login: str) -> TwitchVideo | None:
        """The newest past broadcast of the channel ``login``; None when the channel or its VODs do not exist."""
        user = await self.user_by_login(login)
        return None if user is None else await self.newest_archive(user.id)

    async def live_stream(self, user_id: str) -> LiveStream | None:
        """The user's broadcast if they are live now."""
        stream = await self._call(f"whether user {user_id} is live", lambda tw: _first(
            tw.get_streams(user_id=[str(user_id)], first=1)))
        if stream is None or (getattr(stream, "type", "live") or "live") != "live":
            return None
        started = _utc(getattr(stream, "started_at", None)) or utcnow()
        return LiveStream(id=str(getattr(stream, "id", "") or ""), user_id=str(stream.user_id),
                          user_login=str(getattr(stream, "user_login", "") or ""), started_at=started,
                          title=str(getattr(stream, "title", "") or ""))

    async def is_recording(self, video: TwitchVideo) -> bool:
        """Whether ``video`` is the archive of a broadcast that is still live (so not finished)."""
        if video.type != "archive":
            return False
        return still_recording(video, await self.live_stream(video.user_id))

    async def clips_of_video(self, video: TwitchVideo, *, window_s: float = CLIP_WINDOW_S,
                             max_scanned: int = MAX_CLIPS_SCANNED) -> list[ViewerClip]:
        """Viewers' clips of ``video`` (its broadcaster's clips made from its start until ``window_s`` after
        its end, kept when they belong to this video and know their VOD offset), by VOD offset."""
        start = video.created_at - timedelta(minutes=1)
        end = min((video.ended_at or utcnow()) + timedelta(seconds=window_s), utcnow())
        end = max(end, start + timedelta(minutes=1))

        async def ask(tw: Twitch) -> list[ViewerClip]:
            seen: dict[str, ViewerClip] = {}
            scanned = 0
            gen = tw.get_clips(broadcaster_id=video.user_id, started_at=start, ended_at=end, first=100)
            try:
                async for clip in gen:
                    scanned += 1
                    if str(getattr(clip, "video_id", "") or "") == video.id:
                        record = _clip(clip)
                        if record is not None:
                            seen.setdefault(record.id, record)
                    if scanned >= max_scanned:
                        log.warning("stopped reading clips of VOD %s after %d (a cursor that does not end?)",
                                    video.id, scanned)
                        break
            finally:
                await gen.aclose()
            return sorted(seen.values(), key=lambda c: (c.offset_s, -c.views))

        return await self._call(f"the clips of VOD {video.id}", ask)

    # -- retries and error mapping ----------------------------------------------------------------------
    async def _authenticated(self) -> HelixClient:
        async with self._auth_lock:
            if self._client is None:
                s = self.settings
                client = HelixClient(s.client_id, s.client_secret, authenticate_app=False,
                                      base_url=_base(s.helix_url), auth_base_url=_base(s.auth_url),
                                      session_timeout=aiohttp.ClientTimeout(total=s.timeout_s))
                await client.authenticate_app([])
                self._client = client
            return self._client

    async def _call(self, what: str, ask: Callable[[Twitch], Awaitable[T]]) -> T:
        """Run ``ask`` with an authenticated client, retrying transient faults (see the module docstring)."""
        attempts = max(int(self.settings.attempts), 1)
        last = ""
        for attempt in range(1, attempts + 1):
            wait = self.settings.backoff_s * 2 ** (attempt - 1)
            try:
                return await ask(await self._authenticated())
            except Throttled as exc:
                last, wait = str(exc), min(exc.wait_s + 0.1, self.settings.max_wait_s)
            except TwitchAuthorizationException as exc:
                self._client = None  # start over with a fresh client and token (twitchAPI may hold a refresh lock)
                status = _auth_status(exc)
                if status is not None and status < 500:
                    raise TwitchAuthFailed(
                        f"Twitch refused the app credentials (HTTP {status}) while asking for {what}: check "
                        "TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET") from None
                if status is None:  # a token Helix keeps refusing after a fresh one was fetched
                    raise TwitchAuthFailed(f"Twitch refused our app token while asking for {what} "
                                           f"({_redact(str(exc))}): check TWITCH_CLIENT_ID and "
                                           "TWITCH_CLIENT_SECRET") from None
                last = f"the token endpoint answered HTTP {status}"
            except (TwitchBackendException, aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
                last = _redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            except TwitchResourceNotFound as exc:
                raise TwitchApiError(f"Twitch found nothing for {what} ({exc})", retryable=False) from None
            except TwitchAPIException as exc:
                raise TwitchApiError(f"Twitch refused the request for {what}: {_redact(str(exc))}",
                                     retryable=False) from None
            except TwitchApiError:
                raise
            except Exception as exc:  # an answer twitchAPI could not read: say so, never leak its type
                raise TwitchApiError(f"Twitch's answer for {what} was not understood "
                                     f"({type(exc).__name__}: {_redact(str(exc))})") from None
            if attempt < attempts:
                log.info("Helix: %s failed (%s); retry %d of %d in %.1f s", what, last, attempt, attempts - 1, wait)
                await asyncio.sleep(wait)
        raise TwitchUnavailable(f"Twitch did not answer {what} after {attempts} attempt(s) ({last}); "
                                "try again later")


def _video(v: Any) -> TwitchVideo:
    kind = getattr(v, "type", "")
    muted = tuple(MutedSegment(offset_s=float(m.offset), duration_s=float(m.duration))
                  for m in (getattr(v, "muted_segments", None) or []))
    stream_id = getattr(v, "stream_id", None)
    return TwitchVideo(
        id=str(v.id), user_id=str(v.user_id), user_login=str(getattr(v, "user_login", "") or ""),
        title=str(getattr(v, "title", "") or ""), created_at=_utc(v.created_at) or utcnow(),
        duration_s=parse_duration(getattr(v, "duration", None)),
        type=str(kind.value if isinstance(kind, Enum) else kind or ""), muted_segments=muted,
        stream_id=str(stream_id) if stream_id else None)


def _clip(c: Any) -> ViewerClip | None:
    offset = getattr(c, "vod_offset", None)
    if offset is None:  # Twitch does not know (yet) where in the VOD this clip is
        return None
    return ViewerClip(id=str(c.id), url=str(getattr(c, "url", "") or ""), title=str(getattr(c, "title", "") or ""),
                      video_id=str(c.video_id), offset_s=float(offset),
                      duration_s=float(getattr(c, "duration", 0.0) or 0.0),
                      views=int(getattr(c, "view_count", 0) or 0), created_at=_utc(getattr(c, "created_at", None)),
                      creator_name=str(getattr(c, "creator_name", "") or ""))

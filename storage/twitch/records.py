"""What the Helix facade answers: frozen records of Twitch users, videos, live streams and viewers' clips.

Produced by ``storage.twitch.helix`` from Helix's JSON (through twitchAPI's objects); consumed by the
poll handler (newest archived VOD, is it still being recorded?), the bot (does a VOD exist?) and the
viewer-clip labels. Times are timezone-aware UTC; durations and offsets are seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

RECORDING_TOLERANCE_S = 300.0
"""A live stream that started within this many seconds of an archive's creation is that archive's stream."""

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(text: str | None) -> float | None:
    """Seconds in Twitch's duration text (``"1h2m3s"``, ``"45m"``, ``"59s"``); None when absent or malformed."""
    if not text:
        return None
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600.0 + minutes * 60.0 + seconds


@dataclass(frozen=True, slots=True)
class TwitchUser:
    id: str
    """Twitch's numeric user id (as text)."""
    login: str
    """Lower-case login, as in ``twitch.tv/<login>``."""
    display_name: str


@dataclass(frozen=True, slots=True)
class MutedSegment:
    """A stretch of the VOD whose audio Twitch muted (DMCA)."""

    offset_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.offset_s + self.duration_s


@dataclass(frozen=True, slots=True)
class TwitchVideo:
    id: str
    user_id: str
    user_login: str
    title: str
    created_at: datetime
    duration_s: float | None
    """From Helix's ``duration`` text; None if Twitch sent something unreadable."""
    type: str
    """``archive`` (a past broadcast), ``highlight`` or ``upload``."""
    muted_segments: tuple[MutedSegment, ...] = ()
    stream_id: str | None = None
    """For an archive, the id of the live stream it records (matches ``LiveStream.id`` while live)."""

    @property
    def url(self) -> str:
        return f"https://www.twitch.tv/videos/{self.id}"

    @property
    def ended_at(self) -> datetime | None:
        """When the recording ended (for a VOD still being recorded: as far as it got)."""
        return None if self.duration_s is None else self.created_at + timedelta(seconds=self.duration_s)


@dataclass(frozen=True, slots=True)
class LiveStream:
    """A broadcast that is live now."""

    id: str
    user_id: str
    user_login: str
    started_at: datetime
    title: str = ""


@dataclass(frozen=True, slots=True)
class ViewerClip:
    """A clip someone made of a VOD: a weak label of what viewers found worth keeping."""

    id: str
    url: str
    title: str
    video_id: str
    offset_s: float
    """Where the clip starts on the VOD's timeline."""
    duration_s: float
    views: int
    created_at: datetime | None = None
    creator_name: str = ""

    @property
    def end_s(self) -> float:
        return self.offset_s + self.duration_s


def still_recording(video: TwitchVideo, stream: LiveStream | None, *,
                    tolerance_s: float = RECORDING_TOLERANCE_S) -> bool:
    """Whether ``video`` is the archive of ``stream``, the broadcast live now (so it is not finished yet).

    Helix names the stream an archive records (``stream_id``); when either id is missing, a live stream
    that started within ``tolerance_s`` of the archive's creation is taken to be the same broadcast.
    """
    if stream is None or video.type != "archive" or stream.user_id != video.user_id:
        return False
    if video.stream_id and stream.id:
        return video.stream_id == stream.id
    return abs((stream.started_at - video.created_at).total_seconds()) <= tolerance_s

"""Twitch's API for storage and the scheduler: Helix through twitchAPI, and viewers' clips as weak labels.

``Helix`` (``storage.twitch.helix``) answers with the records of ``storage.twitch.records``; its errors
are the ``TwitchApiError`` family of ``storage.twitch.errors`` (a ``StorageError``). Parsing what people
type (links, ids, channels) is ``storage.twitch_ref``, which needs no network.
"""

from __future__ import annotations

from storage.twitch.errors import (
    TwitchApiError,
    TwitchAuthFailed,
    TwitchCredentialsMissing,
    TwitchUnavailable,
    TwitchUserNotFound,
)
from storage.twitch.helix import Helix
from storage.twitch.records import LiveStream, MutedSegment, TwitchUser, TwitchVideo, ViewerClip, still_recording
from storage.twitch.settings import HelixSettings

__all__ = [
    "Helix",
    "HelixSettings",
    "LiveStream",
    "MutedSegment",
    "TwitchApiError",
    "TwitchAuthFailed",
    "TwitchCredentialsMissing",
    "TwitchUnavailable",
    "TwitchUser",
    "TwitchUserNotFound",
    "TwitchVideo",
    "ViewerClip",
    "still_recording",
]

"""Sources stage, Twitch ingestion: the errors a VOD download can end in.

All subclass ``DetectorError`` so the worker fails the job with their ``code``: for good when the
VOD itself is the problem (deleted, subscriber-only, still recording) or when only a person can fix
it (a bad token, an outdated yt-dlp), retryably (``retryable``) when Twitch or the network failed.
``ChatRefused`` is not a job failure: ingestion turns it into an audio-only result that says why.
"""

from __future__ import annotations

from detector.errors import DetectorError

UPGRADE_HINT = "Twitch may have changed something; upgrade yt-dlp (pip install -U yt-dlp) and see `highlights twitch check`."


class DownloadError(DetectorError):
    """A VOD (or a part of it) could not be downloaded, even after retries."""

    code = "download_error"
    retryable = True
    """An outage that outlasted the retries may pass; the job is tried again later."""


class NotEnoughDisk(DownloadError):
    """The download folder has too little free space for what is about to be downloaded."""

    code = "disk_full"
    retryable = False


class TransientDownload(DownloadError):
    """One try failed for a reason that may pass (HTTP 5xx, a cut connection, a timeout): try again."""


class VodUnavailable(DownloadError):
    """Twitch will not serve the VOD: deleted, expired, never existed, or restricted."""

    code = "vod_unavailable"
    retryable = False


class VodSubscriberOnly(VodUnavailable):
    """The VOD is for the channel's subscribers, and no token (or one without access) was sent."""

    code = "vod_subscriber_only"


class VodStillRecording(DownloadError):
    """The VOD is still being recorded (the stream is live); its end is not there yet."""

    code = "vod_recording"
    retryable = False


class TwitchAuthFailed(DownloadError):
    """Twitch refused the configured OAuth token (HTTP 401): it is wrong or has expired."""

    code = "twitch_auth"
    retryable = False


class ExtractorOutdated(DownloadError):
    """yt-dlp's Twitch extractor failed on a VOD Twitch itself lists: Twitch changed, yt-dlp must follow."""

    code = "extractor_outdated"
    retryable = False


class GqlError(DownloadError):
    """Twitch's GQL answered an operation with ``errors`` that no retry fixes (a retired persisted
    query, a failed integrity check, an unknown field)."""

    code = "gql_error"
    retryable = False

    def __init__(self, message: str, *, reasons: tuple[str, ...] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reasons = reasons
        """Twitch's own error messages, as sent."""


class ChatRefused(GqlError):
    """Twitch refused the chat replay (for example "failed integrity check"); the job goes on audio-only."""

    code = "chat_refused"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) or self.message

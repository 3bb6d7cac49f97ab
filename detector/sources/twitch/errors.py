"""Sources stage, Twitch ingestion: the errors a VOD download can end in.

All subclass ``DetectorError`` so the worker fails the job with their ``code``: for good when the
VOD itself is the problem, retryably (``retryable``) when Twitch or the network failed (proposed to
move into ``detector/errors.py`` once this package settles).
"""

from __future__ import annotations

from detector.errors import DetectorError


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

"""Errors of the render stage.

``RenderError`` covers a plan that cannot be rendered (a cut past the end of the media, an
unknown or broken encoder, an output that stays over its size limit); its ``SmartCutFailed`` a
smart cut that failed a check (the clip is then re-encoded); ``CaptionsFormatError`` a words file
that cannot be read. All are ``DetectorError`` subclasses with a stable ``code``. Media problems
(missing, corrupt source) stay ``MediaError``; an abort is ``Cancelled``.
"""

from __future__ import annotations

from detector.errors import DetectorError


class RenderError(DetectorError):
    """A clip, reel or thumbnail could not be rendered as planned."""

    code = "render_error"


class SmartCutFailed(RenderError):
    """A smart-cut output failed one of its checks; the clip is re-encoded instead."""

    code = "smart_cut_failed"


class CaptionsFormatError(DetectorError):
    """A words (transcript) file is missing, not JSON, or lacks start/end/text per word."""

    code = "captions_format_error"

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        text = f"{path}: {message}" if path else message
        super().__init__(text, hint=hint or 'Expected {"words": [{"start": s, "end": s, "text": "..."}]} '
                                            "with times in seconds on the VOD timeline.")
        self.path = path

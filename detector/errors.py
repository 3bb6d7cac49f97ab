"""The detector's one exception root.

Every failure a user can cause (bad media, a malformed chat log, an unknown parameter) is raised as
a ``DetectorError`` subclass with a stable machine ``code`` and a message that says what was wrong
and what to do. Entry points (CLI, worker) turn it into user text; nothing below them prints.
"""

from __future__ import annotations


class DetectorError(Exception):
    """Base of all detector errors. ``code`` is stable and machine-readable."""

    code = "detector_error"
    retryable = False
    """Whether the same job may succeed later unchanged (an outage passes; bad input does not)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class MediaError(DetectorError):
    """The media file is missing, unreadable, corrupt or lacks the stream a stage needs."""

    code = "media_error"


class NotAMediaFile(MediaError):
    """The media path is a FIFO, a device, a socket, a symlink loop or a broken link: refused unopened."""

    code = "not_a_file"


class MediaTooLong(MediaError):
    """The media (or the chat log's timeline) is longer than the configured cap on VOD length."""

    code = "media_too_long"


class FFmpegNotFound(DetectorError):
    """Neither ffmpeg on PATH nor the imageio-ffmpeg wheel is available."""

    code = "ffmpeg_not_found"


class ChatFormatError(DetectorError):
    """A chat log could not be read: unknown format, malformed line, or no messages."""

    code = "chat_format_error"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        expected: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = path or "<chat>"
        if line is not None:
            where = f"{where}, line {line}"
        text = f"{where}: {message}"
        if expected:
            text += f" (expected {expected})"
        super().__init__(text, hint=hint)
        self.path = path
        self.line = line
        self.expected = expected


class ConfigError(DetectorError):
    """A parameter name, value or config file is invalid."""

    code = "config_error"


class DeviceError(DetectorError):
    """The requested compute device is not available."""

    code = "device_error"


class ModelError(DetectorError):
    """A model is missing, incomplete or cannot be loaded."""

    code = "model_error"


class ModelMemoryError(ModelError):
    """A model ran out of GPU memory while loading or running."""

    code = "model_memory"


class DatasetError(DetectorError):
    """A labelled evaluation dataset is missing files or has malformed rows."""

    code = "dataset_error"


class Cancelled(DetectorError):
    """The work was cancelled by the user or by the job's abort flag."""

    code = "cancelled"

"""Sources stage, chat logs: the one place parsed messages become a ``ChatLog``.

Every format parser feeds a :class:`MessageCollector` with (offset, text, author, emotes) tuples,
rejected records and ignored non-chat lines. The collector applies the rules all formats share:
offsets must be finite and below :data:`MAX_OFFSET_S`; negative offsets are dropped; long texts
are cut to :data:`MAX_TEXT_CHARS`; out-of-order offsets are sorted (stable); a log where most
records are malformed, that holds no messages or more than :data:`MAX_MESSAGES`, raises
:class:`ChatFormatError`. With ``rebase`` (wall-clock logs without a ``vod_start``, whose first line is
offset 0 only by assumption) earlier messages are kept and every offset moves so the earliest is 0, so
a log whose lines are out of order loses nothing. It produces the ``ChatLog`` record with a warning
for every fix it made.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from detector.errors import ChatFormatError
from detector.records import ChatLog, ChatMessage

MAX_TEXT_CHARS = 2000
"""Message texts longer than this (characters) are truncated."""
MAX_NAME_CHARS = 64
"""Author and emote names longer than this (characters) are truncated."""
MAX_EMOTES = 100
"""At most this many explicitly marked emotes are kept per message."""
MAX_OFFSET_S = 7 * 24 * 3600.0
"""Offsets beyond one week (seconds) are malformed: no VOD is that long."""
MAX_MESSAGES = 1_000_000
"""A log with more messages than this is refused (each costs a few hundred bytes; 24 h at 11 msg/s)."""


class BadRecord(Exception):
    """A record or line is malformed; caught inside this package, never raised to callers."""


def finite_offset(value: float, field: str = "offset") -> float:
    """``value`` as a float offset, or :class:`BadRecord` when it is NaN, infinite or too large."""
    if not math.isfinite(value):
        raise BadRecord(f"{field} is not a finite number ({value!r})")
    if value > MAX_OFFSET_S:
        raise BadRecord(f"{field} {value:.0f} s is beyond the one-week limit")
    return value


def clean_name(value: str) -> str | None:
    """A stripped, length-capped author or emote name; None when empty."""
    value = value.strip()
    if not value:
        return None
    return value[:MAX_NAME_CHARS]


class MessageCollector:
    """Accumulates one log's messages and problems, then builds the ``ChatLog``.

    ``unit`` names what a position counts ("line" for line formats, "record" for JSON lists);
    ``expected`` describes the format for error messages.
    """

    def __init__(self, source: str, fmt: str, expected: str, *, unit: str = "line", rebase: bool = False) -> None:
        self.source = source
        self.rebase = rebase
        self.format = fmt
        self.expected = expected
        self.unit = unit
        self.messages: list[ChatMessage] = []
        self.warnings: list[str] = []
        self._bad = 0
        self._first_bad: tuple[int, str] | None = None
        self._ignored = 0
        self._first_ignored: tuple[int, str] | None = None
        self._negative = 0
        self._truncated = 0

    def add(self, offset: float, text: str, author: str | None = None, emotes: Iterable[str] = ()) -> None:
        """Adds one message; raises :class:`BadRecord` for a NaN, infinite or huge offset."""
        if not (0.0 <= offset <= MAX_OFFSET_S):
            if self.rebase and -MAX_OFFSET_S <= offset < 0.0:
                pass  # moved to 0 or later by finish()
            elif offset < 0.0 and offset > -math.inf:
                self._negative += 1
                return
            else:
                finite_offset(offset)
        if len(self.messages) >= MAX_MESSAGES:
            raise ChatFormatError(f"the chat log has more than {MAX_MESSAGES:,} messages, more than the detector "
                                  "reads from one VOD", path=self.source,
                                  hint="Pass the chat of one VOD only, or cut the log into parts.")
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS]
            self._truncated += 1
        self.messages.append(ChatMessage(float(offset), text, author, tuple(emotes)))

    def reject(self, position: int, reason: str) -> None:
        """Counts a malformed record at ``position`` (1-based line or record number)."""
        self._bad += 1
        if self._first_bad is None:
            self._first_bad = (position, reason)

    def ignore(self, position: int, reason: str) -> None:
        """Counts a well-formed record that is not a chat message (a notice, a join, ...)."""
        self._ignored += 1
        if self._first_ignored is None:
            self._first_ignored = (position, reason)

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def finish(self) -> ChatLog:
        """The sorted ``ChatLog``; raises :class:`ChatFormatError` when nothing usable is left."""
        good = len(self.messages) + self._negative
        if self._first_bad is not None and self._bad * 2 > self._bad + good:
            position, reason = self._first_bad
            raise ChatFormatError(
                f"{self._bad} of {self._bad + good} {self.unit}s are malformed as {self.format}"
                f" (first at {self.unit} {position}: {reason})",
                path=self.source,
                line=position if self.unit == "line" else None,
                expected=self.expected,
                hint="Check that the file is a complete chat log in one of the supported formats.",
            )
        if self.messages and self._negative > len(self.messages):
            raise ChatFormatError(
                f"{self._negative} of {good} messages lie before the VOD start (negative offsets); reading the "
                f"{len(self.messages)} others alone would lose most of the log", path=self.source,
                expected=self.expected, hint="Check --vod-start (the VOD's start time and time zone).")
        if not self.messages:
            if self._negative:
                why = f"all {self._negative} messages have negative offsets (sent before the VOD started)"
            elif self._ignored:
                why = f"its {self._ignored} {self.unit}s are notices, not chat messages"
            else:
                why = "it is empty"
            raise ChatFormatError(
                f"the chat log has no messages: {why}", path=self.source, expected=self.expected
            )
        warnings = list(self.warnings)
        if self._first_bad is not None:
            position, reason = self._first_bad
            warnings.append(
                f"skipped {self._bad} malformed {self.unit}s (first: {self.unit} {position}: {reason})"
            )
        if self._first_ignored is not None:
            position, reason = self._first_ignored
            warnings.append(
                f"ignored {self._ignored} {self.unit}s that are not chat messages"
                f" (first: {self.unit} {position}: {reason})"
            )
        if self._negative:
            warnings.append(
                f"dropped {self._negative} messages with negative offsets (sent before the VOD started)"
            )
        if self._truncated:
            warnings.append(f"truncated {self._truncated} messages longer than {MAX_TEXT_CHARS} characters")
        messages = self.messages
        if not _is_sorted(messages):
            messages = sorted(messages, key=_offset_of)
            warnings.append("messages were not in time order; sorted them by offset")
        if self.rebase and messages[0].offset_s < 0.0:
            shift = -messages[0].offset_s
            messages = [ChatMessage(m.offset_s + shift, m.text, m.author, m.emotes) for m in messages]
            warnings.append(f"the first line is not the earliest message: offsets count from the earliest one, "
                            f"{shift:.0f} s before the first line")
        return ChatLog(
            source=self.source, format=self.format, messages=tuple(messages), warnings=tuple(warnings)
        )


def _offset_of(message: ChatMessage) -> float:
    return message.offset_s


def _is_sorted(messages: list[ChatMessage]) -> bool:
    previous = -1.0
    for message in messages:
        if message.offset_s < previous:
            return False
        previous = message.offset_s
    return True

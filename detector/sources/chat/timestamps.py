"""Sources stage, chat logs: turning time stamps into seconds on the VOD timeline.

Consumes clock texts ("1:02:03", "-0:05"), wall-clock times of day (with or without a date) and
UNIX times; produces offsets in seconds since the VOD started.

Wall-clock rules (documented for users in ``detector.sources.chat``):

- Wall-clock times are read in ``vod_start``'s time zone (a naive ``vod_start`` and the log's
  naive times are compared as they are). UNIX times are compared with ``vod_start.timestamp()``;
  a naive ``vod_start`` counts as UTC there.
- A time of day without a date gets the date that puts the *first* message within 12 hours of
  ``vod_start``; every later undated time gets the date that puts it within 12 hours of the message
  before it. So ``23:59:50`` then ``00:00:05`` passed midnight (the next day), while a line that goes
  back an hour or two is an out-of-order line of the same day (sorted later), not a new day: reading
  every backward step of more than an hour as a midnight put a reordered log days apart.
- Without ``vod_start`` the first message's time is offset 0 and a warning says so.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime

from detector.sources.chat.collect import BadRecord

DAY_S = 86400.0


def parse_clock_text(text: str, field: str = "time") -> float:
    """Seconds from "H:MM:SS", "M:SS" or "SS" (optionally negative, optional fraction)."""
    match = _CLOCK.fullmatch(text.strip()) if len(text) <= 40 else None
    if match is None:
        raise BadRecord(f"{field} {text[:40]!r} is not H:MM:SS")
    sign, hours, minutes, seconds = match.groups()
    value = float(seconds)
    if minutes is not None:
        if value >= 60 or (hours is not None and int(minutes) >= 60):
            raise BadRecord(f"{field} {text!r} has minutes or seconds of 60 or more")
        value += 60.0 * int(minutes) + 3600.0 * int(hours or 0)
    return -value if sign else value


_CLOCK = re.compile(r"(-)?(?:(?:(\d{1,4}):)?(\d{1,4}):)?(\d{1,6}(?:\.\d{1,9})?)", re.ASCII)


class WallClock:
    """Converts wall-clock times of one log to VOD offsets (see the module rules)."""

    def __init__(self, vod_start: datetime | None) -> None:
        self.vod_start = vod_start
        self._start_abs: float | None = None
        if vod_start is not None:
            self._start_abs = _absolute(vod_start.replace(tzinfo=None))
        self._day: int | None = None
        self._last_tod: float | None = None
        self.rollovers = 0
        self.first_seen: str | None = None
        """The first time converted, as text, when no vod_start was given (for the warning)."""

    def offset_of_time(self, day: date | None, seconds_of_day: float) -> float:
        """Offset of a time of day (``day`` None when the log gives no date)."""
        if day is not None:
            self._day = day.toordinal()
        elif self._day is None:
            self._day = self._first_day(seconds_of_day)
        elif self._last_tod is not None:
            step = seconds_of_day - self._last_tod  # the nearest day: a step within ±12 h
            if step < -DAY_S / 2:
                self._day += 1
                self.rollovers += 1
            elif step > DAY_S / 2:
                self._day -= 1
                self.rollovers -= 1
        self._last_tod = seconds_of_day
        absolute = self._day * DAY_S + seconds_of_day
        if self._start_abs is None:
            self._start_abs = absolute
            self.first_seen = _clock_text(seconds_of_day, day)
        return absolute - self._start_abs

    def offset_of_unix(self, unix_s: float) -> float:
        """Offset of a UNIX time in seconds."""
        if not math.isfinite(unix_s):
            raise BadRecord(f"timestamp {unix_s!r} is not finite")
        if self.vod_start is None:
            if self._start_abs is None:
                self._start_abs = unix_s
                self.first_seen = f"UNIX time {unix_s:.3f}"
            return unix_s - self._start_abs
        start = self.vod_start
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        return unix_s - start.timestamp()

    def warnings(self) -> list[str]:
        """What the conversion assumed, for ``ChatLog.warnings``."""
        out = []
        if self.first_seen is not None and self.vod_start is None:
            out.append(
                "times are wall-clock and no VOD start time was given: offsets count from the first"
                f" message ({self.first_seen}); give the VOD's start time (--vod-start) to align chat with the VOD"
            )
        if self.rollovers > 0:
            out.append(
                f"times passed midnight {self.rollovers} time(s); later lines were read as the next day"
            )
        return out

    def _first_day(self, seconds_of_day: float) -> int:
        if self._start_abs is None:
            return 0
        day = int(self._start_abs // DAY_S)
        candidate = day * DAY_S + seconds_of_day
        if candidate - self._start_abs > DAY_S / 2:
            day -= 1
        elif self._start_abs - candidate > DAY_S / 2:
            day += 1
        return day


def _absolute(moment: datetime) -> float:
    midnight = datetime(moment.year, moment.month, moment.day)
    return moment.toordinal() * DAY_S + (moment - midnight).total_seconds()


def _clock_text(seconds_of_day: float, day: date | None) -> str:
    whole = int(seconds_of_day)
    text = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    return f"{day.isoformat()} {text}" if day is not None else text

"""Sources stage, chat logs: recognising the time stamp and author at the start of a text line.

Consumes one line of a text chat log; produces the pieces the line parsers need: the bracketed
time (``[H:MM:SS]``, ``[HH:MM:SS.fff]``, ``[YYYY-MM-DD HH:MM:SS]``), the plain time
(``H:MM:SS`` / ``MM:SS``) and the author, in any of these forms::

    <user> msg              IRC / Chatty; leading mode characters (@ + % ~ & !) are dropped
    user: msg               TwitchDownloader's text export
    Name (login): msg       a display name with the login in parentheses; the login is kept
    <moderator/1,subscriber/12>user: msg   badges before the name

Only the first :data:`HEAD_SCAN_CHARS` characters of a line are matched, so a 10 MB line costs
no more than a short one.
"""

from __future__ import annotations

import re
from typing import NamedTuple

HEAD_SCAN_CHARS = 512
"""Time stamp plus author must fit in this many characters at the start of a line."""

MODE_CHARS = "@+%~&!"

BRACKET_TIME = re.compile(
    r"\[\s*(?:(\d{4})-(\d{1,2})-(\d{1,2})[ T])?(\d{1,3}):(\d{2}):(\d{2})(?:[.,](\d{1,6}))?\s*\][ \t]*",
    re.ASCII,
)
PLAIN_TIME = re.compile(r"(\d{1,4}):(\d{2})(?::(\d{2}))?(?:[.,](\d{1,6}))?(?:[ \t]+|$)", re.ASCII)

_ANGLE = re.compile(r"<([^<>\s]{0,300})>")
_BADGES = re.compile(r"(?:[\w-]+/[\w-]+(?:,[\w-]+/[\w-]+)*)?")
_COLON_NAME = re.compile(r"([^\s:<>\[\]()]{1,64})(?: \(([^\s:<>\[\]()]{1,64})\))?:(?:[ \t]|$)")


class BracketHead(NamedTuple):
    """A parsed ``[date? time]`` prefix; ``hour_text`` keeps the digits as written."""

    date: tuple[int, int, int] | None
    hour_text: str
    seconds_of_day: float
    end: int


def match_bracket_time(line: str) -> BracketHead | None:
    """The bracketed time at the start of ``line``; None when there is none or it is invalid."""
    m = BRACKET_TIME.match(line, 0, HEAD_SCAN_CHARS)
    if m is None:
        return None
    year, month, day, hours, minutes, seconds, fraction = m.groups()
    if int(minutes) >= 60 or int(seconds) >= 60:
        return None
    value = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    total = value + (float("0." + fraction) if fraction else 0.0)
    date = (int(year), int(month), int(day)) if year else None
    return BracketHead(date, hours, total, m.end())


def match_plain_time(line: str) -> tuple[float, int] | None:
    """``(offset_s, end)`` of an ``H:MM:SS`` or ``MM:SS`` prefix; None when absent or invalid."""
    m = PLAIN_TIME.match(line, 0, HEAD_SCAN_CHARS)
    if m is None:
        return None
    first, second, third, fraction = m.groups()
    if third is None:
        if int(second) >= 60:
            return None
        value = int(first) * 60 + int(second)
    else:
        if int(second) >= 60 or int(third) >= 60 or len(first) > 3:
            return None
        value = int(first) * 3600 + int(second) * 60 + int(third)
    return value + (float("0." + fraction) if fraction else 0.0), m.end()


class Author(NamedTuple):
    """A parsed author; ``irc_style`` is True for the ``<user>`` form (no badges)."""

    name: str
    text_start: int
    irc_style: bool


def match_author(line: str, start: int) -> Author | None:
    """The author at ``start`` in any of the forms in the module docstring; None when absent."""
    stop = min(len(line), start + HEAD_SCAN_CHARS)
    angle = _ANGLE.match(line, start, stop)
    if angle is not None:
        inside, after = angle.group(1), angle.end()
        if _BADGES.fullmatch(inside):
            named = _COLON_NAME.match(line, after, stop)
            return Author(named.group(2) or named.group(1), named.end(), False) if named is not None else None
        name = inside.lstrip(MODE_CHARS)[:64]
        if not name:
            return None
        return Author(name, after + 1 if line[after : after + 1] in (" ", "\t") else after, True)
    named = _COLON_NAME.match(line, start, stop)
    if named is not None:
        return Author(named.group(2) or named.group(1), named.end(), False)
    return None

"""Sources stage, chat logs: line-based text logs (IRC/Chatty, bracket text, plain lines).

Consumes decoded text; produces a ``ChatLog`` in one of three formats:

- ``irc-log``: ``[HH:MM:SS] <user> msg`` or ``[YYYY-MM-DD HH:MM:SS] <user> msg`` with WALL-CLOCK
  times, converted to offsets with ``vod_start`` (see ``timestamps.WallClock``);
- ``bracket-text``: ``[H:MM:SS] user: msg`` with times that are already VOD offsets
  (TwitchDownloader's text export), badges allowed (``<moderator/1>user: msg``);
- ``plain-text``: ``H:MM:SS msg`` or ``MM:SS msg``, offsets, no author.

Wall clock or offsets? Both bracketed styles look alike, so the time stamps decide, in order:

1. a date in any time stamp → wall clock (``irc-log``);
2. an hour written with one digit (``[0:01:23]``) or above 23 → offsets (``bracket-text``):
   clocks pad hours to two digits, offset exports do not;
3. an hour written with a leading zero (``[09:05:00]``) → wall clock;
4. otherwise (every hour is 10–23): wall clock when ``vod_start`` is given or most lines name
   their author IRC-style (``<user>``, as Chatty writes), else offsets (as TwitchDownloader's
   ``user:`` text export writes), with a warning that the times might be wall clock.

Either author style is accepted with either kind of time. Blank lines and
lines starting with ``#`` (Chatty's "# Log started" headers) are skipped silently; timed lines
without an author (joins, notices) are ignored with a warning; other lines are malformed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

from detector.errors import ChatFormatError
from detector.records import ChatLog
from detector.sources.chat import formats as F
from detector.sources.chat.collect import MAX_MESSAGES, MAX_TEXT_CHARS, BadRecord, MessageCollector
from detector.sources.chat.line_heads import (
    Author,
    BracketHead,
    match_author,
    match_bracket_time,
    match_plain_time,
)
from detector.sources.chat.lines import iter_lines
from detector.sources.chat.timestamps import DAY_S, WallClock

SNIFF_LINES = 200
"""How many content lines decide between bracketed and plain lines."""


def looks_like_bracket_line(line: str) -> bool:
    """True when ``line`` starts with a bracketed time (used to tell text from a JSON list)."""
    return match_bracket_time(line.strip()) is not None


def parse_text_log(text: str, name: str, vod_start: datetime | None) -> ChatLog:
    """Parses a line-based log; raises ChatFormatError when no line format fits.

    Lines end with CR LF, LF or a lone CR (``lines.iter_lines``). The text is read lazily, twice for
    bracketed logs (once to decide wall clock or offsets, once to convert), so memory holds the
    messages, never a list of every line."""
    bracketed = plain = 0
    first_content: int | None = None
    for seen, (number, line) in enumerate(_content_lines(text), 1):
        if first_content is None:
            first_content = number
        if match_bracket_time(line) is not None:
            bracketed += 1
        elif match_plain_time(line) is not None:
            plain += 1
        if seen >= SNIFF_LINES:
            break
    if first_content is None:
        raise ChatFormatError("the chat log has no messages: it has only blank or # comment lines", path=name)
    if bracketed == plain == 0:
        raise ChatFormatError(
            "unrecognised chat log format: no line starts with a time stamp",
            path=name,
            line=first_content,
            expected=F.ANY_FORMAT,
        )
    if plain > bracketed:
        return _parse_plain(text, name)
    return _parse_bracketed(text, name, vod_start)


def _content_lines(text: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(iter_lines(text), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def _text_after(line: str, start: int) -> str:
    return line[start : start + MAX_TEXT_CHARS + 1].rstrip()


def _parse_plain(text: str, name: str) -> ChatLog:
    collector = MessageCollector(name, F.PLAIN_TEXT, F.FORMATS[F.PLAIN_TEXT])
    for number, line in _content_lines(text):
        head = match_plain_time(line)
        if head is None:
            collector.reject(number, 'expected "H:MM:SS msg" or "MM:SS msg"')
            continue
        offset, end = head
        collector.add(offset, _text_after(line, end))
    return collector.finish()


class _TimeKinds:
    """What the first pass over a bracketed log learns to decide wall clock or offsets (no line kept)."""

    def __init__(self) -> None:
        self.heads = 0
        self.irc_names = 0
        self.dated = self.offset_hours = self.zero_hours = False

    def see(self, head: BracketHead, author: Author | None) -> None:
        self.heads += 1
        self.irc_names += author is not None and author.irc_style
        self.dated = self.dated or head.date is not None
        self.offset_hours = self.offset_hours or len(head.hour_text) == 1 or int(head.hour_text) > 23
        self.zero_hours = self.zero_hours or head.hour_text.startswith("0")

    def wall_clock(self, vod_start: datetime | None) -> bool | None:
        """The rule in the module docstring: True, False, or None for "offsets, but they might be wall clock"."""
        if self.dated:
            return True
        if self.offset_hours:
            return False
        if self.zero_hours:
            return True
        if vod_start is not None or self.irc_names * 2 > self.heads:
            return True
        return None


def _parse_bracketed(text: str, name: str, vod_start: datetime | None) -> ChatLog:
    kinds = _TimeKinds()
    for _number, line in _content_lines(text):
        head = match_bracket_time(line)
        if head is not None:
            kinds.see(head, match_author(line, head.end))
            if kinds.heads > MAX_MESSAGES:  # refuse before a second pass over millions of lines
                raise ChatFormatError(f"the chat log has more than {MAX_MESSAGES:,} messages, more than the "
                                      "detector reads from one VOD", path=name,
                                      hint="Pass the chat of one VOD only, or cut the log into parts.")
    wall = kinds.wall_clock(vod_start)
    fmt = F.IRC_LOG if wall else F.BRACKET_TEXT
    # Without vod_start the first line is offset 0 only by assumption: keep what lies before it (rebase).
    collector = MessageCollector(name, fmt, F.FORMATS[fmt], rebase=bool(wall) and vod_start is None)
    if wall is None:
        collector.warn(
            "read the [HH:MM:SS] times as offsets from the VOD start; if they are wall-clock times,"
            " give the VOD's start time (--vod-start)"
        )
    clock = WallClock(vod_start)
    for number, line in _content_lines(text):
        head = match_bracket_time(line)
        if head is None:
            collector.reject(number, 'expected "[H:MM:SS] user: msg" or "[HH:MM:SS] <user> msg"')
            continue
        author = match_author(line, head.end)
        if author is None:
            collector.ignore(number, "a timed line without an author")
            continue
        try:
            offset = _wall_offset(clock, head) if wall else head.seconds_of_day
            collector.add(offset, _text_after(line, author.text_start), author.name)
        except BadRecord as exc:
            collector.reject(number, str(exc))
    for warning in clock.warnings():
        collector.warn(warning)
    return collector.finish()


def _wall_offset(clock: WallClock, head: BracketHead) -> float:
    if head.seconds_of_day >= DAY_S:
        raise BadRecord(f"hour {head.hour_text} is not a time of day")
    day = None
    if head.date is not None:
        try:
            day = date(*head.date)
        except ValueError:
            raise BadRecord(
                f"{head.date[0]:04d}-{head.date[1]:02d}-{head.date[2]:02d} is not a date"
            ) from None
    return clock.offset_of_time(day, head.seconds_of_day)

"""Sources stage, chat logs: JSON documents and JSON Lines files.

Consumes decoded text that starts with ``{`` or ``[``; produces a ``ChatLog``:

- a JSON object with a ``"comments"`` list → ``twitchdownloader-json``;
- a JSON list of chat-downloader items → ``chat-downloader-json`` (a bare list of TwitchDownloader
  comments is read as ``twitchdownloader-json``, a list of ``{"offset", ...}`` objects as ``jsonl``);
- one JSON object per line → ``jsonl`` (``{"offset", "message", "author"}`` lines) or
  ``chat-downloader-jsonl`` (chat-downloader items, as its ``--json_lines`` option writes them).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from detector.errors import ChatFormatError
from detector.records import ChatLog
from detector.sources.chat import formats as F
from detector.sources.chat.collect import BadRecord, MessageCollector
from detector.sources.chat.json_records import (
    CHAT_DOWNLOADER,
    SIMPLE,
    TWITCHDOWNLOADER,
    reader_for,
    record_style,
    type_name,
)
from detector.sources.chat.lines import split_lines
from detector.sources.chat.timestamps import WallClock

MAX_JSON_VALUES = 8_000_000
"""A JSON chat log with more values than this (counted as ``,`` and ``:`` separators, an upper bound) is
refused before parsing: Python holds each value as an object of ~60 bytes or more, so a crafted
``[{},{},…]`` or ``[1.5,1.5,…]`` of 100 MiB would need gigabytes. Real logs have 30–60 values a message."""
_JSONL_PROBE_LINES = 5
"""JSON Lines is recognised when one of the first few non-blank lines is a JSON object."""

_DOC_FORMAT = {TWITCHDOWNLOADER: F.TWITCHDOWNLOADER_JSON, CHAT_DOWNLOADER: F.CHAT_DOWNLOADER_JSON}
_LINES_FORMAT = {
    SIMPLE: F.JSONL,
    CHAT_DOWNLOADER: F.CHAT_DOWNLOADER_JSONL,
    TWITCHDOWNLOADER: F.TWITCHDOWNLOADER_JSON,
}


def parse_json_log(text: str, name: str, vod_start: datetime | None) -> ChatLog:
    """Parses a JSON document or a JSON Lines file (see the module docstring)."""
    values = text.count(",") + text.count(":")
    if values > MAX_JSON_VALUES:
        raise ChatFormatError(
            f"the JSON holds about {values:,} values, more than the {MAX_JSON_VALUES:,} a chat log of one VOD needs",
            path=name, hint="Pass the chat of one VOD only, or cut the log into parts.")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = split_lines(text)
        if exc.msg == "Extra data" or _looks_like_json_lines(lines):
            return parse_json_lines(lines, name, vod_start)
        raise ChatFormatError(
            f"not valid JSON: {exc.msg} (column {exc.colno})",
            path=name,
            line=exc.lineno,
            expected="a JSON chat log: " + F.ANY_FORMAT,
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ChatFormatError(
            f"JSON that cannot be read: {str(exc)[:200] or type(exc).__name__}",
            path=name,
            expected="a JSON chat log: " + F.ANY_FORMAT,
        ) from None
    return parse_json_document(doc, name, vod_start)


def parse_json_document(doc: Any, name: str, vod_start: datetime | None) -> ChatLog:
    """Reads an already-decoded JSON value as a chat log."""
    if isinstance(doc, dict):
        if "comments" in doc:
            comments = doc["comments"]
            if not isinstance(comments, list):
                raise ChatFormatError(
                    f'"comments" is {type_name(comments)}, not a list',
                    path=name,
                    expected=F.FORMATS[F.TWITCHDOWNLOADER_JSON],
                )
            return _collect(comments, TWITCHDOWNLOADER, F.TWITCHDOWNLOADER_JSON, name, vod_start, "comments")
        style = record_style(doc)
        if style is not None:
            return _collect([doc], style, _LINES_FORMAT[style], name, vod_start, "")
        keys = ", ".join(repr(k) for k in list(doc)[:5]) or "no keys"
        raise ChatFormatError(
            f'a JSON object without a "comments" list (it has {keys})',
            path=name,
            expected=F.FORMATS[F.TWITCHDOWNLOADER_JSON],
        )
    if isinstance(doc, list):
        style = next((s for s in map(record_style, doc[:1000]) if s is not None), None)
        if style is None:
            if not doc:
                raise ChatFormatError("the chat log has no messages: the JSON list is empty", path=name)
            raise ChatFormatError(
                "a JSON list whose items are not chat messages (no item has a time field)",
                path=name,
                expected=F.FORMATS[F.CHAT_DOWNLOADER_JSON],
            )
        fmt = _DOC_FORMAT.get(style, F.JSONL)
        return _collect(doc, style, fmt, name, vod_start, "")
    raise ChatFormatError(
        f"the JSON document is {type_name(doc)}, not a chat log", path=name, expected=F.ANY_FORMAT
    )


def parse_json_lines(lines: list[str], name: str, vod_start: datetime | None) -> ChatLog:
    """Reads one JSON object per line; the first object with a time field picks the style."""
    loads = json.loads
    style: str | None = None
    for line in lines[:1000]:
        try:
            style = record_style(loads(line)) if line.strip() else None
        except (ValueError, RecursionError):
            style = None
        if style is not None:
            break
    if style is None:
        raise ChatFormatError(
            "JSON Lines without a chat message: no line has an offset or time field",
            path=name,
            line=1,
            expected=F.FORMATS[F.JSONL],
        )
    fmt = _LINES_FORMAT[style]
    clock = WallClock(vod_start)
    read = reader_for(style, clock)
    collector = MessageCollector(name, fmt, F.FORMATS[fmt], unit="line")
    add = collector.add
    for number, line in enumerate(lines, 1):
        if not line or line.isspace():
            continue
        try:
            parsed = read(loads(line))
            if parsed is None:
                collector.ignore(number, "an item without a message")
                continue
            add(*parsed)
        except BadRecord as exc:
            collector.reject(number, str(exc))
        except (ValueError, RecursionError):
            collector.reject(number, "not a valid JSON value")
    for warning in clock.warnings():
        collector.warn(warning)
    return collector.finish()


def _looks_like_json_lines(lines: list[str]) -> bool:
    probed = 0
    for line in lines:
        if not line.strip():
            continue
        probed += 1
        try:
            if isinstance(json.loads(line), dict):
                return True
        except (ValueError, RecursionError):
            pass
        if probed >= _JSONL_PROBE_LINES:
            break
    return False


def _collect(
    items: list[Any], style: str, fmt: str, name: str, vod_start: datetime | None, field: str
) -> ChatLog:
    clock = WallClock(vod_start)
    read = reader_for(style, clock)
    collector = MessageCollector(name, fmt, F.FORMATS[fmt], unit="record")
    for index, item in enumerate(items):
        where = f"{field}[{index}]" if field else f"item {index}"
        try:
            parsed = read(item)
            if parsed is None:
                collector.ignore(index + 1, f"{where} has no message")
                continue
            collector.add(*parsed)
        except BadRecord as exc:
            collector.reject(index + 1, f"{where}: {exc}")
    for warning in clock.warnings():
        collector.warn(warning)
    return collector.finish()

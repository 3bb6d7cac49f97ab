"""Sources stage, chat logs: reading one JSON chat record in each of the JSON record styles.

Consumes one decoded JSON value (a TwitchDownloader comment, a chat-downloader message item, or a
``{"offset", "message", "author"}`` line object); produces ``(offset_s, text, author, emotes)``,
``None`` for a well-formed item that is not a chat message, or raises :class:`BadRecord`.

Shape rules: a field that is present with the wrong type (a number where text belongs, a string
offset, a non-object message) makes the record malformed; a missing or null optional field
(author, emotes) is simply absent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from detector.sources.chat.collect import MAX_EMOTES, BadRecord, clean_name
from detector.sources.chat.timestamps import WallClock, parse_clock_text

Parsed = tuple[float, str, "str | None", tuple[str, ...]]
RecordReader = Callable[[Any], "Parsed | None"]

TWITCHDOWNLOADER = "twitchdownloader"
CHAT_DOWNLOADER = "chat-downloader"
SIMPLE = "simple"

_CHAT_DOWNLOADER_KEYS = ("time_in_seconds", "time_text", "timestamp")


def record_style(obj: Any) -> str | None:
    """Which record style a JSON object uses, judged by its time key; None when none fits."""
    if not isinstance(obj, dict):
        return None
    if "content_offset_seconds" in obj:
        return TWITCHDOWNLOADER
    if "offset" in obj:
        return SIMPLE
    if any(key in obj for key in _CHAT_DOWNLOADER_KEYS):
        return CHAT_DOWNLOADER
    return None


def reader_for(style: str, clock: WallClock) -> RecordReader:
    """The record reader of a style; ``clock`` converts chat-downloader's UNIX timestamps."""
    if style == TWITCHDOWNLOADER:
        return read_twitchdownloader_comment
    if style == SIMPLE:
        return read_simple_record
    return lambda obj: read_chat_downloader_item(obj, clock)


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def number(value: Any, field: str) -> float:
    """A finite float from a JSON number (never a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRecord(f'"{field}" must be a number, not {type_name(value)}')
    try:
        result = float(value)
    except OverflowError:
        raise BadRecord(f'"{field}" is out of range') from None
    if not math.isfinite(result):
        raise BadRecord(f'"{field}" is not a finite number')
    return result


def text_of(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise BadRecord(f'"{field}" must be a string, not {type_name(value)}')
    return value


def optional_name(obj: dict[str, Any], *fields: str) -> str | None:
    """The first non-empty string among ``fields`` of ``obj``; a non-string value is malformed."""
    for field in fields:
        value = obj.get(field)
        if value is None:
            continue
        name = clean_name(text_of(value, field))
        if name:
            return name
    return None


def read_simple_record(obj: Any) -> Parsed:
    """``{"offset": s, "message": text, "author": name or null, "emotes": [names]?}``."""
    if not isinstance(obj, dict):
        raise BadRecord(f"a record must be a JSON object, not {type_name(obj)}")
    offset = number(obj.get("offset"), "offset")
    text = text_of(obj.get("message"), "message")
    author = optional_name(obj, "author")
    emotes: tuple[str, ...] = ()
    raw = obj.get("emotes")
    if raw is not None:
        if not isinstance(raw, list):
            raise BadRecord(f'"emotes" must be a list, not {type_name(raw)}')
        emotes = tuple(
            name for name in (clean_name(text_of(e, "emotes[]")) for e in raw[:MAX_EMOTES]) if name
        )
    return offset, text, author, emotes


def read_twitchdownloader_comment(obj: Any) -> Parsed:
    """One TwitchDownloader comment; emotes are fragments whose ``emoticon`` is an object."""
    if not isinstance(obj, dict):
        raise BadRecord(f"a comment must be a JSON object, not {type_name(obj)}")
    offset = number(obj.get("content_offset_seconds"), "content_offset_seconds")
    message = obj.get("message")
    if not isinstance(message, dict):
        raise BadRecord(f'"message" must be an object, not {type_name(message)}')
    fragments = message.get("fragments")
    body = message.get("body")
    if body is None and fragments is None:
        raise BadRecord('"message" has neither "body" nor "fragments"')
    emotes: list[str] = []
    parts: list[str] = []
    if fragments is not None:
        if not isinstance(fragments, list):
            raise BadRecord(f'"message.fragments" must be a list, not {type_name(fragments)}')
        for fragment in fragments:
            if not isinstance(fragment, dict):
                raise BadRecord(f"a fragment must be an object, not {type_name(fragment)}")
            piece = text_of(fragment.get("text"), "fragments[].text")
            if body is None:
                parts.append(piece)
            if isinstance(fragment.get("emoticon"), dict) and len(emotes) < MAX_EMOTES:
                name = clean_name(piece)
                if name:
                    emotes.append(name)
    text = text_of(body, "message.body") if body is not None else "".join(parts)
    commenter = obj.get("commenter")
    author = None
    if commenter is not None:
        if not isinstance(commenter, dict):
            raise BadRecord(f'"commenter" must be an object, not {type_name(commenter)}')
        author = optional_name(commenter, "name", "login", "display_name")
    return offset, text, author, tuple(emotes)


def read_chat_downloader_item(obj: Any, clock: WallClock) -> Parsed | None:
    """One chat-downloader item; offset from time_in_seconds, else time_text, else timestamp (µs).

    Items without a message (subscriptions, bans, ...) are not chat messages: returns None.
    """
    if not isinstance(obj, dict):
        raise BadRecord(f"an item must be a JSON object, not {type_name(obj)}")
    if obj.get("time_in_seconds") is not None:
        offset = number(obj["time_in_seconds"], "time_in_seconds")
    elif obj.get("time_text") is not None:
        offset = parse_clock_text(text_of(obj["time_text"], "time_text"), "time_text")
    elif obj.get("timestamp") is not None:
        offset = clock.offset_of_unix(number(obj["timestamp"], "timestamp") / 1e6)
    else:
        raise BadRecord('item has no "time_in_seconds", "time_text" or "timestamp"')
    message = obj.get("message")
    if message is None:
        return None
    text = text_of(message, "message")
    author: str | None = None
    raw_author = obj.get("author")
    if isinstance(raw_author, dict):
        author = optional_name(raw_author, "name", "display_name")
    elif raw_author is not None:
        author = clean_name(text_of(raw_author, "author"))
    emotes: list[str] = []
    raw = obj.get("emotes")
    if raw is not None:
        if not isinstance(raw, list):
            raise BadRecord(f'"emotes" must be a list, not {type_name(raw)}')
        for emote in raw[:MAX_EMOTES]:
            if not isinstance(emote, dict):
                raise BadRecord(f"an emote must be an object, not {type_name(emote)}")
            name = optional_name(emote, "name")
            if name:
                emotes.append(name)
    return offset, text, author, tuple(emotes)

"""Sources stage, chat logs: the entry points that read a chat log file or its bytes.

Consumes a path (or bytes) and an optional ``vod_start``; produces a ``ChatLog`` whose format is
detected from the content, never from the file name: gzip is inflated first, then text starting
with ``{`` or ``[`` is JSON (or JSON Lines), unless a ``[`` opens a bracketed time stamp (or the
text is not JSON but reads as a text log), and anything else is a line-based text log. Every failure is a :class:`ChatFormatError`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import datetime
from pathlib import Path

from detector.errors import ChatFormatError
from detector.records import ChatLog
from detector.sources.chat.decode import decode_text, inflate_if_gzip, read_capped
from detector.sources.chat.json_logs import parse_json_log
from detector.sources.chat.text_logs import looks_like_bracket_line, parse_text_log
from detector.sources.chat.utc_text import looks_like_utc_text, parse_utc_text
from detector.sources.input_files import describe, file_problem

log = logging.getLogger(__name__)

_FIRST_VISIBLE = re.compile(r"\S")


def load_chat(path: str | Path, *, vod_start: datetime | None = None) -> ChatLog:
    """Reads and parses the chat log at ``path``.

    ``vod_start`` is when the VOD began; it is needed only for logs with wall-clock times (IRC,
    Chatty, chat-downloader items with only a UNIX ``timestamp``).
    """
    file = Path(path)
    name = describe(path)
    problem = file_problem(file)  # a FIFO would block read_bytes forever; a device would never end
    if problem is not None:
        if problem.code == "missing":
            raise ChatFormatError("chat log file not found", path=name, hint="Check the path.")
        if problem.code == "directory":
            raise ChatFormatError("is a directory, not a chat log file", path=name, hint="Pass the log file itself.")
        raise ChatFormatError(f"the chat log {problem.text}", path=name, hint=problem.hint)
    held: list[bytes] = []
    try:
        held.append(read_capped(file, name))
    except FileNotFoundError:
        raise ChatFormatError("chat log file not found", path=name, hint="Check the path.") from None
    except OSError as exc:
        raise ChatFormatError(f"cannot read the chat log ({exc.strerror or exc})", path=name) from None
    return _parse_held(held, name, vod_start)


def parse_chat_bytes(data: bytes, *, name: str = "<chat>", vod_start: datetime | None = None) -> ChatLog:
    """Parses the bytes of a chat log; ``name`` appears in errors and as ``ChatLog.source``."""
    return _parse_held([bytes(data)], name, vod_start)


def _parse_held(held: list[bytes], name: str, vod_start: datetime | None) -> ChatLog:
    """Parses the bytes in ``held`` (taken out of it, so they are freed once decoded to text)."""
    raw = inflate_if_gzip(held.pop(), name)
    text, warnings = decode_text(raw, name)
    del raw
    first = _FIRST_VISIBLE.search(text)
    if first is None:
        raise ChatFormatError("the chat log has no messages: the file is empty or blank", path=name)
    opener = text[first.start()]
    if looks_like_utc_text(_line_at(text, first.start())):  # TwitchDownloader's text export with UTC times
        chat = parse_utc_text(text, name, vod_start)
    elif opener == "{" or (opener == "[" and not looks_like_bracket_line(_line_at(text, first.start()))):
        try:
            chat = parse_json_log(text, name, vod_start)
        except ChatFormatError as json_error:
            if opener != "[":
                raise
            try:  # a text log whose first line is not a message, e.g. "[Log started]"
                chat = parse_text_log(text, name, vod_start)
            except ChatFormatError:
                raise json_error from None
    else:
        chat = parse_text_log(text, name, vod_start)
    if warnings:
        chat = dataclasses.replace(chat, warnings=tuple(warnings) + chat.warnings)
    log.info(
        "read chat log %s: %s, %d messages, %d warnings",
        name,
        chat.format,
        len(chat.messages),
        len(chat.warnings),
    )
    for warning in chat.warnings:
        log.debug("chat log %s: %s", name, warning)
    return chat


def _line_at(text: str, start: int) -> str:
    end = text.find("\n", start, start + 4096)
    return text[start : end if end >= 0 else start + 4096]

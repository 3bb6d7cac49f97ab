"""Sources stage, chat logs: TwitchDownloader's text export with UTC times, and where a VOD started.

TwitchDownloader's ``ChatText.SerializeAsync`` writes one line per comment, ``[yyyy-MM-dd HH:mm:ss UTC]
name: message`` (its ``Utc`` time format) or ``[yyyy-MM-dd HH:mm:ss.fff UTC] name: message``
(``UtcFull``): the time is when the comment was sent, not its offset in the VOD. ``parse_utc_text``
turns those times into VOD offsets by subtracting ``vod_start`` (a time without a zone is read as
UTC); without it the first message counts as the VOD's start, with a warning that says to pass
``--vod-start``. ``read_vod_start`` reads ``--vod-start``: an ISO 8601 time, or a JSON file of the
same VOD that names its start — TwitchDownloader's chat JSON (``video.created_at``), ``highlights
twitch info --json`` (``created_at``) or a yt-dlp info JSON (``timestamp``). Line endings may be
LF, CRLF or CR; a line that does not fit is malformed (a few are skipped with a warning).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from detector.errors import ConfigError
from detector.records import ChatLog
from detector.sources.chat.collect import BadRecord, MessageCollector, clean_name
from detector.sources.chat.formats import FORMATS, TWITCHDOWNLOADER_UTC_TEXT

FORMAT = TWITCHDOWNLOADER_UTC_TEXT
EXPECTED = FORMATS[FORMAT]
_LINE = re.compile(r"\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,7})?) UTC\] ([^:\r\n]+?): ?(.*)")
_BREAKS = re.compile(r"\r\n|\r|\n")


def looks_like_utc_text(line: str) -> bool:
    """True when ``line`` (a log's first line) is a line of this export."""
    return _LINE.fullmatch(line.strip()) is not None


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC without a zone (a naive time is taken as UTC already)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def parse_utc_text(text: str, name: str, vod_start: datetime | None) -> ChatLog:
    """Parses the export; offsets are seconds since ``vod_start`` (see the module docstring)."""
    collector = MessageCollector(name, FORMAT, EXPECTED)
    start = _utc(vod_start) if vod_start is not None else None
    guessed = start is None
    for number, line in enumerate(_BREAKS.split(text), 1):
        line = line.strip()
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            collector.reject(number, f"not a '[YYYY-MM-DD HH:MM:SS UTC] name: message' line: {line[:60]!r}")
            continue
        try:
            sent = datetime.fromisoformat(match[1])
        except ValueError:
            collector.reject(number, f"bad time {match[1]!r}")
            continue
        if start is None:
            start = sent
        try:
            collector.add((sent - start).total_seconds(), match[3], clean_name(match[2]))
        except BadRecord as exc:
            collector.reject(number, str(exc))
    if guessed and start is not None:
        collector.warn(f"no VOD start given: offsets count from the first message ({start:%Y-%m-%d %H:%M:%S} UTC); "
                       "pass --vod-start with the VOD's start time or its JSON file")
    return collector.finish()


def read_vod_start(value: str) -> datetime:
    """``--vod-start``: an ISO 8601 time, or a JSON file naming the VOD's start; ``ConfigError`` otherwise."""
    text = value.strip()
    path = Path(text)
    if text.lower().endswith(".json") or path.is_file():
        return _start_in_json(path)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ConfigError(f"--vod-start {value!r} is neither an ISO 8601 time nor a JSON file.",
                          hint="Example: --vod-start 2019-10-12T14:00:00Z, or --vod-start chat.json "
                               "(TwitchDownloader's JSON of the same VOD).") from None


def _start_in_json(path: Path) -> datetime:
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"--vod-start {path}: no such file.", hint="Give the VOD's JSON file or its start time.") \
            from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--vod-start {path}: not a readable JSON file ({exc}).") from None
    found: object = None
    if isinstance(doc, dict):
        video = doc.get("video")
        found = (video.get("created_at") if isinstance(video, dict) else None) or doc.get("created_at") \
            or doc.get("createdAt") or doc.get("timestamp")
    if isinstance(found, (int, float)) and not isinstance(found, bool):
        return datetime.fromtimestamp(float(found), UTC)
    if isinstance(found, str):
        try:
            return datetime.fromisoformat(found.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise ConfigError(f"--vod-start {path}: the JSON names no VOD start (video.created_at, created_at or timestamp).",
                      hint="Give TwitchDownloader's chat JSON of the VOD, or the start time itself.")

"""Sources stage, chat logs: the names and descriptions of the chat log formats we read.

``FORMATS`` maps each format name (the value of ``ChatLog.format``) to a one-line description of
what such a file looks like; error messages quote the description as what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

TWITCHDOWNLOADER_JSON = "twitchdownloader-json"
CHAT_DOWNLOADER_JSON = "chat-downloader-json"
CHAT_DOWNLOADER_JSONL = "chat-downloader-jsonl"
JSONL = "jsonl"
IRC_LOG = "irc-log"
BRACKET_TEXT = "bracket-text"
PLAIN_TEXT = "plain-text"
TWITCHDOWNLOADER_UTC_TEXT = "twitchdownloader-utc-text"

FORMATS: Mapping[str, str] = MappingProxyType(
    {
        TWITCHDOWNLOADER_JSON: 'TwitchDownloader JSON: {"comments": [{"content_offset_seconds": s, '
        '"commenter": {"name": ...}, "message": {"body": text, "fragments": [...]}}]}',
        CHAT_DOWNLOADER_JSON: 'chat-downloader JSON: a list of {"time_in_seconds": s (or "time_text": '
        '"H:MM:SS"), "message": text, "author": {"name": ...}}',
        CHAT_DOWNLOADER_JSONL: "chat-downloader JSON Lines: one chat-downloader message object per line",
        JSONL: 'JSON Lines: one {"offset": s, "message": text, "author": name or null} per line',
        IRC_LOG: 'IRC/Chatty log with wall-clock times: "[HH:MM:SS] <user> msg" or '
        '"[YYYY-MM-DD HH:MM:SS] <user> msg"',
        BRACKET_TEXT: 'text with VOD offsets: "[H:MM:SS] user: msg" or "[H:MM:SS] <badge/1>user: msg"',
        PLAIN_TEXT: '"H:MM:SS msg" or "MM:SS msg" lines (VOD offsets, no author)',
        TWITCHDOWNLOADER_UTC_TEXT: 'TwitchDownloader text with UTC times: "[2024-05-01 12:00:05 UTC] name: msg" '
        "(offsets from --vod-start)",
    }
)

ANY_FORMAT = (
    "one of: TwitchDownloader JSON, chat-downloader JSON, JSON Lines with offsets, "
    '"[H:MM:SS] user: msg" text, "[HH:MM:SS] <user> msg" IRC logs, or "H:MM:SS msg" lines'
)
"""What an unrecognised file was expected to be."""

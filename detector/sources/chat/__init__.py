"""Sources stage: chat logs in, ``ChatLog`` (messages with VOD offsets) out.

``load_chat(path)`` and ``parse_chat_bytes(data)`` detect the format from the content (gzip is
read transparently) and return a ``ChatLog`` sorted by offset. ``FORMATS`` maps each format name
(``ChatLog.format``) to a description:

- ``twitchdownloader-json``: TwitchDownloader's JSON (emotes from its fragments);
- ``chat-downloader-json`` / ``chat-downloader-jsonl``: xenova/chat-downloader items;
- ``jsonl``: one ``{"offset", "message", "author"}`` object per line;
- ``irc-log``: IRC/Chatty logs with wall-clock times (converted with ``vod_start``);
- ``bracket-text``: ``[H:MM:SS] user: msg`` with VOD offsets (TwitchDownloader's text export);
- ``plain-text``: ``H:MM:SS msg`` lines;
- ``twitchdownloader-utc-text``: ``[YYYY-MM-DD HH:MM:SS UTC] name: msg`` (TwitchDownloader's text export
  with UTC times, converted with ``vod_start``; ``utc_text.read_vod_start`` reads ``--vod-start``).

How ``[..:..:..]`` times are told apart (wall clock or offsets) is documented in
``detector.sources.chat.text_logs``. Anything unreadable raises ``ChatFormatError``; small
problems (a few bad lines, negative or unordered offsets, bad bytes) become ``ChatLog.warnings``.
"""

from __future__ import annotations

from detector.sources.chat.formats import FORMATS
from detector.sources.chat.load import load_chat, parse_chat_bytes

__all__ = ["FORMATS", "load_chat", "parse_chat_bytes"]

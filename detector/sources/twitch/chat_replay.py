"""Sources stage, Twitch ingestion: a VOD's whole chat replay → a TwitchDownloader JSON file.

Consumes a VOD id (and its ``VodMeta`` when the caller already has it); pages through Twitch's
``VideoCommentsByOffsetOrCursor`` (offset 0 first, then each page's last cursor until
``hasNextPage`` is false) through ``GqlClient`` (retries, 429 backoff; the chat client id, since
Twitch refuses cursor pages to the web player's id); produces one file in
TwitchDownloader's JSON format (``FileInfo``, ``streamer``, ``video``, ``comments`` with commenter
display names and logins, message body, fragments with emoticons, user badges and colour), so people
can reuse it and ``detector.sources.chat.load_chat`` reads it back. A page whose next cursor was
already seen (Twitch sometimes answers the same page again) is asked for again with backoff; after
the last try the download fails with a clear ``DownloadError``. Comments are streamed to a hidden
temporary file beside the destination and renamed into place only when complete, so a failed or
cancelled download never leaves a file under the final name. Progress is the VOD offset reached
(s) of the VOD's length; ``abort`` is polled before each page and during waits. When Twitch refuses
a page (GQL ``errors`` such as "failed integrity check") the download ends in ``ChatRefused``, with
Twitch's reason; an outage that outlasts the retries ends in a (retryable) ``DownloadError``.

A chat file the user supplies instead (TwitchDownloader JSON, chat-downloader, IRC logs, ...) does
not pass through here: it goes to ``detector.sources.chat.load_chat(path)`` untouched.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detector.records import AbortCheck, ProgressCallback
from detector.sources.twitch.errors import DownloadError
from detector.sources.twitch.gql import CommentPage, GqlClient, VodMeta
from detector.sources.twitch.transport import check_abort, pause

log = logging.getLogger(__name__)

STAGE = "download chat"
FILE_VERSION = {"Major": 1, "Minor": 3, "Patch": 1}
"""The TwitchDownloader chat file version written (the layout its 1.3 files have)."""
_BITS = re.compile(
    r"(?i)(?<!\S)(?:cheer|anon|biblethumb|cheerwhal|corgo|uni|showlove|party|seemsgood|pride|kappa|frankerz|"
    r"heyguys|dansgame|elegiggle|trihard|kreygasm|4head|swiftrage|notlikethis|failfish|vohiyo|pjsalt|"
    r"mrdestructoid|bday|ripcheer|shamrock)(\d{1,6})(?!\S)")
"""Cheermotes (``Cheer100``): their amounts add up to a message's ``bits_spent``."""


@dataclass(frozen=True, slots=True)
class ChatReplay:
    """A downloaded chat replay."""

    path: Path
    comments: int
    """Comments written."""
    pages: int
    skipped: int
    """Comments left out because Twitch gave no commenter (deleted accounts), as TwitchDownloader does."""
    meta: VodMeta


def comment_record(node: dict[str, Any], vod_id: str, channel_id: str) -> dict[str, Any] | None:
    """One GQL comment node as a TwitchDownloader comment; None when it has no commenter."""
    commenter = node.get("commenter")
    if not isinstance(commenter, dict):
        return None
    message: dict[str, Any] = node["message"] if isinstance(node.get("message"), dict) else {}
    fragments: list[dict[str, Any]] = []
    emoticons: list[dict[str, Any]] = []
    for fragment in message.get("fragments") or []:
        text = fragment.get("text") if isinstance(fragment, dict) else None
        if not isinstance(text, str):
            continue
        emote = fragment.get("emote")
        emote_id = emote.get("emoteID") if isinstance(emote, dict) else None
        if emote_id:
            begin = int(emote.get("from") or 0)
            fragments.append({"text": text, "emoticon": {"emoticon_id": str(emote_id)}})
            emoticons.append({"_id": str(emote_id), "begin": begin, "end": begin + max(len(text) - 1, 0)})
        else:
            fragments.append({"text": text, "emoticon": None})
    body = "".join(f["text"] for f in fragments)
    badges = [{"_id": b.get("setID"), "version": b.get("version")} for b in message.get("userBadges") or []
              if isinstance(b, dict) and (b.get("setID") or b.get("version"))]
    login = commenter.get("login")
    return {
        "_id": node.get("id"), "created_at": node.get("createdAt"), "channel_id": channel_id,
        "content_type": "video", "content_id": vod_id, "content_offset_seconds": node.get("contentOffsetSeconds") or 0,
        "commenter": {"display_name": str(commenter.get("displayName") or login or "").strip(),
                      "_id": commenter.get("id"), "name": login, "bio": None, "logo": None},
        "message": {"body": body, "bits_spent": sum(int(n) for n in _BITS.findall(body)), "fragments": fragments,
                    "is_action": False, "user_badges": badges, "user_color": message.get("userColor"),
                    "emoticons": emoticons},
    }


def _head(meta: VodMeta) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    doc = {
        "FileInfo": {"Version": FILE_VERSION, "CreatedAt": now, "UpdatedAt": now},
        "streamer": {"name": meta.owner_name or meta.owner_login or "",
                     "id": int(meta.owner_id) if meta.owner_id and meta.owner_id.isdigit() else 0},
        "video": {"title": meta.title, "description": meta.description, "id": meta.vod_id,
                  "created_at": meta.created_at, "start": 0, "end": meta.length_s, "length": meta.length_s,
                  "viewCount": meta.view_count, "game": meta.game or "Unknown", "chapters": []},
    }
    return json.dumps(doc, ensure_ascii=False)[:-1] + ', "comments": ['


def _page(client: GqlClient, vod_id: str, cursor: str | None, seen: set[str], abort: AbortCheck | None) -> CommentPage:
    """The page after ``cursor`` (the first page when None); asked again while it repeats a seen cursor."""
    attempts = max(1, client.policy.attempts)
    for attempt in range(1, attempts + 1):
        check_abort(abort)
        page = client.comments_page(vod_id, cursor=cursor) if cursor else client.comments_page(vod_id, offset_s=0)
        if not page.has_next or (page.cursor is not None and page.cursor not in seen):
            return page
        if attempt < attempts:
            delay = client.policy.delay(attempt)
            log.warning("Twitch answered chat replay page of VOD %s again (cursor repeats, try %d of %d); "
                        "asking again in %.2f s", vod_id, attempt, attempts, delay)
            pause(delay, abort)
    raise DownloadError(f"Twitch's chat replay of VOD {vod_id} keeps answering the same page (its cursor repeats, "
                        f"or it names no next cursor) after {attempts} tries.",
                        hint="Retry the job later; no partial chat file was kept.")


def download_chat(vod_id: str, out: Path, *, client: GqlClient | None = None, meta: VodMeta | None = None,
                  progress: ProgressCallback | None = None, abort: AbortCheck | None = None) -> ChatReplay:
    """Download the whole chat replay of VOD ``vod_id`` into ``out`` (TwitchDownloader JSON)."""
    if client is None:
        client = GqlClient.from_env(abort=abort)
    else:
        client = client.with_abort(abort)
    check_abort(abort)
    meta = meta or client.require_video(vod_id)
    total = meta.length_s or None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=out.parent, prefix=f".{out.name}.",
                                         suffix=".partial", delete=False)
    written = pages = skipped = 0
    try:
        with handle as f:
            f.write(_head(meta))
            seen_cursors: set[str] = set()
            seen_ids: set[str] = set()
            cursor: str | None = None
            while True:
                page = _page(client, vod_id, cursor, seen_cursors, abort)
                pages += 1
                channel = page.channel_id or meta.owner_id or ""
                for node in page.comments:
                    key = str(node.get("id"))
                    if key in seen_ids:
                        continue
                    seen_ids.add(key)
                    record = comment_record(node, vod_id, channel)
                    if record is None:
                        skipped += 1
                        continue
                    f.write(("," if written else "") + json.dumps(record, ensure_ascii=False))
                    written += 1
                if progress is not None and page.comments:
                    reached = float(page.comments[-1].get("contentOffsetSeconds") or 0)
                    progress(STAGE, min(reached, total) if total else reached, total)
                if not page.has_next or not page.cursor:
                    break
                seen_cursors.add(page.cursor)
                cursor = page.cursor
            f.write('], "embeddedData": null}')
            f.flush()
            os.fsync(f.fileno())
        os.replace(handle.name, out)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    if progress is not None:
        progress(STAGE, total or 0.0, total)
    log.info("downloaded the chat replay of VOD %s: %d comments in %d pages (%d without commenter left out)",
             vod_id, written, pages, skipped)
    return ChatReplay(out, written, pages, skipped, meta)

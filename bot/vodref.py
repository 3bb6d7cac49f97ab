"""What a user typed as ``vod:`` → a checked ``VodRef`` (a Twitch VOD id, or a file in the media folder).

Consumes the raw option text and the admin-configured media folder; produces a ``VodRef`` or raises
``BadVodReference`` with a one-line message saying what to type instead. Nothing here touches the
network: only ``twitch.tv/videos/<digits>`` links (and ``twitch.tv/<login>/video/<digits>``) and
bare ids are accepted, so no other host — and no private address — is ever fetched. A local path
must resolve (symlinks included) inside the media folder and name an existing media or chat file.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.errors import BadVodReference

TWITCH_HOSTS = frozenset({"twitch.tv", "www.twitch.tv", "m.twitch.tv"})
VOD_ID = re.compile(r"v?(\d{6,12})")
"""Twitch VOD ids are numeric (an old form writes a ``v`` before them)."""
VIDEO_PATH = re.compile(r"/(?:videos|[A-Za-z0-9_]{3,25}/v(?:ideo)?)/v?(\d{6,12})/?")
MEDIA_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".mov", ".flv", ".ts", ".m4a", ".aac", ".mp3", ".wav", ".ogg"})
CHAT_SUFFIXES = (".jsonl", ".json", ".txt", ".log")
"""Chat logs the detector reads; a media file's chat is found next to it under the same stem."""
EXAMPLE = "https://www.twitch.tv/videos/2012345678"


@dataclass(frozen=True, slots=True)
class VodRef:
    """A checked VOD reference."""

    twitch_vod_id: str | None = None
    media: Path | None = None
    chat: Path | None = None

    @property
    def is_twitch(self) -> bool:
        return self.twitch_vod_id is not None

    @property
    def source(self) -> str:
        """The canonical form stored with the job (a VOD URL or an absolute path)."""
        if self.twitch_vod_id is not None:
            return f"https://www.twitch.tv/videos/{self.twitch_vod_id}"
        return str(self.media or self.chat)

    @property
    def label(self) -> str:
        """Short text for cards and threads."""
        if self.twitch_vod_id is not None:
            return f"Twitch VOD {self.twitch_vod_id}"
        return (self.media or self.chat or Path("?")).name

    def dedupe_key(self, guild_id: str) -> str:
        """Two requests in one guild for the same VOD join one job."""
        if self.twitch_vod_id is not None:
            return f"detect:{guild_id}:twitch:{self.twitch_vod_id}"
        digest = hashlib.sha256(self.source.encode()).hexdigest()[:32]
        return f"detect:{guild_id}:file:{digest}"


def parse_vod(text: str, media_root: Path | None) -> VodRef:
    """Check ``text`` (see the module docstring); ``BadVodReference`` says what is wrong."""
    raw = (text or "").strip().strip("<>").strip()
    if not raw:
        raise BadVodReference(f"Give a Twitch VOD link like {EXAMPLE} or its number.")
    if len(raw) > 500:
        raise BadVodReference("That is far too long for a VOD link or id.")
    bare = VOD_ID.fullmatch(raw)
    if bare:
        return VodRef(twitch_vod_id=bare.group(1))
    if raw.isdigit() or re.fullmatch(r"v?[0-9A-Za-z_-]{1,20}", raw) and any(ch.isdigit() for ch in raw):
        raise BadVodReference(f"`{_short(raw)}` is not a Twitch VOD id: ids are 6–12 digits, as in {EXAMPLE}.")
    if _looks_like_url(raw):
        return _parse_url(raw)
    return _parse_path(raw, media_root)


def _looks_like_url(raw: str) -> bool:
    if "://" in raw or raw.lower().startswith(("www.", "twitch.tv", "m.twitch.tv")):
        return True
    first = raw.split("/", 1)[0]
    return not raw.startswith((".", "/", "~")) and "." in first and "/" in raw and " " not in first


def _parse_url(raw: str) -> VodRef:
    url = raw if "://" in raw else f"https://{raw}"
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        raise BadVodReference(f"`{_short(raw)}` is not a valid link. Use a Twitch VOD link like {EXAMPLE}.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadVodReference(f"Only Twitch VOD links (https://) are accepted, not `{parts.scheme}:` links.")
    if _is_ip_or_local(host):
        raise BadVodReference("Links to private or numeric addresses are not accepted. "
                              f"Use a Twitch VOD link like {EXAMPLE}.")
    if host not in TWITCH_HOSTS or parts.username or parts.password or port not in (None, 80, 443):
        shown = host or _short(raw)
        raise BadVodReference(f"Only Twitch VOD links are accepted (not {shown}). Use a link like {EXAMPLE}.")
    match = VIDEO_PATH.fullmatch(parts.path)
    if match is None:
        if "/clip/" in parts.path or host.startswith("clips."):
            what = "a clip"
        elif re.fullmatch(r"/[A-Za-z0-9_]{3,25}/?", parts.path):
            what = "a channel"
        else:
            what = "not a VOD"
        raise BadVodReference(f"That Twitch link is {what}; use the VOD's link, like {EXAMPLE}.")
    return VodRef(twitch_vod_id=match.group(1))


def _is_ip_or_local(host: str) -> bool:
    if host in ("localhost", "") or host.endswith((".local", ".localhost", ".internal")):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return bool(re.fullmatch(r"[0-9.]+|0x[0-9a-f.x]+", host))  # 127.1, 2130706433, 0x7f.1
    return True


def _parse_path(raw: str, media_root: Path | None) -> VodRef:
    if media_root is None:
        raise BadVodReference(f"Give a Twitch VOD link like {EXAMPLE} or its number "
                              "(local files are turned off on this bot).")
    root = media_root.resolve()
    candidate = Path(raw).expanduser()
    path = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not path.is_relative_to(root):
        raise BadVodReference("That file is outside the folder this bot may read. "
                              "Give a path inside the media folder your admin set up.")
    if not path.is_file():
        raise BadVodReference(f"There is no file `{_short(raw)}` in the media folder.")
    suffix = path.suffix.lower()
    if suffix in MEDIA_SUFFIXES:
        return VodRef(media=path, chat=_sidecar_chat(path, root))
    if suffix in CHAT_SUFFIXES:
        return VodRef(chat=path)
    raise BadVodReference(f"`{path.name}` is neither a video/audio file nor a chat log.")


def _sidecar_chat(media: Path, root: Path) -> Path | None:
    for suffix in (*(f".chat{s}" for s in CHAT_SUFFIXES), *CHAT_SUFFIXES):
        chat = media.with_name(media.stem + suffix).resolve()
        if chat.is_file() and chat.is_relative_to(root):
            return chat
    return None


def _short(text: str, limit: int = 60) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""What a user typed as ``vod:`` → a checked ``VodRef`` (a Twitch VOD id, or a file in the media folder).

Consumes the raw option text and the admin-configured media folder; produces a ``VodRef`` or raises
``BadVodReference`` with a one-line message saying what to type instead. Nothing here touches the
network: only ``twitch.tv/videos/<digits>`` links (and ``twitch.tv/<login>/video/<digits>``) and
bare ids are accepted, so no other host — and no private address — is ever fetched. A local path
must resolve (symlinks included) inside the media folder and name an existing media or chat file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from bot.errors import BadVodReference
from storage.twitch_ref import EXAMPLE, BadTwitchReference, looks_like_url, parse_twitch, short

MEDIA_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".mov", ".flv", ".ts", ".m4a", ".aac", ".mp3", ".wav", ".ogg"})
CHAT_SUFFIXES = (".jsonl", ".json", ".txt", ".log")
"""Chat logs the detector reads; a media file's chat is found next to it under the same stem."""


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
    """Check ``text`` (see the module docstring); ``BadVodReference`` says what is wrong.

    Links and id-like text go to the shared Twitch parser (``storage.twitch_ref``); anything else
    is a path in the media folder."""
    raw = (text or "").strip().strip("<>").strip()
    if raw and not looks_like_url(raw) and not _id_like(raw):
        return _parse_path(raw, media_root)
    try:
        return VodRef(twitch_vod_id=parse_twitch(raw).vod_id)
    except BadTwitchReference as exc:
        raise BadVodReference(str(exc)) from None


def _id_like(raw: str) -> bool:
    return bool(re.fullmatch(r"v?[0-9A-Za-z_-]{1,20}", raw)) and any(ch.isdigit() for ch in raw)


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
    return short(text, limit)

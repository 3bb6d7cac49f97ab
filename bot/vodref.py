"""What a user typed as ``vod:`` → a checked ``VodRef`` (a Twitch VOD id or channel, or a media-folder file).

Consumes the raw option text and the admin-configured media folder; produces a ``VodRef`` or raises
``BadVodReference`` with a one-line message saying what to type instead. Nothing here touches the
network: only ``twitch.tv/videos/<digits>`` links (and ``twitch.tv/<login>/video/<digits>``) and
bare ids are accepted — plus, where the caller allows channels, ``twitch.tv/<login>`` and bare
logins — so no other host, and no private address, is ever fetched. A local path must resolve
(symlinks included) inside the media folder and name an existing media or chat file.

How a bare word is read (no ``/``, no ``.``, no spaces), in this order:

1. 6–12 digits (``v`` first allowed): a VOD id;
2. with channels allowed, ``@login``: always the channel (any login shape, a digit first too);
3. with channels allowed, a login-shaped word (3–25 letters, digits or ``_``, a letter first, and
   not ``v`` + digits, which is a mistyped id): the file of exactly that name in the media folder
   when local files are on and such a file exists, otherwise the channel;
4. other words with a digit (``12ab``, ``12345``): a malformed VOD id, refused;
5. anything else: a path in the media folder.

A file therefore always wins over a channel of the same name (files need no lookup, and an admin
put them there); typing ``@name`` or ``twitch.tv/name`` asks for the channel explicitly.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from bot.errors import BadVodReference
from storage.twitch_ref import (
    EXAMPLE,
    LOGIN,
    VOD_ID,
    BadTwitchReference,
    has_control,
    has_non_ascii_digit,
    looks_like_url,
    parse_twitch,
    short,
)

MEDIA_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".mov", ".flv", ".ts", ".m4a", ".aac", ".mp3", ".wav", ".ogg"})
CHAT_SUFFIXES = (".jsonl", ".json", ".txt", ".log")
"""Chat logs the detector reads; a media file's chat is found next to it under the same stem."""
MISTYPED_ID = re.compile(r"[vV][0-9]+")
NAME_MAX_BYTES = 255
"""The longest file name most file systems allow (bytes, UTF-8): longer words are no file."""
"""``v`` + digits is an id with the wrong number of digits, never a channel."""


@dataclass(frozen=True, slots=True)
class VodRef:
    """A checked VOD reference."""

    twitch_vod_id: str | None = None
    media: Path | None = None
    chat: Path | None = None
    channel: str | None = None
    """A Twitch login (lower case) meaning "its newest archived VOD"; resolved to a VOD id before queueing."""

    @property
    def is_twitch(self) -> bool:
        return self.twitch_vod_id is not None or self.channel is not None

    @property
    def source(self) -> str:
        """The canonical form stored with the job (a VOD URL or an absolute path)."""
        if self.twitch_vod_id is not None:
            return f"https://www.twitch.tv/videos/{self.twitch_vod_id}"
        if self.channel is not None:
            return f"https://www.twitch.tv/{self.channel}"
        return str(self.media or self.chat)

    @property
    def label(self) -> str:
        """Short text for cards and threads."""
        if self.twitch_vod_id is not None:
            return f"Twitch VOD {self.twitch_vod_id}"
        if self.channel is not None:
            return f"the newest VOD of {self.channel}"
        return (self.media or self.chat or Path("?")).name

    def dedupe_key(self, guild_id: str) -> str:
        """Two requests in one guild for the same VOD join one job (a channel must be resolved first)."""
        if self.channel is not None:
            raise ValueError("a channel reference has no job key until its newest VOD is known")
        if self.twitch_vod_id is not None:
            return f"detect:{guild_id}:twitch:{self.twitch_vod_id}"
        digest = hashlib.sha256(self.source.encode()).hexdigest()[:32]
        return f"detect:{guild_id}:file:{digest}"


def parse_vod(text: str, media_root: Path | None, *, allow_channel: bool = False) -> VodRef:
    """Check ``text`` (see the module docstring for how bare words are read); ``BadVodReference`` says
    what is wrong. ``allow_channel``: a channel (link, ``@login`` or bare login) is a ``VodRef`` with
    ``channel`` set instead of an error.

    Links and id-like text go to the shared Twitch parser (``storage.twitch_ref``); anything else
    is a path in the media folder."""
    raw = (text or "").strip().strip("<>").strip()
    _refuse_unreadable(raw)
    if allow_channel and raw and not looks_like_url(raw) and not VOD_ID.fullmatch(raw):
        login = _bare_login(raw)
        if login is not None:
            if not raw.startswith("@") and _named_file(raw, media_root):
                return _parse_path(raw, media_root)
            return VodRef(channel=login)
    if raw and not looks_like_url(raw) and not _id_like(raw):
        return _parse_path(raw, media_root)
    try:
        ref = parse_twitch(raw, allow_channel=allow_channel and looks_like_url(raw))  # bare words: above
    except BadTwitchReference as exc:
        raise BadVodReference(str(exc)) from None
    return VodRef(twitch_vod_id=ref.vod_id) if ref.vod_id is not None else VodRef(channel=ref.channel)


def _refuse_unreadable(raw: str) -> None:
    """Text no VOD id, link, login or file name can be: a clear reply instead of an OSError later."""
    if has_control(raw):
        raise BadVodReference("That contains a control character (such as a NUL byte); type the VOD link or "
                              f"number again, like {EXAMPLE}.")
    if has_non_ascii_digit(raw) and not looks_like_url(raw) and re.fullmatch(r"[vV]?\w+", raw):
        raise BadVodReference(f"`{_short(raw)}` uses digits other than 0–9; Twitch VOD ids are written with the "
                              f"digits 0–9, as in {EXAMPLE}.")
    if any(len(part.encode("utf-8", "replace")) > NAME_MAX_BYTES for part in re.split(r"[/\\]", raw)):
        raise BadVodReference(f"`{_short(raw)}` is too long to be a VOD link, id, channel or file name.")


def _id_like(raw: str) -> bool:
    return bool(re.fullmatch(r"v?[0-9A-Za-z_-]{1,20}", raw)) and any("0" <= ch <= "9" for ch in raw)


def _bare_login(raw: str) -> str | None:
    """The channel login a bare word names (rules 2 and 3 of the module docstring), else None."""
    if raw.startswith("@"):  # explicitly a channel: any login shape
        if not LOGIN.fullmatch(raw[1:]):
            raise BadVodReference(f"`{_short(raw)}` is not a Twitch login (3–25 letters, digits or _).")
        return raw[1:].lower()
    if not LOGIN.fullmatch(raw) or not raw[0].isalpha() or MISTYPED_ID.fullmatch(raw):
        return None
    return raw.lower()


def _named_file(raw: str, media_root: Path | None) -> bool:
    """Whether local files are on and the media folder holds a file (or a link) named exactly ``raw``
    (``raw`` is one bare word; ``_parse_path`` then checks where it really leads)."""
    if media_root is None:
        return False
    entry = media_root / raw
    try:
        return entry.is_file() or entry.is_symlink()
    except (OSError, ValueError):  # refused with its reason by _parse_path
        return True


def _parse_path(raw: str, media_root: Path | None) -> VodRef:
    if media_root is None:
        raise BadVodReference(f"Give a Twitch VOD link like {EXAMPLE} or its number "
                              "(local files are turned off on this bot).")
    try:
        root = media_root.resolve()
        candidate = Path(raw).expanduser()
        path = (candidate if candidate.is_absolute() else root / candidate).resolve()
    except RuntimeError:  # Python's resolve() on a symlink loop
        raise BadVodReference(f"`{_short(raw)}` is a symlink loop in the media folder.") from None
    except (OSError, ValueError) as exc:
        raise BadVodReference(f"`{_short(raw)}` cannot be a file in the media folder "
                              f"({getattr(exc, 'strerror', None) or exc}).") from None
    if not path.is_relative_to(root):
        raise BadVodReference("That file is outside the folder this bot may read. "
                              "Give a path inside the media folder your admin set up.")
    try:
        is_file = path.is_file()
    except OSError as exc:
        raise BadVodReference(f"`{_short(raw)}` cannot be read ({exc.strerror or exc}).") from None
    if not is_file:
        if path.exists() or path.is_symlink():
            raise BadVodReference(f"`{_short(raw)}` in the media folder is not a regular file (a folder, a pipe, "
                                  "a device or a broken link).")
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

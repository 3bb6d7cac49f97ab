"""What someone typed for a Twitch VOD (or channel) → a checked ``TwitchRef``, without any request.

Pure parsing shared by the bot (``/highlights``, ``/autoclip``), the command line and the worker;
consumes text, produces a ``TwitchRef`` or raises ``BadTwitchReference`` whose one-line message says
what to type instead. Accepted: ``twitch.tv/videos/<digits>`` (``?t=`` ignored),
``twitch.tv/<login>/video/<digits>``, bare ids (an old form writes ``v`` first) and — where the
caller allows it — a channel (``twitch.tv/<login>`` or a bare login) meaning "its newest VOD".
Only Twitch's own hosts on the default ports count; private and numeric addresses are refused by
name, so nothing typed here can make the product fetch another host.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from storage.errors import StorageError

TWITCH_HOSTS = frozenset({"twitch.tv", "www.twitch.tv", "m.twitch.tv"})
VOD_ID = re.compile(r"v?([0-9]{6,12})")
r"""Twitch VOD ids are numeric, 6–12 ASCII digits (an old form writes a ``v`` before them). Python's ``\d``
also matches Arabic-Indic and full-width digits, which would make a second dedupe key for one VOD."""
LOGIN = re.compile(r"[A-Za-z0-9_]{3,25}")
"""Twitch logins: 3–25 letters, digits or underscores."""
VIDEO_PATH = re.compile(r"/(?:videos|[A-Za-z0-9_]{3,25}/v(?:ideo)?)/v?([0-9]{6,12})/?")
CHANNEL_PATH = re.compile(r"/([A-Za-z0-9_]{3,25})(?:/videos)?/?")
RESERVED_PATHS = frozenset({"videos", "directory", "settings", "downloads", "search", "p", "jobs", "turbo",
                            "subscriptions", "inventory", "wallet", "drops", "friends", "messages"})
"""First path parts of twitch.tv that are pages, not channels."""
EXAMPLE = "https://www.twitch.tv/videos/2012345678"


class BadTwitchReference(StorageError):
    """The text is not a Twitch VOD (or channel) reference; the message says what to type."""

    code = "bad_twitch_reference"


@dataclass(frozen=True, slots=True)
class TwitchRef:
    """A checked reference: exactly one of ``vod_id`` and ``channel`` is set."""

    vod_id: str | None = None
    channel: str | None = None
    """A channel login (lower case): "its newest archived VOD"."""

    @property
    def url(self) -> str:
        if self.vod_id is not None:
            return f"https://www.twitch.tv/videos/{self.vod_id}"
        return f"https://www.twitch.tv/{self.channel}"


def vod_url(vod_id: str, offset_s: float | None = None) -> str:
    """The VOD's page, with ``?t=1h02m03s`` when an offset is given."""
    base = f"https://www.twitch.tv/videos/{vod_id}"
    if offset_s is None:
        return base
    total = max(int(offset_s), 0)
    return f"{base}?t={total // 3600}h{total % 3600 // 60:02d}m{total % 60:02d}s"


def looks_like_url(raw: str) -> bool:
    """Whether ``raw`` reads as a link (rather than an id, a login or a file path)."""
    if "://" in raw or raw.lower().startswith(("www.", "twitch.tv", "m.twitch.tv")):
        return True
    first = raw.split("/", 1)[0]
    return not raw.startswith((".", "/", "~")) and "." in first and "/" in raw and " " not in first


def parse_twitch(text: str, *, allow_channel: bool = False) -> TwitchRef:
    """Check ``text``; ``BadTwitchReference`` says what is wrong (one line, no traceback)."""
    raw = (text or "").strip().strip("<>").strip()
    if not raw:
        raise BadTwitchReference(f"Give a Twitch VOD link like {EXAMPLE} or its number.")
    if len(raw) > 500:
        raise BadTwitchReference("That is far too long for a VOD link or id.")
    if has_control(raw):
        raise BadTwitchReference("That contains a control character (such as a NUL byte); type the VOD link or "
                                 f"number again, like {EXAMPLE}.")
    if has_non_ascii_digit(raw):
        raise BadTwitchReference(f"`{short(raw)}` uses digits other than 0–9; Twitch VOD ids are written with "
                                 f"the digits 0–9, as in {EXAMPLE}.")
    bare = VOD_ID.fullmatch(raw)
    if bare:
        return TwitchRef(vod_id=bare.group(1))
    if raw.isdigit() or re.fullmatch(r"v?[0-9A-Za-z_-]{1,20}", raw) and any("0" <= ch <= "9" for ch in raw) \
            and not (allow_channel and LOGIN.fullmatch(raw) and not raw.isdigit()):
        raise BadTwitchReference(f"`{short(raw)}` is not a Twitch VOD id: ids are 6–12 digits, as in {EXAMPLE}.")
    if looks_like_url(raw):
        return _parse_url(raw, allow_channel)
    if allow_channel and LOGIN.fullmatch(raw.lstrip("@")):
        return TwitchRef(channel=raw.lstrip("@").lower())
    raise BadTwitchReference(f"`{short(raw)}` is not a Twitch link or VOD id. Use a link like {EXAMPLE}.")


def _parse_url(raw: str, allow_channel: bool) -> TwitchRef:
    url = raw if "://" in raw else f"https://{raw}"
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        raise BadTwitchReference(f"`{short(raw)}` is not a valid link. Use a Twitch VOD link like {EXAMPLE}.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadTwitchReference(f"Only Twitch VOD links (https://) are accepted, not `{parts.scheme}:` links.")
    if is_ip_or_local(host):
        raise BadTwitchReference(f"Links to private or numeric addresses are not accepted. Use a Twitch VOD link like {EXAMPLE}.")
    if host not in TWITCH_HOSTS or parts.username or parts.password or port not in (None, 80, 443):
        raise BadTwitchReference(f"Only Twitch VOD links are accepted (not {host or short(raw)}). Use a link like {EXAMPLE}.")
    match = VIDEO_PATH.fullmatch(parts.path)
    if match is not None:
        return TwitchRef(vod_id=match.group(1))
    channel = CHANNEL_PATH.fullmatch(parts.path)
    is_channel = channel is not None and channel.group(1).lower() not in RESERVED_PATHS
    if allow_channel and is_channel and channel is not None:
        return TwitchRef(channel=channel.group(1).lower())
    if "/clip/" in parts.path or host.startswith("clips."):
        what = "a clip"
    elif is_channel:
        what = "a channel"
    else:
        what = "not a VOD"
    raise BadTwitchReference(f"That Twitch link is {what}; use the VOD's link, like {EXAMPLE}.")


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (NUL, escape, a line break…)."""
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def has_non_ascii_digit(text: str) -> bool:
    """Whether ``text`` holds a digit that is not 0–9 (Arabic-Indic ``٢``, full-width ``２``…)."""
    return any(ch.isdigit() and not ("0" <= ch <= "9") for ch in text)


def is_ip_or_local(host: str) -> bool:
    """Whether ``host`` is an IP address in any spelling, or a local name."""
    if host in ("localhost", "") or host.endswith((".local", ".localhost", ".internal")):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return bool(re.fullmatch(r"[0-9.]+|0x[0-9a-f.x]+", host))  # 127.1, 2130706433, 0x7f.1
    return True


def short(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters for a message, backticks neutralised."""
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""Secrets out of every text the project shows: the one redaction function, for logs, errors and reprs.

Consumes text (a URL, an error message, a log line, a config's repr); produces the same text with
secrets replaced by ``***``:

- the password of any URL's user info (``scheme://user:pw@host`` → ``scheme://user:***@host``);
- the value of a secret-named query parameter or ``key=value`` pair (``?password=``, ``sslpassword=``,
  ``client_secret=``, ``access_token=``, ``token=``, ``sig=``, ``api_key=``…), where libpq, OAuth and
  Twitch's usher put them;
- every value registered with ``register_secret`` (the Discord token, the database password, the Twitch
  client secret, registered where the configuration is read), wherever it appears.

``install_log_redaction()`` (called by every entry point) makes every log record pass through
``redact`` when it is created, its exception text included, so no handler — ours, discord.py's,
pytest's — ever sees a secret. ``redacted_repr`` is the ``__repr__`` of configuration records.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from typing import Any
from urllib.parse import unquote

MASK = "***"
SECRET_NAMES = ("password", "passwd", "pwd", "sslpassword", "secret", "client_secret", "token", "access_token",
                "refresh_token", "id_token", "api_key", "apikey", "sig", "signature")
"""Parameter and field names whose values are secrets (compared without case)."""
MIN_REGISTERED = 6
"""Registered secrets shorter than this are not masked as free text (a 3-letter password would mask words)."""

_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:?#]*):(?P<pw>[^\s@/?#]*)@")
_NAMES = "|".join(sorted((re.escape(n) for n in SECRET_NAMES), key=len, reverse=True))
_PAIR = re.compile(r"(?P<key>\b(?:" + _NAMES + r"))(?P<sep>['\"]?\s*[=:]\s*)(?P<quote>['\"]?)(?P<value>[^\s&'\",;)}\]]+)",
                   re.IGNORECASE)
_AUTH_HEADER = re.compile(r"\b(?P<key>authorization['\"]?\s*[=:]\s*['\"]?)(?:(?P<scheme>bearer|bot|basic|oauth)\s+)?(?P<value>[^\s'\",;]+)",
                          re.IGNORECASE)
_registered: set[str] = set()
_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and its URL-decoded form) wherever it appears from now on."""
    if not value:
        return
    forms = {value, unquote(value)}
    with _lock:
        global _pattern
        added = {f for f in forms if len(f) >= MIN_REGISTERED} - _registered
        if not added:
            return
        _registered.update(added)
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_registered, key=len, reverse=True)))


def forget_secrets() -> None:
    """Drop every registered secret (tests)."""
    global _pattern
    with _lock:
        _registered.clear()
        _pattern = None


def redact(text: str) -> str:
    """``text`` with every secret it holds replaced by ``***`` (see the module docstring)."""
    if not text:
        return text
    out = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    out = _AUTH_HEADER.sub(lambda m: f"{m['key']}{m['scheme'] + ' ' if m['scheme'] else ''}{MASK}", out)
    out = _PAIR.sub(lambda m: f"{m['key']}{m['sep']}{m['quote']}{MASK}", out)
    pattern = _pattern
    if pattern is not None:
        out = pattern.sub(MASK, out)
    return out


def redact_url(url: str) -> str:
    """A URL for logs and messages: its password and secret query parameters masked."""
    return redact(url)


def is_secret_name(name: str) -> bool:
    low = name.lower()
    return any(low == n or low.endswith("_" + n) for n in SECRET_NAMES)


def redacted_repr(obj: Any) -> str:
    """A dataclass's repr with secret-named fields shown as ``***`` and every other text redacted."""
    parts = []
    for f in dataclasses.fields(obj):
        if not f.repr:
            continue
        value = getattr(obj, f.name)
        if is_secret_name(f.name) and value is not None:
            shown = repr(MASK)
        else:
            shown = redact(repr(value))
        parts.append(f"{f.name}={shown}")
    return f"{type(obj).__name__}({', '.join(parts)})"


def install_log_redaction() -> None:
    """Redact every log record as it is made: its message (arguments merged) and its exception text."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the handler's to report
            return record
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        return record

    factory._redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_FORMATTER = logging.Formatter()

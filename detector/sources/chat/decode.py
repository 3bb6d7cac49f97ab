"""Sources stage, chat logs: raw bytes to text.

Consumes the bytes of a chat log file; produces its text plus warnings. Gzip is recognised by its
magic bytes (any file name) and inflated with a size cap; a UTF-8 byte-order mark is dropped and a
UTF-16 one honoured; bytes that are not UTF-8 are replaced with U+FFFD and a warning, so decoding
never raises ``UnicodeDecodeError``.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from collections.abc import Mapping
from pathlib import Path

from detector.errors import ChatFormatError
from detector.sources.env_limits import positive_env_number

GZIP_MAGIC = b"\x1f\x8b"
ENV_MAX_MB = "HIGHLIGHTS_MAX_CHAT_MB"
MAX_INFLATED_BYTES = 128 << 20
"""A chat log (after gzip inflation) may hold at most this many bytes unless ``$HIGHLIGHTS_MAX_CHAT_MB`` says
otherwise: 128 MiB is ~150,000 TwitchDownloader comments. Parsing JSON costs about seven times the bytes
(a 124 MB log peaked at 840 MB), so this keeps a chat log, or a gzip bomb, under 1 GB (the old 1 GiB cap
let a 0.5 GiB bomb take 1.1 GB)."""
_READ_BLOCK = 1 << 20


def max_chat_bytes(env: Mapping[str, str] | None = None) -> int:
    """The cap on a chat log's bytes (compressed file, and inflated text): ``$HIGHLIGHTS_MAX_CHAT_MB`` MiB."""
    mib = positive_env_number(env, ENV_MAX_MB, "MiB", f"Unset it for the default of {MAX_INFLATED_BYTES >> 20} MiB.")
    return MAX_INFLATED_BYTES if mib is None else int(mib * (1 << 20))


def read_capped(path: Path, name: str, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path``; ``ChatFormatError`` when it holds more than ``limit``."""
    limit = max_chat_bytes() if limit is None else limit
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ChatFormatError(f"the file is larger than {limit / (1 << 20):g} MiB, which is too large for a chat log",
                              path=name, hint=f"Pass the chat of one VOD only, or raise {ENV_MAX_MB}.")
    return data


def inflate_if_gzip(data: bytes, name: str, limit: int | None = None) -> bytes | bytearray:
    """``data`` inflated when it starts with the gzip magic bytes, else unchanged.

    Inflated block by block, so a bomb is refused after ``limit`` bytes, never held whole."""
    if not data.startswith(GZIP_MAGIC):
        return data
    limit = max_chat_bytes() if limit is None else limit
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = _read_limited(stream, limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ChatFormatError(
            f"the gzip data is corrupt or truncated ({exc or type(exc).__name__})",
            path=name,
            hint="Download or compress the chat log again.",
        ) from None
    if len(out) > limit:
        raise ChatFormatError(
            f"the gzip data inflates to more than {limit / (1 << 20):g} MiB, which is too large for a chat log",
            path=name, hint=f"Pass the chat of one VOD only, or raise {ENV_MAX_MB}.",
        )
    return out


def _read_limited(stream: gzip.GzipFile, limit: int) -> bytearray:
    out = bytearray()
    while len(out) < limit:
        block = stream.read(min(_READ_BLOCK, limit - len(out)))
        if not block:
            break
        out += block
    return out  # not copied into bytes: decoding reads a bytearray as well


def decode_text(data: bytes | bytearray, name: str) -> tuple[str, list[str]]:
    """The text of ``data`` and any warnings about its encoding."""
    warnings: list[str] = []
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
        if "\ufffd" in text:
            warnings.append("the UTF-16 text has undecodable bytes; they were replaced with U+FFFD")
        return text, warnings
    try:
        return data.decode("utf-8"), warnings
    except UnicodeDecodeError as exc:
        warnings.append(
            f"the log is not valid UTF-8 (first bad byte at byte {exc.start}); undecodable bytes were"
            " replaced with U+FFFD"
        )
        return data.decode("utf-8", errors="replace"), warnings

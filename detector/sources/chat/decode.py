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

from detector.errors import ChatFormatError

GZIP_MAGIC = b"\x1f\x8b"
MAX_INFLATED_BYTES = 1 << 30
"""A gzip chat log may inflate to at most this many bytes (1 GiB)."""


def inflate_if_gzip(data: bytes, name: str, limit: int = MAX_INFLATED_BYTES) -> bytes:
    """``data`` inflated when it starts with the gzip magic bytes, else unchanged."""
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ChatFormatError(
            f"the gzip data is corrupt or truncated ({exc or type(exc).__name__})",
            path=name,
            hint="Download or compress the chat log again.",
        ) from None
    if len(out) > limit:
        raise ChatFormatError(
            f"the gzip data inflates to more than {limit >> 20} MiB, which is too large for a chat log",
            path=name,
        )
    return out


def decode_text(data: bytes, name: str) -> tuple[str, list[str]]:
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

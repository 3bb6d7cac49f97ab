"""Sources stage, chat logs: decoded text → lines, whatever the line endings.

Consumes the text of a log; produces its lines with universal newlines: ``\\r\\n`` (Windows),
``\\n`` (Unix) and a lone ``\\r`` (old Mac, and some exporters) all end a line, as Python's text mode
reads files. Splitting on ``\\n`` alone read a CR-only log of 2,352 messages as one line. Only these
three end a line: U+2028, NEL and the other characters ``str.splitlines`` also splits on may appear
inside a chat message. ``iter_lines`` yields lazily (a 100 MB log is never held twice as a list).
"""

from __future__ import annotations

from collections.abc import Iterator


def iter_lines(text: str) -> Iterator[str]:
    """The lines of ``text`` without their endings (a final ending yields no empty last line)."""
    n = len(text)
    find = text.find
    start = 0
    next_lf = find("\n")
    next_cr = find("\r")
    while start < n:
        if 0 <= next_lf < start:
            next_lf = find("\n", start)
        if 0 <= next_cr < start:
            next_cr = find("\r", start)
        if next_lf < 0 and next_cr < 0:
            yield text[start:]
            return
        end = next_lf if next_cr < 0 or (0 <= next_lf < next_cr) else next_cr
        yield text[start:end]
        start = end + 2 if text.startswith("\r\n", end) else end + 1


def split_lines(text: str) -> list[str]:
    """``iter_lines`` as a list (for readers that look ahead)."""
    return list(iter_lines(text))

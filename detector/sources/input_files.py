"""Sources stage, the edge: is the path a user gave a regular file we can read?

Consumes a path (media file, chat log, captions, lexicon); produces nothing when it names a regular
file (directly or through symlinks), else a ``FileProblem``: what the path is instead, in words a user
understands, with a machine ``code``. Special files are refused here, before anything opens them: a
FIFO blocks the reader (and ffmpeg) until someone writes to it, a character device such as
``/dev/zero`` or ``/dev/urandom`` never ends, and a socket cannot be opened as a file. A symlink loop
is named as such (``Path.exists()`` calls it "missing"), and so is a link to a missing file.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class FileProblem:
    code: str
    """``missing``, ``broken_link``, ``symlink_loop``, ``directory``, ``fifo``, ``char_device``,
    ``block_device``, ``socket``, ``bad_name``, ``unreadable``."""
    text: str
    """What the path is, as the end of a sentence starting with the path ("is a FIFO (named pipe) …")."""
    hint: str


_SPECIAL = {
    stat.S_IFIFO: ("fifo", "is a FIFO (named pipe), not a file: reading it would wait for a writer forever"),
    stat.S_IFCHR: ("char_device", "is a character device, not a file (it could stream without end)"),
    stat.S_IFBLK: ("block_device", "is a block device (a disk), not a file"),
    stat.S_IFSOCK: ("socket", "is a socket, not a file"),
}
_SAVE_HINT = "Save the data to a regular file first and pass that file."


def file_problem(path: str | os.PathLike[str]) -> FileProblem | None:
    """None when ``path`` is a regular file (links followed); otherwise what is wrong with it."""
    text = os.fspath(path)
    if "\x00" in text:
        return FileProblem("bad_name", "has a NUL byte in its name", "Check the path you typed.")
    try:
        st = os.stat(text)
    except OSError as exc:
        return _stat_failure(text, exc)
    except ValueError:  # pragma: no cover - NUL handled above; other encodings errors
        return FileProblem("bad_name", "is not a valid path", "Check the path you typed.")
    kind = stat.S_IFMT(st.st_mode)
    if kind == stat.S_IFDIR:
        return FileProblem("directory", "is a directory, not a file", "Pass the file itself.")
    if kind in _SPECIAL:
        code, what = _SPECIAL[kind]
        return FileProblem(code, what, _SAVE_HINT)
    if kind != stat.S_IFREG:  # pragma: no cover - doors, whiteouts, event ports
        return FileProblem("special", "is not a regular file", _SAVE_HINT)
    return None


def _stat_failure(text: str, exc: OSError) -> FileProblem:
    if exc.errno == errno.ELOOP:
        return FileProblem("symlink_loop", "is a symlink loop (its links lead back to themselves)",
                           "Point the link at the real file.")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        if os.path.islink(text):
            try:
                target = os.readlink(text)
            except OSError:
                target = "?"
            return FileProblem("broken_link", f"is a link to {target}, which does not exist",
                               "Point the link at the real file, or download it again.")
        return FileProblem("missing", "does not exist", "Check the path.")
    if exc.errno == errno.ENAMETOOLONG:
        return FileProblem("bad_name", "has a name too long for this system", "Check the path you typed.")
    if exc.errno == errno.EACCES:
        return FileProblem("unreadable", "cannot be read (permission denied)", "Check the file's permissions.")
    return FileProblem("unreadable", f"cannot be read ({exc.strerror or exc})", "Check the path.")


def is_regular_file(path: str | os.PathLike[str]) -> bool:
    return file_problem(path) is None


def describe(path: str | os.PathLike[str] | Path) -> str:
    """``path`` as shown in a message (a repr-like quote when it holds control characters)."""
    text = os.fspath(path)
    return repr(text) if any(ord(ch) < 32 for ch in text) else text

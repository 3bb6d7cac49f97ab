"""Atomic file writes for the output stage.

A result file is first written to a temporary file in the destination folder and then moved over
the destination with ``os.replace``, so a reader never sees a half-written file and a failure
leaves the previous file (or nothing) in place.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from detector.export.errors import ExportError

log = logging.getLogger(__name__)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, newline: str | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; create missing parent folders.

    ``newline`` is passed to ``open``: ``""`` keeps ``\\r\\n`` written by the csv module as is.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(
            f"Cannot create the folder {target.parent} for {target.name}: {exc.strerror or exc}.",
            hint="Choose an output path in a folder you can write to.",
        ) from None
    if target.is_dir():
        raise ExportError(f"{target} is a folder; give a file name for the output.")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ExportError(
            f"Cannot write {target}: {exc.strerror or exc}.",
            hint="Choose an output path in a folder you can write to.",
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
            # mkstemp makes 0600 files; results are meant to be shared like any other output.
            os.fchmod(fh.fileno(), _mode_for(target))
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except OSError as exc:
        _discard(tmp_name)
        raise ExportError(
            f"Cannot write {target}: {exc.strerror or exc}.",
            hint="Check free disk space and that the folder is writable.",
        ) from None
    except BaseException:
        _discard(tmp_name)
        raise
    log.debug("wrote %s (%d chars)", target, len(text))
    return target


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Raise ``ExportError`` now when ``path`` could not be written later (a folder, a file in the way of
    its folder, a folder this user cannot write to); touch nothing. For checking outputs before long work."""
    target = Path(path)
    if target.is_dir():
        raise ExportError(f"{target} is a folder; give a file name for the output.")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ExportError(f"Cannot write {target}: {folder} is a file, not a folder.",
                          hint="Choose an output path in a folder you can write to.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(f"Cannot write {target}: the folder {folder} is not writable.",
                          hint="Choose an output path in a folder you can write to.")
    return target


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        return 0o644


def _discard(tmp_name: str) -> None:
    try:
        os.unlink(tmp_name)
    except FileNotFoundError:
        pass
    except OSError as exc:  # pragma: no cover - nothing more to do than say so
        log.warning("could not remove temporary file %s: %s", tmp_name, exc)

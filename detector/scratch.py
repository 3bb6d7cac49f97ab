"""Scratch files and folders, and sweeping up what dead attempts left of them.

Consumes nothing but names: the render stage's scratch folders in the system temp directory
(``highlights-smartcut-*``, ``highlights-reel-*``, ``highlights-render-*``, each named with the pid
that made it), its hidden ``.<name>.<hex>.part.<ext>`` outputs beside the final file, and the
``.partial-*`` download folders of a job. A worker that is SIGKILLed leaves them behind; the next
worker to start removes them (``sweep``): only these patterns; a scratch folder when the process that
made it (its pid is in the name; the folder is on this machine) is gone; a ``.part`` file or download
folder when its newest modification is older than the lease (a live worker's ffmpeg writes
continuously, and a live job's lease is renewed well within it). A worker that takes over a job
whose previous attempt died sweeps that job's folder with no age limit: the lease it now holds says
no one else writes there.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCRATCH_KINDS = ("smartcut", "reel", "render")
"""The render stage's scratch folder kinds (one per module that needs a folder of temporary files)."""
_SCRATCH_DIR = re.compile(r"^highlights-(?:smartcut|reel|render)-(?:(\d+)-)?[A-Za-z0-9_]+$")
PART_FILE = re.compile(r"^\..+\.[0-9a-f]{8}\.part(?:\.[A-Za-z0-9]+)?$")
"""``detector.render.runner.temp_path_for``'s names: hidden, 8 hex digits, ``.part``, the extension."""
_PARTIAL_DIR = re.compile(r"^\.partial-[A-Za-z0-9_]+$")


def scratch_dir(kind: str) -> tempfile.TemporaryDirectory[str]:
    """A scratch folder for ``kind`` in the system temp directory, named with this process's pid."""
    if kind not in SCRATCH_KINDS:
        raise ValueError(f"unknown scratch kind {kind!r}")
    return tempfile.TemporaryDirectory(prefix=f"highlights-{kind}-{os.getpid()}-")


@dataclass(frozen=True, slots=True)
class Sweep:
    """What ``sweep`` removed, and what it left because its owner is alive or it is recent."""

    removed: tuple[Path, ...] = ()
    kept: tuple[Path, ...] = ()
    freed_bytes: int = 0
    errors: tuple[str, ...] = ()


def leftovers(jobs_root: Path | None, temp_dir: Path | None = None) -> list[Path]:
    """Every path of the patterns above under ``jobs_root`` (job folders, any depth) and ``temp_dir``."""
    found: list[Path] = []
    temp = Path(temp_dir or tempfile.gettempdir())
    if temp.is_dir():
        with os.scandir(temp) as entries:
            found += [Path(e.path) for e in entries if _SCRATCH_DIR.match(e.name) and e.is_dir(follow_symlinks=False)]
    if jobs_root is not None and jobs_root.is_dir():
        for folder, dirs, files in os.walk(jobs_root):
            base = Path(folder)
            found += [base / d for d in dirs if _PARTIAL_DIR.match(d)]
            dirs[:] = [d for d in dirs if not _PARTIAL_DIR.match(d)]
            found += [base / f for f in files if PART_FILE.match(f)]
    return found


def sweep(jobs_root: Path | None, older_than_s: float, *, temp_dir: Path | None = None, scratch: bool = True,
          now: float | None = None) -> Sweep:
    """Remove the leftovers (see the module docstring) under ``jobs_root`` not modified for ``older_than_s``
    seconds, and (with ``scratch``) the scratch folders in ``temp_dir`` whose process is gone."""
    cutoff = (time.time() if now is None else now) - max(older_than_s, 0.0)
    removed: list[Path] = []
    kept: list[Path] = []
    errors: list[str] = []
    freed = 0
    found = leftovers(jobs_root, temp_dir)
    for path in found if scratch else [p for p in found if not _SCRATCH_DIR.match(p.name)]:
        owner = _owner_pid(path)
        try:
            newest, size = _newest_mtime_and_size(path)
        except FileNotFoundError:
            continue
        if owner is not None:
            in_use = owner != os.getpid() and _alive(owner)
        else:
            in_use = newest >= cutoff
        if in_use:
            kept.append(path)
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror or exc}")
            continue
        removed.append(path)
        freed += size
    if removed:
        log.info("removed %d leftover(s) of dead attempts (%.1f MB): %s", len(removed), freed / 1e6,
                 ", ".join(p.name for p in removed[:5]) + (" …" if len(removed) > 5 else ""))
    for error in errors:
        log.warning("could not remove a leftover: %s", error)
    return Sweep(tuple(removed), tuple(kept), freed, tuple(errors))


def _owner_pid(path: Path) -> int | None:
    match = _SCRATCH_DIR.match(path.name)
    return int(match.group(1)) if match and match.group(1) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _newest_mtime_and_size(path: Path) -> tuple[float, int]:
    st = os.lstat(path)
    if not path.is_dir() or path.is_symlink():
        return st.st_mtime, st.st_size
    newest, size = st.st_mtime, 0
    for entry in _walk_files(path):
        try:
            est = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        newest, size = max(newest, est.st_mtime), size + est.st_size
    return newest, size


def _walk_files(folder: Path) -> Iterable[os.DirEntry[str]]:
    stack = [folder]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                yield entry

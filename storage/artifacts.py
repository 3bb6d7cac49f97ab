"""Where job artifacts live: one folder per job under an artifact root, a free-disk check, retention.

Consumes a storage URL (or an explicit directory) and job ids; produces paths. The worker writes a
job's files (results JSON, HTML report, later rendered clips) into ``<root>/jobs/<job id>/`` and
stores paths *relative to the root* in the database, so the root can move (a container volume
mounted elsewhere) without rewriting rows.

Which root: an explicit directory, else ``$HIGHLIGHTS_ARTIFACTS``, else next to a SQLite database
(``<db file stem>-artifacts/``), else ``./artifacts``. Several machines sharing a PostgreSQL
database must share the root too (a network volume), or the bot cannot find the files.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Container, Mapping
from dataclasses import dataclass
from pathlib import Path

from storage.errors import StorageError
from storage.url import parse_storage_url

log = logging.getLogger(__name__)

ENV_ROOT = "HIGHLIGHTS_ARTIFACTS"
DEFAULT_MIN_FREE_BYTES = 2 * 1024**3
"""Heavy steps refuse to start with less free space than this under the root (2 GiB)."""
DEFAULT_RETENTION_DAYS = 30.0
JOBS_DIR = "jobs"


class DiskFull(StorageError):
    """Less free space under the artifact root than a heavy step needs."""

    code = "disk_full"


class ArtifactPathError(StorageError):
    """A path handed to the artifact store lies outside its root."""

    code = "artifact_path"


def default_root(storage_url: str | None, env: Mapping[str, str] | None = None) -> Path:
    """The artifact root for a storage URL when none is given explicitly (see the module docstring)."""
    env = os.environ if env is None else env
    if env.get(ENV_ROOT):
        return Path(env[ENV_ROOT]).expanduser()
    if storage_url:
        parsed = parse_storage_url(storage_url)
        if parsed.sqlite_path is not None:
            return parsed.sqlite_path.parent / f"{parsed.sqlite_path.stem}-artifacts"
    return Path("artifacts")


@dataclass(frozen=True, slots=True)
class ArtifactStore:
    """One artifact root and the policies that apply to it."""

    root: Path
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES
    """``ensure_free_space()`` without an argument requires this much (bytes)."""

    @classmethod
    def for_storage(cls, storage_url: str | None, root: str | os.PathLike[str] | None = None, *,
                    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES) -> ArtifactStore:
        chosen = Path(root).expanduser() if root is not None else default_root(storage_url)
        return cls(root=chosen.absolute(), min_free_bytes=min_free_bytes)

    @property
    def jobs_root(self) -> Path:
        return self.root / JOBS_DIR

    def job_dir(self, job_id: int, *, create: bool = True) -> Path:
        """The folder of one job's files (created unless ``create`` is False)."""
        path = self.jobs_root / str(int(job_id))
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the root, with forward slashes, as stored in the database."""
        try:
            return Path(path).absolute().relative_to(self.root).as_posix()
        except ValueError:
            raise ArtifactPathError(f"{path} is not under the artifact root {self.root}.") from None

    def resolve(self, relative: str) -> Path:
        """The absolute path of a stored relative path; refuses paths that climb out of the root."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ArtifactPathError(f"{relative!r} points outside the artifact root {self.root}.")
        return path

    def remove_job(self, job_id: int) -> bool:
        """Delete one job's folder (partial files of a cancelled job); False when there was none."""
        path = self.job_dir(job_id, create=False)
        if not path.exists():
            return False
        shutil.rmtree(path, ignore_errors=True)
        log.info("removed artifacts of job %s", job_id)
        return not path.exists()

    def free_bytes(self) -> int:
        """Free space for an unprivileged writer on the root's filesystem (bytes)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.root).free

    def ensure_free_space(self, min_bytes: int | None = None) -> int:
        """Raise ``DiskFull`` unless at least ``min_bytes`` (default ``min_free_bytes``) are free.

        Returns the free bytes found. Called before each heavy step (decoding, rendering, writing).
        """
        need = self.min_free_bytes if min_bytes is None else int(min_bytes)
        free = self.free_bytes()
        if free < need:
            raise DiskFull(f"Only {_gib(free)} free under {self.root}; this step needs at least {_gib(need)}. "
                           "Free some space (or lower the worker's --min-free-gb), then retry the job.")
        return free

    def clean_older_than(self, days: float, *, keep: Container[int] = (), now: float | None = None) -> list[Path]:
        """Delete job folders not modified for ``days`` days; return the folders removed.

        A folder's age is that of its newest entry (the folder itself or a file directly in it), so
        a job still writing is never old. Folders of jobs in ``keep`` (active jobs) are never
        removed; anything under the root that is not a job folder is left alone.
        """
        if days < 0:
            raise ValueError("retention days must not be negative")
        cutoff = (time.time() if now is None else now) - days * 86400.0
        removed: list[Path] = []
        if not self.jobs_root.is_dir():
            return removed
        for entry in sorted(self.jobs_root.iterdir()):
            if not entry.is_dir() or entry.is_symlink() or not entry.name.isdigit():
                continue
            if int(entry.name) in keep:
                continue
            if _newest_mtime(entry) < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                if not entry.exists():
                    removed.append(entry)
        if removed:
            log.info("retention: removed %d job folder(s) older than %g days under %s", len(removed), days,
                     self.jobs_root)
        return removed


def _newest_mtime(folder: Path) -> float:
    newest = folder.stat().st_mtime
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
            except FileNotFoundError:
                continue
    return newest


def _gib(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB"

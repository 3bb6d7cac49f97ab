"""Render stage, the render cache: finished outputs keyed by their plan's hash.

Consumes a plan key (``ClipPlan.key()`` or a reel's key) and a finished file; keeps a copy as
``<root>/<key[:2]>/<key><suffix>`` so the same plan is never encoded twice. Entries are added
atomically (a hard link or a copy under a temporary name, then a rename) and handed out the same
way, so a reader never sees a partial entry or a partial output.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from detector.render.runner import discard, temp_path_for

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$HIGHLIGHTS_RENDER_CACHE``, else ``$XDG_CACHE_HOME/highlights/render`` (``~/.cache/...``)."""
    override = os.environ.get("HIGHLIGHTS_RENDER_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "highlights" / "render"


def place_file(src: Path, dest: Path) -> Path:
    """Put a copy of ``src`` at ``dest`` atomically (hard link when possible, else a copy)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(dest)
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        discard(tmp)
        raise
    return dest


class RenderCache:
    """A folder of rendered files named by plan key."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path_for(self, key: str, suffix: str = ".mp4") -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def get(self, key: str, suffix: str = ".mp4") -> Path | None:
        path = self.path_for(key, suffix)
        try:
            return path if path.stat().st_size > 0 else None
        except OSError:
            return None

    def put(self, key: str, file: Path) -> Path | None:
        """Store ``file`` under ``key``; a cache that cannot be written only logs a warning."""
        try:
            return place_file(file, self.path_for(key, file.suffix))
        except OSError as exc:
            log.warning("render cache %s not updated: %s", self.root, exc)
            return None

    def fetch(self, key: str, dest: Path) -> Path | None:
        """Put the cached file for ``key`` at ``dest``; None when there is no entry."""
        hit = self.get(key, dest.suffix)
        if hit is None:
            return None
        if dest.exists() and os.path.samefile(hit, dest):
            return dest
        return place_file(hit, dest)

"""Which of a clip's rendered files to attach to its post: the video that fits, else its thumbnail.

Consumes a ``Clip``'s ``files`` (layout → path under the artifact root, plus ``thumb``), the artifact
store and the server's upload limit; produces the video to attach (the requested layout if it fits, else
the largest other render that fits) or, when none fits, a note saying why, and the thumbnail to show
instead. Paths outside the artifact root are ignored with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

from storage.artifacts import ArtifactStore
from storage.errors import StorageError
from storage.records import Clip

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".mov", ".mkv"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
NOT_VIDEO = frozenset({"thumb", "thumbnail", "poster"})
UPLOAD_MARGIN = 64 * 1024
"""Bytes kept free under the upload limit for the rest of the request."""
MIB = 1024 * 1024


def choose_video(artifacts: ArtifactStore, clip: Clip, layout: str, limit: int, *,
                 twitch: bool) -> tuple[Path | None, str | None]:
    """The file to attach (None: none fits or none was rendered) and a note for the embed."""
    renders: list[tuple[int, Path]] = []
    for key, rel in (clip.files or {}).items():
        if key in NOT_VIDEO or key.startswith("cut "):  # a re-cut is not the clip as posted
            continue
        try:
            path = artifacts.resolve(rel)
        except StorageError:
            log.warning("clip %d: file %r is outside the artifact root; ignored", clip.id, rel)
            continue
        if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
            renders.append((0 if key == layout else 1, path))
    if not renders:
        return None, (None if not clip.files else "The rendered video is missing on the server.")
    renders.sort(key=lambda r: (r[0], -r[1].stat().st_size))
    for _, path in renders:
        if path.stat().st_size <= limit:
            return path, None
    smallest = min(p.stat().st_size for _, p in renders)
    where = " Watch it on Twitch with the button below." if twitch else ""
    return None, (f"The video ({smallest / MIB:.1f} MiB) is over this server's upload limit "
                  f"({(limit + UPLOAD_MARGIN) / MIB:.0f} MiB).{where}")


def thumbnail(artifacts: ArtifactStore, clip: Clip, limit: int) -> Path | None:
    """The clip's rendered thumbnail (shown when no video is attached), if there is one that fits."""
    rel = (clip.files or {}).get("thumb") or (clip.files or {}).get("thumbnail")
    if not rel:
        return None
    try:
        path = artifacts.resolve(rel)
    except StorageError:
        return None
    return path if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and path.stat().st_size <= limit else None

"""Viewers' clips of a VOD kept as weak labels: fetched through Helix, saved to and loaded from JSON.

Consumes ``ViewerClip``s (``storage.twitch.helix``) or a JSON file written earlier; produces
``ViewerClipLabels``: the VOD id and, per clip, where it starts on the VOD (``offset_s``), how long it
is, its views, title and URL. The overlap metric that compares them with our clips lives with the
evaluation (``detector.eval``); nothing here knows about detection. The file format::

    {"format": "highlights.viewer_clips", "version": 1, "vod_id": "2012345678",
     "fetched_at": "2024-05-01T12:00:00+00:00",
     "clips": [{"offset_s": 1957.0, "duration_s": 30.0, "views": 120, "title": "...", "url": "..."}]}

A bare JSON list of clip objects is read too. Files are written atomically (temporary file, rename).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from storage.clock import utcnow
from storage.errors import StorageError
from storage.twitch.helix import Helix
from storage.twitch.records import ViewerClip

FORMAT = "highlights.viewer_clips"
VERSION = 1


class ViewerClipsFileError(StorageError):
    """A viewer-clips file that cannot be read; the message names the file and what is wrong."""

    code = "viewer_clips_file"


class VodNotFound(StorageError):
    """The VOD whose clips were asked for does not exist (or is no longer available)."""

    code = "vod_not_found"


@dataclass(frozen=True, slots=True)
class ViewerClipLabel:
    offset_s: float
    """Where the clip starts on the VOD's timeline (s)."""
    duration_s: float
    views: int
    title: str = ""
    url: str = ""

    @property
    def end_s(self) -> float:
        return self.offset_s + self.duration_s

    @classmethod
    def from_clip(cls, clip: ViewerClip) -> ViewerClipLabel:
        return cls(offset_s=clip.offset_s, duration_s=clip.duration_s, views=clip.views, title=clip.title,
                   url=clip.url)


@dataclass(frozen=True, slots=True)
class ViewerClipLabels:
    vod_id: str | None
    clips: tuple[ViewerClipLabel, ...]
    fetched_at: datetime | None = None

    @property
    def total_views(self) -> int:
        return sum(max(c.views, 0) for c in self.clips)


def labels_from_clips(vod_id: str, clips: Iterable[ViewerClip], *, fetched_at: datetime | None = None
                      ) -> ViewerClipLabels:
    ordered = sorted((ViewerClipLabel.from_clip(c) for c in clips), key=lambda c: (c.offset_s, -c.views))
    return ViewerClipLabels(vod_id=vod_id, clips=tuple(ordered), fetched_at=fetched_at or utcnow())


async def fetch_viewer_clips(helix: Helix, vod_id: str) -> ViewerClipLabels:
    """Viewers' clips of the VOD ``vod_id``; ``VodNotFound`` when Twitch has no such VOD."""
    video = await helix.video(vod_id)
    if video is None:
        raise VodNotFound(f"Twitch has no VOD {vod_id} (deleted, expired or mistyped); check the link")
    return labels_from_clips(video.id, await helix.clips_of_video(video))


def save_viewer_clips(path: str | Path, labels: ViewerClipLabels) -> Path:
    """Write ``labels`` to ``path`` (atomically); return the path."""
    target = Path(path)
    doc = {
        "format": FORMAT, "version": VERSION, "vod_id": labels.vod_id,
        "fetched_at": labels.fetched_at.isoformat() if labels.fetched_at else None,
        "clips": [{"offset_s": c.offset_s, "duration_s": c.duration_s, "views": c.views, "title": c.title,
                   "url": c.url} for c in labels.clips],
    }
    tmp = target.with_name(f".{target.name}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ViewerClipsFileError(f"could not write viewer clips to {target}: {exc.strerror or exc}") from exc
    return target


def load_viewer_clips(path: str | Path) -> ViewerClipLabels:
    """Read a file written by ``save_viewer_clips`` (or a bare list of clip objects)."""
    source = Path(path)
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ViewerClipsFileError(f"cannot read viewer clips from {source}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ViewerClipsFileError(f"{source} is not JSON ({exc}); expected a file written by "
                                   "`highlights twitch-clips`") from exc
    vod_id: str | None = None
    fetched_at: datetime | None = None
    if isinstance(doc, dict):
        if doc.get("format") not in (None, FORMAT):
            raise ViewerClipsFileError(f"{source} is a {doc.get('format')!r} file, not {FORMAT!r}")
        if isinstance(doc.get("version"), int) and doc["version"] > VERSION:
            raise ViewerClipsFileError(f"{source} has version {doc['version']}; this code reads up to {VERSION}")
        vod_id = None if doc.get("vod_id") is None else str(doc["vod_id"])
        fetched_at = _time(doc.get("fetched_at"))
        items = doc.get("clips")
    else:
        items = doc
    if not isinstance(items, list):
        raise ViewerClipsFileError(f"{source}: expected a list of clips under \"clips\"")
    clips = tuple(_label(item, source, i) for i, item in enumerate(items))
    return ViewerClipLabels(vod_id=vod_id, clips=clips, fetched_at=fetched_at)


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _label(item: Any, source: Path, index: int) -> ViewerClipLabel:
    where = f"{source}: clip {index + 1}"
    if not isinstance(item, dict):
        raise ViewerClipsFileError(f"{where} is not an object with offset_s, duration_s and views")
    numbers: dict[str, float] = {}
    for key in ("offset_s", "duration_s", "views"):
        value = item.get(key, 0 if key == "views" else None)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ViewerClipsFileError(f"{where}: {key} must be a number ≥ 0, got {value!r}")
        numbers[key] = float(value)
    return ViewerClipLabel(offset_s=numbers["offset_s"], duration_s=numbers["duration_s"], views=int(numbers["views"]),
                           title=str(item.get("title") or ""), url=str(item.get("url") or ""))


def as_spans(labels: ViewerClipLabels | Sequence[ViewerClipLabel]) -> list[tuple[float, float, int]]:
    """``(start_s, end_s, views)`` per clip, for an evaluation that wants plain numbers."""
    clips = labels.clips if isinstance(labels, ViewerClipLabels) else labels
    return [(c.offset_s, c.end_s, c.views) for c in clips]

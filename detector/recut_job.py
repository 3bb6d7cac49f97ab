"""Worker stage, the RENDER job: one stored clip re-cut (more before, more after, another layout) — no detection.

Consumes a RENDER job whose payload names a stored clip and the cut wanted::

    {"clip_id": 12, "before": 10, "after": 0, "layout": "9:16",
     "media": "/media/vod.mp4" | null, "twitch_vod_id": "2012345678" | null}

and the ``Repository`` (the clip's stored candidate: span, peak, segment label) and ``ArtifactStore``;
produces one rendered file in the job's folder, stored on the clip under ``storage.recuts.cut_key`` (e.g. ``cut 10+0
9:16``), and a small result for the bot to post as a reply. The detector never runs: the span comes from
the stored clip. A Twitch VOD has only the section the new span covers downloaded again (then removed).
Renders go through the render cache under the artifact root, so the same plan (same source, span,
layout) is encoded once; a cut already stored on the clip is handed back without rendering at all.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from detector.errors import ConfigError
from detector.job_control import JobControl
from storage.artifacts import ArtifactStore
from storage.errors import RecordNotFound, StorageError
from storage.records import Clip, Job
from storage.recuts import cut_key
from storage.repo.port import Repository

log = logging.getLogger(__name__)

MAX_EXTRA_S = 60
LAYOUTS = ("16:9", "9:16")
CACHE_FOLDER = "render-cache"


def read_payload(payload: dict[str, Any]) -> tuple[int, int, int, str]:
    """``(clip_id, before, after, layout)``, checked; ``ConfigError`` says what is wrong."""
    clip_id, before, after = payload.get("clip_id"), payload.get("before", 0), payload.get("after", 0)
    layout = payload.get("layout", "16:9")
    for name, value, low, high in (("clip_id", clip_id, 1, 10**18), ("before", before, 0, MAX_EXTRA_S),
                                   ("after", after, 0, MAX_EXTRA_S)):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"The re-cut's {name} must be a whole number from {low} to {high}; got {value!r}.")
    if layout not in LAYOUTS:
        raise ConfigError(f"The re-cut's layout must be one of {', '.join(LAYOUTS)}; got {layout!r}.")
    return int(clip_id), int(before), int(after), str(layout)  # type: ignore[arg-type]


class RecutJob:
    """Runs one RENDER job for a worker (see the module docstring)."""

    def __init__(self, repo: Repository, artifacts: ArtifactStore) -> None:
        self.repo = repo
        self.artifacts = artifacts

    async def run(self, job: Job, control: JobControl) -> dict[str, Any]:
        clip_id, before, after, layout = read_payload(job.payload)
        try:
            clip = await self.repo.get_clip(clip_id)
        except RecordNotFound:
            raise ConfigError(f"Clip {clip_id} is no longer stored, so it cannot be re-cut.") from None
        key = cut_key(before, after, layout)
        start, end = await self._span(clip, before, after)
        out = {"clip_id": clip.id, "key": key, "before": before, "after": after, "layout": layout,
               "start": start, "end": end}
        stored = self._stored(clip, key)
        if stored is not None:
            log.info("clip %d: the cut %r is already rendered (%s); not rendering again", clip.id, key, stored)
            return {**out, "file": stored, "rendered": False}
        control.report("starting", 0.0)
        await control.confirm_owned()
        self.artifacts.ensure_free_space()
        folder = self.artifacts.job_dir(job.id)
        path, mode = await self._render(job, clip, start, end, layout, folder, control)
        rel = self.artifacts.relative(path)
        await control.confirm_owned()
        await self.repo.set_clip_files(clip.id, {key: rel})
        return {**out, "file": rel, "rendered": mode != "cache", "mode": mode}

    async def _span(self, clip: Clip, before: int, after: int) -> tuple[float, float]:
        """The new span on the VOD timeline, kept inside the VOD when its length is known."""
        start = max(clip.start_s - before, 0.0)
        end = clip.end_s + after
        if clip.vod_id is not None:
            try:
                duration = (await self.repo.get_vod(clip.vod_id)).duration_s
            except (RecordNotFound, StorageError):
                duration = None
            if duration:
                end = min(end, float(duration))
        return round(start, 3), round(max(end, start + 1.0), 3)

    def _stored(self, clip: Clip, key: str) -> str | None:
        rel = (clip.files or {}).get(key)
        if not rel:
            return None
        try:
            return rel if self.artifacts.resolve(rel).is_file() else None
        except StorageError:
            return None

    async def _render(self, job: Job, clip: Clip, start: float, end: float, layout: str, folder: Path,
                      control: JobControl) -> tuple[Path, str]:
        from detector.records import Candidate, Explanation
        from detector.render.batch import BatchOptions, render_candidates
        from detector.render.cache import RenderCache
        from detector.render.planner import RenderOptions

        candidate = Candidate(rank=clip.rank, start_s=start, end_s=end, peak_s=min(max(clip.peak_s, start), end),
                              score=clip.score, signals={}, explanation=Explanation(summary="re-cut", contributions={}))
        segment = (clip.explanation or {}).get("segment")
        labels = {clip.rank: str(segment)} if isinstance(segment, str) and segment else {}
        media: Any
        twitch_id = job.payload.get("twitch_vod_id")
        if twitch_id:
            from detector.ingest import fetch_render_sections

            control.report("downloading the section", 0.05)
            media = await control.supervise(asyncio.to_thread(
                fetch_render_sections, str(twitch_id), folder, [candidate], abort=control.should_abort))
        elif job.payload.get("media"):
            media = Path(str(job.payload["media"]))
        else:
            raise ConfigError("The re-cut names neither a Twitch VOD nor a media file to cut from.")

        def progress(stage: str, done: float, total: float | None) -> None:
            share = min(done / total, 1.0) if total else 0.0
            control.report("cutting the clip", 0.3 + 0.65 * share)

        cache = RenderCache(self.artifacts.root / CACHE_FOLDER)
        result = await control.supervise(asyncio.to_thread(
            render_candidates, [candidate], media, folder / "recut", RenderOptions(layout=layout),
            batch=BatchOptions(thumbnails=False, exports=False), labels=labels, cache=cache, progress=progress,
            abort=control.should_abort))
        control.raise_if_stopped()
        if twitch_id:
            from detector.ingest import discard_downloads

            discard_downloads(folder)
        if not result.clips:
            raise ConfigError("The VOD's section for this re-cut could not be downloaded; try again later.")
        rendered = result.clips[0].rendered
        return rendered.path, rendered.mode

"""Render stage, for a queued job: which clips to render, in which layouts, from the job's payload.

Consumes a DETECT job's optional ``render`` spec and the detector's ranked candidates; produces,
under the job's artifact folder, one sub-folder per layout (``16x9``, ``9x16``…) rendered by
``render_candidates``, and returns each rank's files by
layout (plus ``thumb``) and the reel, for the worker to store. Spec (all optional)::

    {"layouts": ["16:9", "9:16"] (or "layout": "9:16"), "top": 5, "size_mib": 10, "reel": false,
     "captions": false}

Captions are burned in from the transcript's words (the worker turns the transcript on when a job
asks for captions); without words, asking for captions adds a warning instead of failing the job.
The first layout also gets thumbnails; the reel, when asked for, is made from the first layout.
Progress is reported for the whole job's rendering — ``(stage, units done, units)``, one unit per clip
and layout plus one for the reel — so it rises clip after clip instead of restarting at each clip.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.errors import ConfigError
from detector.records import AbortCheck, Candidate, ProgressCallback, Word
from detector.render.batch import BatchOptions, SectionSource, render_candidates
from detector.render.layout import LAYOUT_CHOICES
from detector.render.planner import RenderOptions

MIB = 1024 * 1024
MAX_TOP = 50
_CLIP_STAGE = re.compile(r"clip (\d+)/(\d+)")


@dataclass(frozen=True, slots=True)
class RenderSpec:
    layouts: tuple[str, ...] = ("16:9",)
    top: int = 5
    size_mib: float = 10.0
    reel: bool = False
    captions: bool = False

    @classmethod
    def from_payload(cls, spec: Mapping[str, Any]) -> RenderSpec:
        if not isinstance(spec, Mapping):
            raise ConfigError("The job's render spec must be an object.")
        layouts = spec.get("layouts", spec.get("layout", ["16:9"]))  # the bot sends one "layout"
        if isinstance(layouts, str):
            layouts = [layouts]
        if not isinstance(layouts, list) or not layouts or any(x not in LAYOUT_CHOICES for x in layouts):
            raise ConfigError(f"render.layouts must be a list of {', '.join(LAYOUT_CHOICES)}; got {layouts!r}.")
        top, size, reel = spec.get("top", 5), spec.get("size_mib", 10.0), spec.get("reel", False)
        if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= MAX_TOP:
            raise ConfigError(f"render.top must be a whole number from 1 to {MAX_TOP}; got {top!r}.")
        if not isinstance(size, (int, float)) or isinstance(size, bool) or not 0 < size <= 500:
            raise ConfigError(f"render.size_mib must be a size in MiB from 0 to 500; got {size!r}.")
        captions = spec.get("captions", False)
        if not isinstance(reel, bool) or not isinstance(captions, bool):
            raise ConfigError(f"render.reel and render.captions must be true or false; got {reel!r}, {captions!r}.")
        return cls(tuple(dict.fromkeys(layouts)), top, float(size), reel, captions)


@dataclass(frozen=True, slots=True)
class JobRenders:
    files: dict[int, dict[str, Path]] = field(default_factory=dict)
    """Rank → {layout or ``thumb`` → file}."""
    reel: Path | None = None
    warnings: tuple[str, ...] = ()


def layout_folder(layout: str) -> str:
    return layout.replace(":", "x")


def render_job(candidates: Sequence[Candidate], media: Path | SectionSource, job_dir: Path, spec: RenderSpec, *,
               words: Sequence[Word] = (), progress: ProgressCallback | None = None,
               abort: AbortCheck | None = None) -> JobRenders:
    """Render the ``spec.top`` best candidates in every layout of ``spec`` (no render cache: a job's
    folder is its only copy, so retention frees the space)."""
    chosen = list(candidates)[: spec.top]
    files: dict[int, dict[str, Path]] = {c.rank: {} for c in chosen}
    cache = None
    reel = None
    warnings: list[str] = []
    captions = tuple(words) if spec.captions else ()
    # The segmenter's label per clip: in 9:16 a talking clip gets the face crop, gameplay the split.
    labels = {c.rank: c.explanation.segment for c in chosen if c.explanation.segment}
    if spec.captions and not captions:
        warnings.append("captions were asked for, but the transcript has no words here: rendered without captions")
    for i, layout in enumerate(spec.layouts):
        options = RenderOptions(layout=layout, size_limit_bytes=int(spec.size_mib * MIB))
        batch = BatchOptions(thumbnails=i == 0, exports=False, reel=spec.reel and i == 0)
        overall = _overall(progress, layout, i, len(chosen), len(spec.layouts), spec.reel) if progress else None
        result = render_candidates(chosen, media, job_dir / layout_folder(layout), options, batch=batch,
                                   words=captions, labels=labels, cache=cache, progress=overall, abort=abort)
        for out in result.clips:
            files[out.candidate.rank][layout] = out.rendered.path
            if out.thumbnail is not None:
                files[out.candidate.rank]["thumb"] = out.thumbnail
        if result.reel is not None:
            reel = result.reel.path
        warnings.extend(result.warnings)
    return JobRenders(files, reel, tuple(dict.fromkeys(warnings)))


def _overall(progress: ProgressCallback, layout: str, index: int, clips: int, layouts: int,
             reel: bool) -> ProgressCallback:
    """Turns one layout's per-clip reports ("clip 2/5", seconds of that clip) into the job's units, in the
    order they happen: the first layout's clips, its reel, then each further layout's clips."""
    units = float(clips * layouts + (1 if reel else 0)) or 1.0
    start = index * clips + (1 if reel and index > 0 else 0)

    def report(stage: str, done: float, total: float | None) -> None:
        share = min(max(done / total, 0.0), 1.0) if total else 0.0
        clip = _CLIP_STAGE.fullmatch(stage)
        if clip is not None:
            position = start + int(clip.group(1)) - 1 + share
        elif stage == "reel":
            position = clips + share
        else:
            position = float(start)
        progress(f"{layout} {stage}", min(position, units), units)

    return report

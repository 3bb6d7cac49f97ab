"""Render stage, the batch: ranked candidates → clips, thumbnails, reel and exports in one folder.

The entry point the CLI (``highlights render``) and the worker share. Consumes candidates (best
first), the media file (or, for a Twitch VOD, a ``SectionSource``: downloaded sections each holding a
stretch of the VOD; each clip is cut from the section holding it), ``RenderOptions``, the transcript's words and segment labels; produces in
``out_dir``: ``clip-NN-<time>.mp4`` per candidate, a ``.jpg`` thumbnail each and a
``contact-sheet.jpg``, ``highlights.edl`` and ``highlights.otio``, optionally ``reel.mp4``, and a
``render.json`` manifest listing everything with each clip's plan key. Face tracking, thumbnails
and the OTIO export need optional packages; without them those parts are skipped with a warning
in the manifest, never a crash. Progress and abort are checked between and inside clips.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from detector.errors import Cancelled
from detector.export.atomic import write_text_atomic
from detector.export.timefmt import hms
from detector.media.faces import face_detection_unavailable
from detector.records import AbortCheck, Candidate, MediaInfo, ProgressCallback, Word
from detector.render.cache import RenderCache
from detector.render.clip import RenderedClip, render_clip
from detector.render.encode import choose_encoder
from detector.render.errors import RenderError
from detector.render.facecam import track_faces
from detector.render.otio_out import editor_fps, write_edl_for, write_otio
from detector.render.plan import ClipPlan, SourceRef
from detector.render.planner import RenderOptions, plan_clip, wants_face
from detector.render.reel import ReelItem, ReelOptions, render_reel
from detector.sources.media import probe

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """What to make besides the clips."""

    thumbnails: bool = True
    exports: bool = True
    """Write ``highlights.edl`` and ``highlights.otio``."""
    reel: bool = False
    reel_titles: bool = True
    """Title cards before each clip in the reel."""
    reel_size_limit_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class ClipOutput:
    candidate: Candidate
    plan: ClipPlan
    rendered: RenderedClip
    thumbnail: Path | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    clips: tuple[ClipOutput, ...]
    manifest: Path
    reel: RenderedClip | None = None
    contact_sheet: Path | None = None
    exports: dict[str, Path] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def clip_name(c: Candidate) -> str:
    t = hms(c.start_s).replace(":", "-")
    return f"clip-{c.rank:02d}-{t}"


@runtime_checkable
class SectionSource(Protocol):
    """Local files each holding a stretch of the VOD (a Twitch VOD's downloaded sections)."""

    def locate(self, start_s: float, end_s: float) -> tuple[Path, float] | None:
        """The file holding ``[start_s, end_s]`` and the VOD time its first frame shows; None: none."""
        ...


def render_candidates(candidates: Sequence[Candidate], media: str | os.PathLike[str] | SectionSource,
                      out_dir: str | os.PathLike[str],
                      options: RenderOptions, *, batch: BatchOptions | None = None, words: Sequence[Word] = (),
                      labels: Mapping[int, str] | None = None, cache: RenderCache | None = None,
                      progress: ProgressCallback | None = None, abort: AbortCheck | None = None) -> BatchResult:
    """Render every candidate and the extras into ``out_dir``; see the module docstring."""
    batch = batch or BatchOptions()
    options.check()
    out = Path(out_dir)
    encoder = choose_encoder(options.encoder)
    warnings: list[str] = []
    no_faces = face_detection_unavailable() if wants_face(options) else None
    if no_faces:
        warnings.append(f"face tracking unavailable ({no_faces}); vertical clips use a centre crop")
    labels = labels or {}
    outputs: list[ClipOutput] = []
    probed: dict[Path, MediaInfo] = {}
    info: MediaInfo | None = None
    for i, c in enumerate(candidates, start=1):
        if abort is not None and abort():
            raise Cancelled("Rendering was cancelled.")
        located = _locate(media, c)
        if located is None:
            warnings.append(f"clip #{c.rank}: no downloaded section holds {hms(c.start_s)}–{hms(c.end_s)}; not rendered")
            continue
        path, offset = located
        info = probed.get(path) or probed.setdefault(path, probe(path))
        start, end = c.start_s - offset, c.end_s - offset
        local_words = [Word(w.start_s - offset, w.end_s - offset, w.text) for w in words] if offset else words
        face = None
        if wants_face(options) and not no_faces and info.has_video:
            face = track_faces(path, start, end - start, info)
        plan = plan_clip(SourceRef.of(path), info, start, end, options, encoder=encoder, words=local_words,
                         label=labels.get(c.rank), face=face)
        rendered = render_clip(plan, out / f"{clip_name(c)}.mp4", cache=cache, progress=progress, abort=abort,
                               stage=f"clip {i}/{len(candidates)}")
        outputs.append(ClipOutput(c, plan, rendered))
    sheet = None
    if batch.thumbnails and outputs:
        outputs, sheet = _thumbnails(outputs, out, warnings)
    exports: dict[str, Path] = {}
    if batch.exports and outputs and info is not None and not isinstance(media, SectionSource):
        exports = _exports([o.candidate for o in outputs], media, out, info.fps, warnings)
    reel = None
    if batch.reel and outputs:
        first = outputs[0].plan
        reel_opts = ReelOptions(width=first.width, height=first.height, fps=first.fps or (info.fps if info else None) or 30.0,
                                encoder=encoder, title_s=1.5 if batch.reel_titles else 0.0,
                                size_limit_bytes=batch.reel_size_limit_bytes, preset=options.preset)
        items = [ReelItem(o.rendered.path, f"#{o.candidate.rank}  {hms(o.candidate.start_s)}") for o in outputs]
        try:
            reel = render_reel(items, out / "reel.mp4", reel_opts, cache=cache, progress=progress, abort=abort)
        except RenderError as exc:
            warnings.append(f"no reel: {exc}")
            log.warning("no reel: %s", exc)
    manifest = write_text_atomic(out / "render.json", json.dumps(
        _manifest(outputs, reel, sheet, exports, warnings, media if not isinstance(media, SectionSource) else "sections"),
        indent=1, ensure_ascii=False) + "\n")
    return BatchResult(tuple(outputs), manifest, reel, sheet, exports, tuple(warnings))


def _thumbnails(outputs: list[ClipOutput], out: Path, warnings: list[str]) -> tuple[list[ClipOutput], Path | None]:
    try:
        from detector.render.thumbs import contact_sheet, write_thumbnail

        done = []
        for o in outputs:
            c = o.candidate
            thumb = write_thumbnail(o.rendered.path, c.peak_s - c.start_s, o.rendered.duration_s,
                                    out / f"{clip_name(c)}.jpg")
            done.append(ClipOutput(o.candidate, o.plan, o.rendered, thumb.path))
        sheet = contact_sheet([(d.thumbnail, f"#{d.candidate.rank}  {hms(d.candidate.start_s)}") for d in done
                               if d.thumbnail], out / "contact-sheet.jpg")
        return done, sheet
    except RenderError as exc:
        warnings.append(f"no thumbnails: {exc}")
        log.warning("no thumbnails: %s", exc)
        return outputs, None


def _exports(candidates: list[Candidate], media: str | os.PathLike[str], out: Path, fps: float | None,
             warnings: list[str]) -> dict[str, Path]:
    rate = editor_fps(fps)
    done = {"edl": write_edl_for(candidates, media, out / "highlights.edl", fps=rate)}
    try:
        done["otio"] = write_otio(candidates, media, out / "highlights.otio", fps=rate)
    except RenderError as exc:
        warnings.append(f"no OTIO export: {exc}")
        log.warning("no OTIO export: %s", exc)
    return done


def _manifest(outputs: Sequence[ClipOutput], reel: RenderedClip | None, sheet: Path | None,
              exports: Mapping[str, Path], warnings: Sequence[str], media: str | os.PathLike[str]) -> dict[str, Any]:
    return {
        "media": str(media),
        "clips": [{
            "rank": o.candidate.rank, "start": o.candidate.start_s, "end": o.candidate.end_s,
            "file": o.rendered.path.name, "thumbnail": o.thumbnail.name if o.thumbnail else None,
            "layout": o.plan.layout, "width": o.plan.width, "height": o.plan.height, "mode": o.rendered.mode,
            "size_bytes": o.rendered.size_bytes, "scale": o.rendered.scale, "plan_key": o.rendered.plan_key,
            "caption_words": len(o.plan.captions),
        } for o in outputs],
        "reel": reel.path.name if reel else None,
        "contact_sheet": sheet.name if sheet else None,
        "exports": {k: v.name for k, v in exports.items()},
        "warnings": list(warnings),
    }


def _locate(media: str | os.PathLike[str] | SectionSource, c: Candidate) -> tuple[Path, float] | None:
    if isinstance(media, SectionSource):
        return media.locate(c.start_s, c.end_s)
    return Path(media), 0.0

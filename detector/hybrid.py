"""The hybrid detector's extra stages, each runnable on its own: segments, vision and edge snapping.

Consumes the probed media, the settings and (for vision and snapping) the candidates the cheap
signals found; produces what ``pipeline.py`` weaves in: ``Segments`` over the whole VOD (labels that
route the fusion weights), a ``vision`` track scored only on candidate windows, and candidates whose
edges were snapped to exact scene cuts or silences near them. Each stage that cannot run here (no
video, no model, a missing package) returns its reason instead of failing, and the pipeline lists it
under ``unavailable_signals``. Costs: segments read only keyframes and the audio once (linear in the
VOD's length, but cheap); vision and exact cuts decode only candidate windows, so their cost grows
with the number of candidates, not with the VOD's length.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detector.errors import DetectorError
from detector.params import Settings
from detector.records import AbortCheck, Candidate, MediaInfo, ProgressCallback, SignalTrack
from detector.sources.frames import SectionedVideo

if TYPE_CHECKING:
    from detector.signals.segments import Segments

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HybridOptions:
    """Which of the hybrid stages to run (each still needs its inputs and models)."""

    segments: bool = True
    """Label gameplay / talking / menu over the whole VOD and route the fusion weights by label."""
    vision: bool = True
    """Score frames of the best candidates' windows with the image-text model."""
    scenes: bool = True
    """Snap clip edges to exact scene cuts or silences near them."""
    profile: str | None = None
    """Hardware profile naming the vision models (None: chosen from this machine)."""
    models_dir: Path | None = None
    """Where the vision models live (None: ``$HIGHLIGHTS_MODELS_DIR`` or the default folder)."""
    device: str = "auto"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A stage's product, or the reason it did not run."""

    value: Any = None
    reason: str | None = None


def profile_name(options: HybridOptions) -> str:
    """The hardware profile to use: the option, else this machine's automatic choice."""
    if options.profile:
        return options.profile
    try:
        from detector.models.hardware import choose_profile

        return choose_profile().profile.name
    except (ImportError, DetectorError) as exc:  # pragma: no cover - hardware facts unreadable
        log.warning("hardware profile not chosen automatically (%s); using cpu", exc)
        return "cpu"


def run_segments(media: MediaInfo | None, settings: Settings, options: HybridOptions | None = None, *,
                 abort: AbortCheck | None = None, progress: ProgressCallback | None = None,
                 sound: Any = None) -> Outcome:
    """Segments of the whole VOD, from keyframes and speech — and, when the vision model is here, its
    gameplay/talking/menu probabilities on a frame every ``vision_sparse_every_s`` where the cheap
    features leave the label in doubt; only with video (audio alone is too weak). ``sound``: the
    sound features the audio signal's decode already fed (``segment_sound.SoundSteps.result()``)."""
    if media is None or not media.has_video:
        return Outcome(reason="needs a video stream (audio alone cannot tell gameplay from talking well)")
    try:
        from detector.signals.segments import segment_vod
    except ImportError as exc:
        return Outcome(reason=missing_package(exc))
    look = sparse_vision(media, options, abort=abort, progress=progress)
    return Outcome(segment_vod(media, settings, vision_at=look, abort=abort, progress=progress, sound=sound))


def sparse_vision(media: MediaInfo, options: HybridOptions | None, *, abort: AbortCheck | None = None,
                  progress: ProgressCallback | None = None) -> Any:
    """A function giving label probabilities of frames at given times, for the segmenter (None: vision
    off or its model absent)."""
    if options is None or not options.vision or media.duration_s <= 0:
        return None
    try:
        from detector.signals.vision import label_frames, unavailable_reason

        models = vision_models(options)
    except (ImportError, DetectorError):
        return None
    if unavailable_reason(models, media):
        return None

    def look(times: np.ndarray) -> Any:
        return label_frames(media, [float(t) for t in times], models, abort=abort, progress=progress)

    return look


def missing_package(exc: ImportError) -> str:
    return f"needs the Python package {exc.name or exc} (install the worker extras: pip install '.[worker]')"


def vision_models(options: HybridOptions) -> Any:
    from detector.models.vision_catalog import VisionModels

    return VisionModels.for_profile(profile_name(options), directory=options.models_dir, device=options.device)


def run_vision(media: MediaInfo | None, candidates: Sequence[Candidate], settings: Settings, options: HybridOptions,
               duration_s: float, *, abort: AbortCheck | None = None,
               progress: ProgressCallback | None = None) -> Outcome:
    """The vision track over the best ``vision_candidates`` windows."""
    count = int(settings["vision_candidates"])
    if media is None or not media.has_video:
        return Outcome(reason="needs a video stream")
    if count <= 0 or not candidates:
        return Outcome(reason="no candidate windows to look at (vision_candidates is 0)" if count <= 0 else None)
    from detector.signals.vision import score_windows, unavailable_reason

    try:
        models = vision_models(options)
    except ImportError as exc:
        return Outcome(reason=missing_package(exc))
    except DetectorError as exc:  # e.g. a profile naming no vision models
        return Outcome(reason=str(exc))
    reason = unavailable_reason(models, media)
    if reason:
        return Outcome(reason=reason)
    windows = [(c.start_s, c.end_s) for c in candidates[:count]]
    return Outcome(score_windows(media, windows, settings, models, abort=abort, progress=progress, duration_s=duration_s))


def snap(media: MediaInfo | None, candidates: Sequence[Candidate], settings: Settings, duration_s: float,
         transcript: SignalTrack | None, *, video: MediaInfo | None = None, abort: AbortCheck | None = None,
         progress: ProgressCallback | None = None) -> tuple[tuple[Candidate, ...], dict[str, Any]]:
    """Candidates with edges moved to exact cuts (in ``video``, default ``media``) or silences (in
    ``media``'s sound) within ``snap_max_s``; and what was used."""
    from detector.fusion.snap import edge_windows, silences_from_audio, silences_from_words, snap_boundaries

    if media is None or not candidates or settings["snap_max_s"] <= 0:
        return tuple(candidates), {"cuts": None, "silences": 0}
    video = video if video is not None else media
    windows = edge_windows(candidates, settings)
    cuts = np.zeros(0)
    cut_meta: dict[str, Any] | None = None
    if video.has_video:
        cuts, cut_meta = exact_cuts(video, windows, settings, abort=abort, progress=progress)
    silences = silences_from_audio(media, windows, settings, abort=abort) if media.has_audio else np.zeros((0, 2))
    if transcript is not None and transcript.meta.get("words"):
        words = silences_from_words(transcript.meta["words"], transcript.meta.get("spans", ()), settings)
        silences = np.concatenate([np.asarray(silences).reshape(-1, 2), np.asarray(words).reshape(-1, 2)])
    snapped = snap_boundaries(candidates, cuts, silences, settings, duration_s=duration_s)
    return snapped, {"cuts": cut_meta, "silences": int(len(silences)),
                     "moved": sum(1 for c in snapped if c.explanation.snapped)}


def exact_cuts(video: MediaInfo, windows: Sequence[tuple[float, float]], settings: Settings, *,
               abort: AbortCheck | None = None, progress: ProgressCallback | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Exact scene cuts inside ``windows`` (VOD timeline); a ``SectionedVideo`` is scanned section by section."""
    from detector.signals.scenes import exact_scan

    if not isinstance(video, SectionedVideo):
        scan = exact_scan(video, windows, settings, abort=abort, progress=progress)
        return scan.times, scan.to_meta()
    found: list[np.ndarray] = []
    methods: set[str] = set()
    for info, offset in video.sections:
        local = [(max(a, offset) - offset, min(b, offset + info.duration_s) - offset) for a, b in windows
                 if min(b, offset + info.duration_s) > max(a, offset)]
        if local:
            scan = exact_scan(info, local, settings, abort=abort, progress=progress)
            found.append(np.asarray(scan.times, dtype=np.float64) + offset)
            methods.add(scan.method)
    times = np.sort(np.concatenate(found)) if found else np.zeros(0)
    return times, {"method": ", ".join(sorted(methods)) or None, "sections": len(video.sections),
                   "cuts": int(len(times))}


def with_segments(candidates: Sequence[Candidate], segments: Segments | None) -> tuple[Candidate, ...]:
    """Each candidate's explanation gets the segment label at its peak."""
    if segments is None:
        return tuple(candidates)
    return tuple(replace(c, explanation=replace(c.explanation, segment=segments.label_at(c.peak_s)))
                 for c in candidates)

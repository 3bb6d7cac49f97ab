"""Vision signal: what the frames of candidate windows show, scored zero-shot by an image-text model.

Consumes the media file, the windows to look at (the best candidates of the cheap first pass), the
parameters (``vision_frames_per_window``) and a ``VisionModels`` choice. Each window's frames are
decoded small (``detector.sources.frames.window_frames``), then scored in batches against every
prompt of ``detector.models.vision_catalog.PROMPTS`` (softmax over the prompts). Per frame, the log-odds
of the action prompts against the calm ones is standardised over all frames scored in the call
(median and MAD, so it reads like the other signals' z-scores, capped at ``±Z_CAP``) and spread over
the window on the ``HOP_S`` timebase. Produces a ``SignalTrack`` named ``vision`` with one feature,
``action``: that score inside the windows, 0 elsewhere. ``meta`` holds the prompts, every frame's
time and prompt probabilities, and one :class:`WindowVision` per window (top label and prompt,
and, with a captioning model, a one-line caption of the window's most active frame).

:func:`label_frames` scores frames at given times (or frames already decoded, e.g. keyframes) and
returns, per segment label (``gameplay``, ``talking``, ``menu``), the label's probability per frame
— the segmenter's vision input.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

from detector.errors import Cancelled, ModelError
from detector.models.vision_catalog import LABELS, PROMPT_TEXTS, PROMPTS
from detector.models.vision_models import VisionModels, captioner_model, clip_model
from detector.models.vision_transform import ImageTransform
from detector.params import Settings
from detector.records import AbortCheck, Candidate, MediaInfo, ProgressCallback, SignalTrack
from detector.signals.base import HOP_S
from detector.sources.frames import Frame, window_frames

log = logging.getLogger(__name__)

NAME = "vision"
Z_CAP = 6.0
"""The action score never leaves ``[-Z_CAP, Z_CAP]``."""
ROBUST_MIN_FRAMES = 8
"""Fewer frames than this: log-odds are not centred on their median (0 is 'as action as calm')."""
SCALE_FLOOR = 0.5
"""Smallest spread (log-odds units) the action log-odds are divided by."""
LABEL_CHUNK = 64
"""Frames scored together by :func:`label_frames` (keeps memory flat over a whole-VOD pass)."""
_ACTION = np.array([p.action for p in PROMPTS])
_LABEL_OF = np.array([[p.label == label for label in LABELS] for p in PROMPTS], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class WindowVision:
    """What one scored window shows."""

    start_s: float
    end_s: float
    label: str
    """The segment label with the highest mean probability over the window's frames."""
    top_prompt: str
    top_prob: float
    """Mean probability of ``top_prompt`` over the window's frames."""
    action: float
    """Highest action score of the window's frames."""
    peak_s: float
    """Time of that frame."""
    caption: str | None = None


def unavailable_reason(models: VisionModels, media: MediaInfo | None = None) -> str | None:
    """Why the vision signal cannot run on ``media`` here, or None."""
    if media is not None and not media.has_video:
        return f"{media.path} has no video stream"
    return models.unavailable_reason()


def decode_width(media: MediaInfo, short_side: int) -> int:
    """Frame width (even pixels) whose short side is at least ``short_side``, no wider than the source."""
    w, h = media.width or short_side, media.height or short_side
    width = math.ceil(short_side * max(w / h, 1.0)) + 1
    return max(2, min(width, w + w % 2))


def score_windows(media: MediaInfo, windows: Iterable[Any], settings: Settings, models: VisionModels, *,
                  abort: AbortCheck | None = None, progress: ProgressCallback | None = None,
                  duration_s: float | None = None) -> SignalTrack:
    """The ``vision`` track over ``duration_s`` (default: the media's) scoring ``windows`` only.

    ``windows`` are ``(start_s, end_s)`` pairs or objects with ``start_s``/``end_s`` (candidates).
    Raises ``ModelError`` when the image-text model is missing (check :func:`unavailable_reason`).
    """
    duration = float(duration_s or media.duration_s)
    spans = [s for s in (_span(w, duration) for w in windows) if s[1] > s[0]]
    duration = duration or max((e for _, e in spans), default=0.0)
    n_bins = max(int(math.ceil(duration / HOP_S)), 1)
    per_window = int(settings["vision_frames_per_window"])
    reason = unavailable_reason(models, media)
    if reason:
        raise ModelError(f"The vision signal cannot run: {reason}.")
    short = ImageTransform.from_dir(models.path(models.clip or "")).short_side()
    caption_reason = models.captioner_reason()
    if caption_reason is None:
        try:
            short = max(short, ImageTransform.from_dir(models.path(models.captioner or "")).short_side())
        except ModelError as exc:
            caption_reason = str(exc)
    width = decode_width(media, short)
    frames: list[list[Frame]] = []
    for i, (s, e) in enumerate(spans):
        _check(abort)
        if progress:
            progress("vision frames", i, len(spans))
        frames.append(window_frames(media, s, e, per_window, width=width, abort=abort))
    flat = [f for fs in frames for f in fs]
    probs = np.zeros((0, len(PROMPTS)), np.float32)
    if flat:
        with clip_model(models) as clip:
            def done(k: int) -> None:
                _check(abort)
                if progress:
                    progress("vision", k, len(flat))
            probs = clip.probabilities([f.image for f in flat], PROMPT_TEXTS, done)
    action, center, scale = _action_scores(probs)
    values = _spread(spans, frames, action, n_bins)
    infos = _window_infos(spans, frames, probs, action)
    if flat and caption_reason is None:
        try:
            infos = _with_captions(infos, frames, models, abort)
        except ModelError as exc:  # captions are optional: the scores stand without them
            caption_reason = str(exc)
            log.warning("no captions: %s", exc)
    elif models.captioner and caption_reason:
        log.info("no captions: %s", caption_reason)
    meta = {
        "prompts": PROMPT_TEXTS, "prompt_labels": tuple(p.label for p in PROMPTS),
        "frame_times": np.array([f.t_s for f in flat], np.float64), "frame_probs": probs,
        "frame_action": action, "log_odds_center": center, "log_odds_scale": scale,
        "windows": tuple(infos), "frames_per_window": per_window, "frame_width": width,
        "models": {"clip": models.clip, "captioner": models.captioner if caption_reason is None else None},
        "caption_unavailable": caption_reason if models.captioner else None,
    }
    return SignalTrack(name=NAME, hop_s=HOP_S, values=values, features={"action": values}, meta=meta)


def label_frames(media: MediaInfo, times_or_keyframes: Iterable[float] | Iterable[Frame], models: VisionModels, *,
                 abort: AbortCheck | None = None,
                 progress: ProgressCallback | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per label (``gameplay``, ``talking``, ``menu``): (frame times in s, the label's probability).

    Takes times (a frame is decoded at each) or ``Frame``s already decoded (e.g. ``keyframes(media,
    width=224, gray=False)``; grey frames work too, less well). The three probabilities of a frame
    sum to 1. Times past the end of the media are dropped. Raises ``ModelError`` when the model is
    missing.
    """
    items = iter(times_or_keyframes)
    first = next(items, None)
    if first is None:
        return {label: (np.zeros(0), np.zeros(0, np.float32)) for label in LABELS}
    chain = itertools.chain([first], items)
    times: list[float] = []
    rows: list[np.ndarray] = []
    with clip_model(models) as clip:
        if isinstance(first, Frame):
            source = cast(Iterator[Frame], chain)
        else:
            source = _frames_at(media, chain, decode_width(media, clip.transform.short_side()), abort)
        while True:
            _check(abort)
            chunk = list(itertools.islice(source, LABEL_CHUNK))
            if not chunk:
                break
            rows.append(clip.probabilities([f.image for f in chunk], PROMPT_TEXTS) @ _LABEL_OF)
            times.extend(f.t_s for f in chunk)
            if progress:
                progress("vision labels", len(times), None)
    probs = np.concatenate(rows) if rows else np.zeros((0, len(LABELS)), np.float32)
    t = np.asarray(times, np.float64)
    return {label: (t, probs[:, j].astype(np.float32)) for j, label in enumerate(LABELS)}


def vision_meta(track: SignalTrack | None) -> dict[str, object] | None:
    """A JSON-friendly summary of a vision track for ``DetectionResult.meta``."""
    if track is None:
        return None
    m = track.meta
    return {"windows": len(m.get("windows", ())), "frames": len(m.get("frame_times", ())),
            "models": m.get("models"), "caption_unavailable": m.get("caption_unavailable"),
            "labels": [[w.start_s, w.end_s, w.label, w.top_prompt, w.caption] for w in m.get("windows", ())]}


def window_for(track: SignalTrack, start_s: float, end_s: float) -> WindowVision | None:
    """The scored window that overlaps ``[start_s, end_s)`` most, or None."""
    best, best_overlap = None, 0.0
    for w in track.meta.get("windows", ()):
        overlap = min(w.end_s, end_s) - max(w.start_s, start_s)
        if overlap > best_overlap:
            best, best_overlap = w, overlap
    return best


def vision_note(w: WindowVision) -> str:
    """One line for an explanation, e.g. ``looks like intense gameplay action (62 %): “a man …”``."""
    note = f"looks like {w.top_prompt} ({w.top_prob:.0%})"
    return f"{note}: \u201c{w.caption}\u201d" if w.caption else note


def with_vision(candidates: Sequence[Candidate], track: SignalTrack) -> tuple[Candidate, ...]:
    """Candidates whose span was scored get the vision note appended to their summary."""
    out = []
    for c in candidates:
        w = window_for(track, c.start_s, c.end_s)
        if w is not None:
            e = c.explanation
            c = replace(c, explanation=replace(e, summary=f"{e.summary}; {vision_note(w)}",
                                               vision=f"{w.top_prompt} ({w.top_prob:.0%})", caption=w.caption))
        out.append(c)
    return tuple(out)


def _span(w: Any, duration: float) -> tuple[float, float]:
    s, e = (w.start_s, w.end_s) if hasattr(w, "start_s") else (w[0], w[1])
    s, e = max(float(s), 0.0), float(e)
    return s, (min(e, duration) if duration > 0 else e)


def _check(abort: AbortCheck | None) -> None:
    if abort is not None and abort():
        raise Cancelled("Stopped while scoring frames with the vision model.")


def _action_scores(probs: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Per frame: standardised log-odds of the action prompts against the rest; and centre, scale."""
    if len(probs) == 0:
        return np.zeros(0, np.float32), 0.0, 1.0
    eps = 1e-6
    p_action = probs[:, _ACTION].sum(axis=1)
    odds = np.log(p_action + eps) - np.log(1.0 - p_action + eps)
    center, scale = 0.0, 1.0
    if len(odds) >= ROBUST_MIN_FRAMES:
        center = float(np.median(odds))
        scale = max(1.4826 * float(np.median(np.abs(odds - center))), SCALE_FLOOR)
    z = np.clip((odds - center) / scale, -Z_CAP, Z_CAP)
    return z.astype(np.float32), center, scale


def _spread(spans: list[tuple[float, float]], frames: list[list[Frame]], action: np.ndarray, n_bins: int) -> np.ndarray:
    """Each window's frame scores interpolated over its bins; overlapping windows averaged; 0 elsewhere."""
    total = np.zeros(n_bins, np.float64)
    count = np.zeros(n_bins, np.float64)
    k = 0
    for (s, e), fs in zip(spans, frames):
        scores, k = action[k:k + len(fs)], k + len(fs)
        if not fs:
            continue
        lo, hi = int(math.floor(s / HOP_S)), min(int(math.ceil(e / HOP_S)), n_bins)
        if hi <= lo:
            continue
        centers = (np.arange(lo, hi) + 0.5) * HOP_S
        total[lo:hi] += np.interp(centers, [f.t_s for f in fs], scores)
        count[lo:hi] += 1.0
    return np.divide(total, count, out=np.zeros(n_bins), where=count > 0).astype(np.float32)


def _window_infos(spans: list[tuple[float, float]], frames: list[list[Frame]], probs: np.ndarray,
                  action: np.ndarray) -> list[WindowVision]:
    infos, k = [], 0
    for (s, e), fs in zip(spans, frames):
        p, a = probs[k:k + len(fs)], action[k:k + len(fs)]
        k += len(fs)
        if not fs:
            continue
        mean = p.mean(axis=0)
        top, peak = int(np.argmax(mean)), int(np.argmax(a))
        label = LABELS[int(np.argmax(mean @ _LABEL_OF))]
        infos.append(WindowVision(s, e, label, PROMPT_TEXTS[top], round(float(mean[top]), 4),
                                  round(float(a[peak]), 4), fs[peak].t_s))
    return infos


def _with_captions(infos: list[WindowVision], frames: list[list[Frame]], models: VisionModels,
                   abort: AbortCheck | None) -> list[WindowVision]:
    """Each window's caption, written from its most active frame (one batch, then the model goes)."""
    _check(abort)
    by_time = {f.t_s: f for fs in frames for f in fs}
    images = [by_time[w.peak_s].image for w in infos]
    with captioner_model(models) as captioner:
        lines = captioner.captions(images)
    return [replace(w, caption=line or None) for w, line in zip(infos, lines)]


def _frames_at(media: MediaInfo, times: Iterable[Any], width: int, abort: AbortCheck | None) -> Iterator[Frame]:
    """One frame at each time (the frame nearest it), dropped when the time is past the end."""
    for t in times:
        _check(abort)
        t = float(t)
        got = window_frames(media, t - HOP_S / 2, t + HOP_S / 2, 1, width=width, abort=abort)
        if got:
            yield Frame(t, got[0].image)

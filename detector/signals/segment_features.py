"""Signals stage, segment features: cheap per-step measurements the gameplay/talking segmenter reads.

Consumes a media file (``MediaInfo``), the step length (``segment_step_s``) and, optionally, the
vision model's per-frame label probabilities; produces ``SegmentFeatures``: one value per step over
the whole VOD for each feature below (a feature whose stream is missing is absent, with the reason
in ``reasons``).

From keyframes only (``detector.sources.frames.keyframes``, grey, ``FRAME_WIDTH`` wide; Twitch VODs
carry a keyframe every 2 s, so a 4 h VOD is ~7 200 small decodes):

- ``motion`` — mean absolute grey difference between keyframes (0–255 grey levels): the smaller of
  a keyframe's differences to the previous and to the next one, so one scene switch is no motion.
- ``detail`` — share of pixels on an edge (grey gradient above ``EDGE_LEVEL``), 0–1.
- ``cuts`` — share of keyframe-to-keyframe changes within ±``CUT_WINDOW_S``/2 that are cuts (the
  grey histogram moved by more than ``CUT_HIST``), 0–1.
- ``face`` — area of the largest face over the frame's area, 0–1 (OpenCV's bundled Haar cascade
  via ``detector.media.faces.detect_faces``) on one keyframe per ``FACE_EVERY_S`` and on both
  sides of every scene switch; a 3-sample median drops single false finds. Faces under ~2 % of the
  frame are not seen at this size, on purpose: a corner facecam over gameplay is not "talking".

From the audio (16 kHz mono, streamed by ``detector.sources.audio_stream``):

- ``speech`` — share of 32 ms windows that faster-whisper's bundled Silero VAD calls speech
  (probability ≥ ``SPEECH_PROB``), 0–1, on one window in ``VAD_EVERY`` (``segment_sound``). Measured
  on this 2-core machine: ~2 s per hour of audio (one thread; 8–14 s when every window was scored).
  Without faster-whisper/onnxruntime a voice-band energy ratio stands in (``meta["speech_method"]``
  says which).
- ``loudness_db`` — RMS level in dBFS (−90 floor).

Step ``i`` covers ``[i * step_s, (i + 1) * step_s)``: a picture feature is the mean over the
keyframes inside it, and a step without a keyframe holds the last one before it
(``segment_steps``). The picture pass (``segment_pictures``) and the sound pass (``segment_sound``)
run side by side in two threads.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector.errors import MediaError
from detector.records import AbortCheck, MediaInfo, ProgressCallback
from detector.signals.segment_pictures import video_features
from detector.signals.segment_sound import audio_features, fit_steps
from detector.signals.segment_steps import step_count

log = logging.getLogger(__name__)

FEATURE_NAMES = ("motion", "detail", "cuts", "face", "speech", "loudness_db")


@dataclass(frozen=True, slots=True)
class SegmentFeatures:
    """Per-step features over the VOD (see the module docstring for each one's meaning and unit)."""

    step_s: float
    duration_s: float
    values: dict[str, np.ndarray]
    """Feature name → one float32 value per step; only the features that could be measured."""
    vision: dict[str, np.ndarray] = field(default_factory=dict)
    """Segment label → the vision model's probability per step (empty without the model)."""
    reasons: dict[str, str] = field(default_factory=dict)
    """``"video"``/``"audio"`` → why that group of features is missing."""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_steps(self) -> int:
        return step_count(self.duration_s, self.step_s)

    def get(self, name: str) -> np.ndarray | None:
        return self.values.get(name)

    def centres(self) -> np.ndarray:
        return (np.arange(self.n_steps) + 0.5) * self.step_s


def vision_on_steps(vision: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None, step_s: float,
                    duration_s: float, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """The vision model's ``label → (times, probs)`` held/interpolated onto the step centres.

    Labels the segmenter does not know are ignored; empty or mismatched series are skipped."""
    out: dict[str, np.ndarray] = {}
    if not vision:
        return out
    centres = (np.arange(step_count(duration_s, step_s)) + 0.5) * step_s
    for label, (times, probs) in vision.items():
        t = np.asarray(times, dtype=np.float64)
        p = np.asarray(probs, dtype=np.float64)
        if label not in labels or len(t) == 0 or len(t) != len(p):
            log.debug("vision series %r skipped (unknown label or empty/mismatched)", label)
            continue
        order = np.argsort(t)
        out[label] = np.clip(np.interp(centres, t[order], p[order]), 0.0, 1.0).astype(np.float32)
    return out


def with_vision(features: SegmentFeatures, vision: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                labels: Sequence[str]) -> SegmentFeatures:
    """``features`` with the vision model's probabilities added later (the sparse vision pass may run
    after the feature pass): label again with ``segments.label_segments`` — no decoding twice."""
    steps = vision_on_steps(vision, features.step_s, features.duration_s, labels)
    return dataclasses.replace(features, vision={**features.vision, **steps})


def compute_segment_features(media: MediaInfo, step_s: float, *,
                             vision: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
                             labels: Sequence[str] = (), abort: AbortCheck | None = None,
                             progress: ProgressCallback | None = None, parallel: bool = True,
                             sound: tuple[dict[str, np.ndarray], dict[str, Any]] | None = None) -> SegmentFeatures:
    """Every feature the media allows; a missing or undecodable stream is a reason, not a failure.

    ``sound``: the sound features already measured on the same VOD (``segment_sound.SoundSteps``
    fed by the audio signal's decode): the sound pass is then skipped, whatever the media holds.

    With ``parallel`` the sound pass runs in a second thread while the pictures are read (ffmpeg,
    the VAD and OpenCV release the GIL, so two cores nearly halve the wall time); progress calls
    from both are serialised by a lock. ``Cancelled`` from either pass propagates."""
    duration = float(media.duration_s)
    values: dict[str, np.ndarray] = {}
    reasons: dict[str, str] = {}
    meta: dict[str, Any] = {}
    timings: dict[str, float] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def halted() -> bool:
        return stop.is_set() or (abort is not None and bool(abort()))

    def report(stage: str, done: float, total: float | None) -> None:
        with lock:
            progress(stage, done, total)  # type: ignore[misc]

    hook = report if progress is not None else None
    passes: list[tuple[str, Callable[..., tuple[dict[str, np.ndarray], dict[str, Any]]]]] = []
    if media.has_video and media.width and media.height:
        passes.append(("video", video_features))
    else:
        reasons["video"] = "the media has no video stream"
    if sound is not None:
        values.update(fit_steps(sound[0], step_count(duration, step_s)))
        meta.update(sound[1], sound_shared=True)
    elif media.has_audio:
        passes.append(("audio", audio_features))
    else:
        reasons["audio"] = "the media has no audio stream"

    def run(group: str, fn: Callable[..., tuple[dict[str, np.ndarray], dict[str, Any]]]):
        t0 = time.perf_counter()
        try:
            return fn(media, step_s, duration, abort=halted, progress=hook), None, time.perf_counter() - t0
        except MediaError as exc:
            return None, exc, time.perf_counter() - t0

    results: list[tuple[str, Any]] = []
    if parallel and len(passes) == 2:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="segment-sound") as pool:
            future = pool.submit(run, *passes[1])
            try:
                first = run(*passes[0])
            except BaseException:
                stop.set()  # the sound pass stops at its next chunk; its Cancelled is dropped
                raise
            results = [(passes[0][0], first), (passes[1][0], future.result())]
    else:
        results = [(group, run(group, fn)) for group, fn in passes]
    for group, (found, error, seconds) in results:
        timings[f"{group}_s"] = round(seconds, 3)
        if error is not None:
            log.warning("segment %s features unavailable: %s", group, error)
            reasons[group] = f"the {group} could not be decoded ({error})"
        else:
            values.update(found[0])
            meta.update(found[1])
    meta["timings"] = timings
    steps = vision_on_steps(vision, step_s, duration, labels)
    return SegmentFeatures(step_s, duration, values, steps, reasons, meta)

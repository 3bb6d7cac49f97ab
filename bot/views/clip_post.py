"""A posted clip: title, score breakdown, segment label and VOD deep link, as an embed (pure functions).

Consumes a ``Clip`` (its ``signals`` and ``explanation`` as the worker stored them), the job's
VOD facts and an optional note (why no video is attached); produces a ``discord.Embed``. The
footer carries ``clip <id>``: after a crash between sending and recording a message, the poster
finds the message by it instead of posting the clip again.

Explanation keys read: ``summary``, ``chat_rate_ratio``, ``top_emotes``, ``audio_z``, and when the
detector provides them ``quote`` / ``transcript`` (speech), ``vision`` / ``vlm`` (what the VLM saw),
``segment`` (gameplay, talking, menu, other: shown with an icon), ``caption`` (the captioning model's
line: the description) and ``muted_s`` (seconds of the clip Twitch muted for DMCA: a warning line).

Every piece is cut to fit Discord's embed limits (title 256, description 4096, field value 1024,
6000 characters in all) with room to spare.
"""

from __future__ import annotations

import math
import re
from typing import Any

import discord

from bot.views.embed_limits import fit
from storage.records import Clip

FOOTER_MARK = re.compile(r"\bclip (\d+)\b")
TITLE_MAX = 256
FIELD_MAX = 1024
CAPTION_MAX = 300
SEGMENT_ICONS = {"gameplay": "🎮", "talking": "🗣️", "menu": "📋", "other": "🎬"}


def twitch_time(seconds: float) -> str:
    """``3723`` → ``1h02m03s`` (Twitch's ``?t=`` form)."""
    s = max(int(seconds), 0)
    return f"{s // 3600}h{(s % 3600) // 60:02d}m{s % 60:02d}s"


def clock(seconds: float) -> str:
    """``3723`` → ``1:02:03``; ``83`` → ``1:23``."""
    s = max(int(seconds), 0)
    h, m, sec = s // 3600, (s % 3600) // 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def deep_link(twitch_vod_id: str, seconds: float) -> str:
    return f"https://www.twitch.tv/videos/{twitch_vod_id}?t={twitch_time(seconds)}"


def clip_title(clip: Clip) -> str:
    """A transcript quote when there is one, else the detector's one-line summary."""
    e = clip.explanation or {}
    quote = e.get("quote") or e.get("transcript")
    if isinstance(quote, str) and quote.strip():
        text = f"“{quote.strip()}”"
    else:
        text = str(e.get("summary") or f"Highlight #{clip.rank}")
    text = f"#{clip.rank} · {text}"
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1] + "…"


def breakdown(clip: Clip) -> list[str]:
    """The score's reasons, one short line each."""
    e: dict[str, Any] = clip.explanation or {}
    lines: list[str] = []
    ratio = _number(e.get("chat_rate_ratio"))
    if ratio is not None:
        lines.append(f"chat ×{ratio:.1f} over baseline")
    emotes = e.get("top_emotes") or []
    names = [str(item[0]) for item in emotes if isinstance(item, list | tuple) and item][:3]
    if names:
        lines.append("top emotes " + ", ".join(names))
    audio = _number(e.get("audio_z"))
    if audio is not None:
        lines.append(f"audio z {audio:.1f}")
    speech = e.get("transcript")
    if isinstance(speech, str) and speech.strip() and speech.strip() != str(e.get("quote") or "").strip():
        lines.append(f"said: “{_short(speech.strip(), 120)}”")
    vision = e.get("vision") or e.get("vlm")
    if isinstance(vision, str) and vision.strip():
        lines.append(f"seen: {_short(vision.strip(), 120)}")
    return lines


def segment_label(explanation: dict[str, Any]) -> str | None:
    """``🎮 gameplay`` / ``🗣️ talking`` for the clip's segment (None when it was not segmented)."""
    segment = explanation.get("segment")
    if not isinstance(segment, str) or not segment.strip():
        return None
    name = _short(segment.strip(), 60)
    icon = SEGMENT_ICONS.get(name.lower())
    return f"{icon} {name}" if icon else name


def muted_line(explanation: dict[str, Any]) -> str | None:
    """The DMCA warning when part of the clip is muted on Twitch (None when nothing is)."""
    muted = _number(explanation.get("muted_s"))
    if muted is None or muted <= 0:
        return None
    return f"⚠️ {max(round(muted), 1)} s of this clip are muted on Twitch (DMCA)"


def description(explanation: dict[str, Any]) -> str | None:
    """The caption (italic) and the muted warning, one line each."""
    lines = []
    caption = explanation.get("caption")
    if isinstance(caption, str) and caption.strip():
        lines.append(f"*{discord.utils.escape_markdown(_short(' '.join(caption.split()), CAPTION_MAX))}*")
    muted = muted_line(explanation)
    if muted:
        lines.append(muted)
    return "\n".join(lines) or None


def clip_embed(clip: Clip, *, job_id: int, twitch_vod_id: str | None, source_name: str | None = None,
               note: str | None = None) -> discord.Embed:
    """The clip's message embed (see the module docstring)."""
    link = deep_link(twitch_vod_id, clip.start_s) if twitch_vod_id else None
    explanation: dict[str, Any] = clip.explanation or {}
    embed = discord.Embed(title=clip_title(clip), url=link, colour=discord.Colour.purple(),
                          description=description(explanation))
    score = _number(clip.score)
    reasons = breakdown(clip)
    embed.add_field(name="Score", value=_short((f"**{score:.2f}**" if score is not None else "—")
                                               + ("\n" + "\n".join(reasons) if reasons else ""), FIELD_MAX),
                    inline=True)
    segment = segment_label(explanation)
    if segment:
        embed.add_field(name="Segment", value=segment, inline=True)
    span = f"{clock(clip.start_s)}–{clock(clip.end_s)}"
    where = f"[{span} on Twitch]({link})" if link else f"{span}" + (f" in {source_name}" if source_name else "")
    embed.add_field(name="In the VOD", value=where, inline=False)
    if note:
        embed.add_field(name="Video", value=note[:1000], inline=False)
    embed.set_footer(text=f"clip {clip.id} · job {job_id} · rank {clip.rank}")
    return fit(embed)


def clip_id_of(message_embeds: list[dict[str, Any]]) -> int | None:
    """The clip id a posted message carries in its embed footer (None if it is not a clip post)."""
    for embed in message_embeds:
        match = FOOTER_MARK.search(str((embed.get("footer") or {}).get("text") or ""))
        if match:
            return int(match.group(1))
    return None


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

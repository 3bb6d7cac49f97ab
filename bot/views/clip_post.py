"""A posted clip as a community reads it: who streamed it, a title in words, why it is here, where to watch.

Consumes a ``Clip`` (its explanation, rank, span), a ``PostContext`` (the job's VOD facts, the
streamer, who asked, how many clips the job found) and an optional note (why no video is attached);
produces a ``discord.Embed`` (pure functions). The streamer is the embed's author (name and channel
link); the title is what was said, else what chat said most, else what the picture shows
(``bot.views.clip_text``); the description gives "#1 of 8", the duration, where it is in the VOD,
"Why it's here" with two or three real chat lines, and who asked. The footer carries ``clip <id>``:
after a crash between sending and recording a message, the poster finds the message by it instead of
posting the clip again. Every piece is cut to fit Discord's embed limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

import discord

from bot.views.clip_text import chat_lines, clip_title, why_text
from bot.views.embed_limits import cut, fit
from storage.records import Clip, Job

FOOTER_MARK = re.compile(r"\bclip (\d+)\b")
CAPTION_MAX = 300
SCHEDULER = "scheduler"


@dataclass(frozen=True, slots=True)
class PostContext:
    """What a clip post says about the job it came from."""

    job_id: int
    total: int
    """Clips the job posts (the "of 8" in "#1 of 8")."""
    twitch_vod_id: str | None = None
    source_name: str | None = None
    """A local file's name (no public link exists for it)."""
    vod_title: str | None = None
    channel_login: str | None = None
    channel_name: str | None = None
    requested_by: str | None = None
    """A Discord user id, ``scheduler``, or None."""
    finished_at: datetime | None = None


def post_context(job: Job, total: int, *, channel_login: str | None = None,
                 channel_name: str | None = None) -> PostContext:
    """The context of ``job``'s posts; ``channel_*``: the streamer as stored, when the payload names none."""
    payload: dict[str, Any] = job.payload or {}
    raw = payload.get("vod")
    vod: dict[str, Any] = raw if isinstance(raw, dict) else {}
    media = payload.get("media") or payload.get("chat")
    login = str(vod.get("channel") or vod.get("newest_of") or channel_login or "") or None
    return PostContext(
        job_id=job.id, total=total,
        twitch_vod_id=str(vod["twitch_vod_id"]) if vod.get("twitch_vod_id") else None,
        source_name=PurePath(str(media)).name if media else None,
        vod_title=str(vod["title"]).strip() or None if isinstance(vod.get("title"), str) else None,
        channel_login=login, channel_name=channel_name or login, requested_by=job.requested_by,
        finished_at=job.finished_at)


def twitch_time(seconds: float) -> str:
    """``3723`` → ``1h02m03s`` (Twitch's ``?t=`` form)."""
    s = max(int(seconds), 0)
    return f"{s // 3600}h{(s % 3600) // 60:02d}m{s % 60:02d}s"


def clock(seconds: float) -> str:
    """``3723`` → ``1:02:03``; ``83`` → ``1:23``."""
    s = max(int(seconds), 0)
    h, m, sec = s // 3600, (s % 3600) // 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def spoken_duration(seconds: float) -> str:
    """``27`` → ``27 s``; ``83`` → ``1 min 23 s``."""
    s = max(int(round(seconds)), 1)
    return f"{s} s" if s < 60 else f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")


def deep_link(twitch_vod_id: str, seconds: float) -> str:
    return f"https://www.twitch.tv/videos/{twitch_vod_id}?t={twitch_time(seconds)}"


def watch_link(clip: Clip, ctx: PostContext) -> tuple[str, str] | None:
    """The link button's label and address ("Watch at 1:02:03 on Twitch"); None for a local file."""
    if not ctx.twitch_vod_id:
        return None
    return f"Watch at {clock(clip.start_s)} on Twitch", deep_link(ctx.twitch_vod_id, clip.start_s)


def requested_text(ctx: PostContext) -> str | None:
    if ctx.requested_by == SCHEDULER:
        return "Auto-clipped from the newest VOD"
    if ctx.requested_by and ctx.requested_by.isdigit():
        return f"Requested by <@{ctx.requested_by}>"  # a mention inside an embed shows the name, pings no one
    return None


def plain(text: str, limit: int) -> str:
    """Someone else's text (a VOD title, a file name) shown as typed."""
    return discord.utils.escape_markdown(cut(" ".join(text.split()), limit))


def description(clip: Clip, ctx: PostContext, note: str | None = None) -> str:
    """The lines under the title (see the module docstring)."""
    e: dict[str, Any] = clip.explanation or {}
    where = f"at {clock(clip.start_s)}"
    if ctx.vod_title:
        where += f" of “{plain(ctx.vod_title, 80)}”"
    elif ctx.source_name and not ctx.twitch_vod_id:
        where += f" in {plain(ctx.source_name, 80)}"
    lines = [f"**#{clip.rank} of {max(ctx.total, clip.rank)}** · {spoken_duration(clip.end_s - clip.start_s)} · {where}"]
    caption = e.get("caption")
    if isinstance(caption, str) and caption.strip():
        lines.append(f"*{plain(caption, CAPTION_MAX)}*")
    lines.append(f"**Why it's here:** {why_text(clip)}")
    said = chat_lines(clip)
    if said:
        lines.append("\n".join(f"> {line}" for line in said))
    muted = _number(e.get("muted_s"))
    if muted is not None and muted > 0:
        lines.append(f"⚠️ {max(round(muted), 1)} s of this clip are muted on Twitch (DMCA)")
    if note:
        lines.append(f"📎 {note}")
    who = requested_text(ctx)
    if who:
        lines.append(who)
    return "\n".join(lines)


def clip_embed(clip: Clip, ctx: PostContext, *, note: str | None = None, thumbnail: str | None = None) -> discord.Embed:
    """The clip's message embed; ``thumbnail``: an attachment's file name to show as the picture."""
    link = watch_link(clip, ctx)
    embed = discord.Embed(title=clip_title(clip), url=link[1] if link else None, colour=discord.Colour.purple(),
                          description=description(clip, ctx, note), timestamp=ctx.finished_at)
    if ctx.channel_name:
        embed.set_author(name=cut(ctx.channel_name, 80),
                         url=f"https://www.twitch.tv/{ctx.channel_login}" if ctx.channel_login else None)
    elif ctx.twitch_vod_id:  # the streamer is unknown (no Twitch API, none named): the VOD itself is credited
        embed.set_author(name=f"Twitch VOD {ctx.twitch_vod_id}", url=f"https://www.twitch.tv/videos/{ctx.twitch_vod_id}")
    elif ctx.source_name:
        embed.set_author(name=cut(ctx.source_name, 80))
    if thumbnail:
        embed.set_image(url=f"attachment://{thumbnail}")
    embed.set_footer(text=f"👍 Keep / 👎 Skip teach the bot what this server likes · clip {clip.id} · job {ctx.job_id}")
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
    return v if v == v and v not in (float("inf"), float("-inf")) else None

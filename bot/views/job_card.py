"""The job card: a job's state in plain words (queue position, what it is doing, time so far, an honest
ETA, where the clips went) and its cancel button.

Consumes a ``Job`` (and what the tracker knows around it: queue position, the tuning it runs with, the
clips' thread, how long progress has stood still, the time now); produces a ``discord.Embed`` and a
view. The title names the VOD's title and its streamer when Twitch told the bot about them. Stages
are said in words ("Reading chat", "Listening for hype", "Cutting clip 2 of 8", ``stage_words``); the
ETA appears only once it can be honest (``eta_seconds``: enough progress and time to measure a rate,
never less than the time progress has already stood still); a finished card links the thread and says
why there are fewer clips than asked, or none; a failure says what went wrong and what to try
(``failure_text``). Pure functions: the same inputs give the same card, so the tracker edits a
message only when its card really changed.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import PurePath
from typing import Any

import discord

from bot.views.card_words import (
    eta_seconds,
    failure_text,
    found_text,
    plain,
    stage_words,
)
from bot.views.clip_post import PostContext
from bot.views.embed_limits import fit
from storage.records import Job, JobKind, JobStatus

CARD_TITLE = "Highlights · "
CARD_FOOTER = re.compile(r"^job (\d+)\b")
CANCEL_ID = "hl:cancel:{job_id}"
CANCEL_TEMPLATE = r"hl:cancel:(?P<job>[0-9]{1,18})"
BAR_WIDTH = 16
COLOURS = {
    JobStatus.QUEUED: discord.Colour.light_grey(),
    JobStatus.RUNNING: discord.Colour.blurple(),
    JobStatus.SUCCEEDED: discord.Colour.green(),
    JobStatus.FAILED: discord.Colour.red(),
    JobStatus.CANCELLED: discord.Colour.dark_grey(),
}
STATUS_TEXT = {
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "running",
    JobStatus.SUCCEEDED: "done",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}


def job_label(job: Job) -> str:
    """Short name of what the job works on: the VOD's title (and streamer), else its id or file name."""
    payload: dict[str, Any] = job.payload or {}
    if job.kind is JobKind.RENDER:
        return f"re-cut of clip {payload.get('clip_id')}"
    vod = payload.get("vod") if isinstance(payload.get("vod"), dict) else {}
    channel = str(vod.get("channel") or vod.get("newest_of") or "") if vod else ""
    if vod and isinstance(vod.get("title"), str) and vod["title"].strip():
        title = " ".join(vod["title"].split())
        title = title if len(title) <= 60 else title[:59] + "…"
        return f"“{title}”" + (f" by {channel}" if channel else "")
    if vod and vod.get("twitch_vod_id"):
        return f"{channel}'s VOD {vod['twitch_vod_id']}" if channel else f"Twitch VOD {vod['twitch_vod_id']}"
    for key in ("media", "chat"):
        if payload.get(key):
            return PurePath(str(payload[key])).name
    return f"job {job.id}"


def thread_name(job: Job, ctx: PostContext) -> str:
    """The clips' thread: ``Highlights · “Finals night” · Streamer`` (Discord allows 100 characters)."""
    parts = ["Highlights"]
    if ctx.vod_title:
        parts.append(f"“{' '.join(ctx.vod_title.split())[:60]}”")
    if ctx.channel_name:
        parts.append(ctx.channel_name[:30])
    if len(parts) == 1:
        parts.append(job_label(job)[:60])
    return " · ".join(parts)[:100]


def vod_text(job: Job) -> str | None:
    """Which Twitch VOD the job works on, in words (None when the payload has no title or channel)."""
    payload: dict[str, Any] = job.payload or {}
    vod = payload.get("vod") if isinstance(payload.get("vod"), dict) else {}
    if not vod or not vod.get("twitch_vod_id") or not (vod.get("title") or vod.get("newest_of")):
        return None
    title = plain(str(vod.get("title") or ""))
    channel = str(vod.get("channel") or vod.get("newest_of") or "")
    parts = [f"“{title}”" if title else f"VOD {vod['twitch_vod_id']}"]
    if channel:
        parts.append(f"by {plain(channel)}")
    text = " ".join(parts)
    if vod.get("newest_of"):
        text += f"\nthe newest VOD of {plain(str(vod['newest_of']))}"
    return f"{text}\nhttps://www.twitch.tv/videos/{vod['twitch_vod_id']}"


def progress_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    done = int(round(min(max(fraction, 0.0), 1.0) * width))
    return "█" * done + "░" * (width - done)


def human_duration(seconds: float) -> str:
    """``45 s``, ``3 min``, ``1 h 05 min``."""
    s = max(int(math.ceil(seconds)), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{round(s / 60)} min"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def card_embed(job: Job, *, now: datetime, position: int | None = None, tuned_from: int | None = None,
               clips: int | None = None, problem: str | None = None, thread_id: str | None = None,
               stalled_s: float = 0.0) -> discord.Embed:
    """The card of ``job`` at ``now``; ``tuned_from``: votes behind the tuning this job uses; ``problem``: what
    Discord refused while posting the clips and what a moderator can do about it; ``thread_id``: where the
    clips were posted; ``stalled_s``: how long progress has stood still."""
    embed = discord.Embed(title=CARD_TITLE + job_label(job), colour=COLOURS[job.status])
    if job.status is JobStatus.QUEUED:
        embed.add_field(name="Status", value=f"Waiting its turn (#{position} in line)" if position else "Waiting its turn",
                        inline=False)
    elif job.status is JobStatus.RUNNING:
        embed.add_field(name="Status", value="Stopping…" if job.cancel_requested else stage_words(job.stage), inline=True)
        embed.add_field(name="Progress", value=f"`{progress_bar(job.progress)}` {job.progress * 100:.0f}%", inline=False)
        elapsed = max((now - job.started_at).total_seconds(), 0.0) if job.started_at else 0.0
        eta = eta_seconds(job, now, stalled_s)
        time_text = f"{human_duration(elapsed)} so far · " + (f"about {human_duration(eta)} left" if eta is not None
                                                              else "estimating how long is left…")
        embed.add_field(name="Time", value=time_text, inline=False)
    elif job.status is JobStatus.SUCCEEDED:
        found = clips if clips is not None else len((job.result or {}).get("clips") or [])
        embed.add_field(name="Status", value="Done", inline=True)
        embed.add_field(name="Clips", value=found_text(job, found, thread_id), inline=False)
        if notes := notes_text(job):
            embed.add_field(name="Note", value=notes, inline=False)
    elif job.status is JobStatus.FAILED:
        embed.add_field(name="Status", value="Failed", inline=True)
        embed.add_field(name="What went wrong", value=failure_text(job), inline=False)
    else:
        embed.add_field(name="Status", value="Cancelled — nothing will be posted", inline=False)
    chosen = vod_text(job)
    if chosen:
        embed.add_field(name="VOD", value=chosen, inline=False)
    if tuned_from:
        embed.add_field(name="Tuning", value=f"tuned from {tuned_from} votes", inline=True)
    if problem:
        embed.add_field(name="⚠️ Not posted", value=problem, inline=False)
    for name, text in result_notes(job):
        embed.add_field(name=name, value=text, inline=False)
    footer = f"job {job.id}" + (f" · try {job.attempts} of {job.max_attempts}" if job.attempts > 1 else "")
    if job.status.active and not job.cancel_requested:
        footer += " · only the requester or an admin can cancel"
    embed.set_footer(text=footer)
    return fit(embed)


def card_job_id(embeds: list[dict[str, Any]]) -> int | None:
    """The job a message's embeds are the card of (None if it is not a job card)."""
    for embed in embeds:
        match = CARD_FOOTER.match(str((embed.get("footer") or {}).get("text") or ""))
        if match and str(embed.get("title") or "").startswith(CARD_TITLE):
            return int(match.group(1))
    return None


def result_notes(job: Job) -> list[tuple[str, str]]:
    """What the worker's result says about the chat ranker it used (the community's adaptation, e.g.
    "adapted from 212 viewer clips over 9 VODs") and a chat too thin to rank by."""
    result = job.result or {}
    notes = []
    adaptation = result.get("adaptation")
    if isinstance(adaptation, dict) and isinstance(adaptation.get("summary"), str):
        notes.append(("Chat ranker", adaptation["summary"][:200]))
    if isinstance(result.get("chat_verdict"), str):
        notes.append(("Chat", result["chat_verdict"][:200]))
    return notes


def card_view(job: Job) -> discord.ui.View | None:
    """The cancel button while the job can still be cancelled; None once it ended."""
    if not job.status.active or job.cancel_requested:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job.id))
    view.stop()  # dispatched by custom_id (DynamicItem): no per-message copy kept in memory
    return view


def notes_text(job: Job) -> str | None:
    """What the worker says the user must know about a finished job (e.g. "chat replay refused by Twitch:
    …; these clips come from audio only"), as plain text within a field's 1024 characters."""
    notes = (job.result or {}).get("notes")
    if not isinstance(notes, list) or not notes:
        return None
    return "\n".join(f"⚠️ {plain(str(n), 400)}" for n in notes[:3])[:1024]


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CANCEL_TEMPLATE):
    """The card's cancel button; its ``custom_id`` carries the job id, so it works after a restart."""

    def __init__(self, job_id: int) -> None:
        super().__init__(discord.ui.Button(label="Cancel", style=discord.ButtonStyle.danger,
                                           custom_id=CANCEL_ID.format(job_id=job_id)))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: Any) -> CancelButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.client.actions.cancel_from_button(interaction, self.job_id)

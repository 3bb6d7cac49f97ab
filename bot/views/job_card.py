"""The job card: a job's state as an embed (queue position, stage, percent, ETA) and its cancel button.

Consumes a ``Job`` (and what the tracker knows around it: queue position, the tuning it runs with,
the time now); produces a ``discord.Embed`` and a view. When Twitch told the bot about the VOD, the
card names it (title, channel, and "the channel's newest VOD" when the request named a channel). Pure functions: the same inputs give the
same card, so the tracker edits a message only when its card really changed.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import PurePath
from typing import Any

import discord

from bot.views.embed_limits import fit
from storage.records import Job, JobStatus

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
    """Short name of what the job works on (Twitch VOD id or file name)."""
    payload: dict[str, Any] = job.payload or {}
    vod = payload.get("vod") if isinstance(payload.get("vod"), dict) else {}
    if vod and vod.get("twitch_vod_id"):
        return f"Twitch VOD {vod['twitch_vod_id']}"
    for key in ("media", "chat"):
        if payload.get(key):
            return PurePath(str(payload[key])).name
    return f"job {job.id}"


def plain(text: str, limit: int = 200) -> str:
    """Someone else's text (a VOD title) shown as typed: markdown and masked-link brackets escaped, cut."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return discord.utils.escape_markdown(text).replace("[", "\\[").replace("]", "\\]")


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


def eta_seconds(job: Job, now: datetime) -> float | None:
    """Time left for a running job from its progress so far (None until there is enough to go on)."""
    if job.status is not JobStatus.RUNNING or job.started_at is None or job.progress < 0.03:
        return None
    elapsed = (now - job.started_at).total_seconds()
    if elapsed <= 0:
        return None
    return elapsed * (1.0 - job.progress) / job.progress


def card_embed(job: Job, *, now: datetime, position: int | None = None, tuned_from: int | None = None,
               clips: int | None = None, problem: str | None = None) -> discord.Embed:
    """The card of ``job`` at ``now``; ``tuned_from``: votes behind the tuning this job uses; ``problem``: what
    Discord refused while posting the clips and what a moderator can do about it."""
    embed = discord.Embed(title=CARD_TITLE + job_label(job), colour=COLOURS[job.status])
    status = "cancelling…" if job.cancel_requested and job.status.active else STATUS_TEXT[job.status]
    embed.add_field(name="Status", value=status, inline=True)
    if job.status is JobStatus.QUEUED:
        embed.add_field(name="Queue", value=f"#{position}" if position else "waiting", inline=True)
    if job.status is JobStatus.RUNNING:
        stage = job.stage or "starting"
        embed.add_field(name="Stage", value=stage, inline=True)
        embed.add_field(name="Progress", value=f"`{progress_bar(job.progress)}` {job.progress * 100:.0f}%",
                        inline=False)
        eta = eta_seconds(job, now)
        embed.add_field(name="ETA", value=f"about {human_duration(eta)}" if eta is not None else "estimating…",
                        inline=True)
    if job.status is JobStatus.SUCCEEDED:
        found = clips if clips is not None else len((job.result or {}).get("clips") or [])
        embed.add_field(name="Clips", value=f"{found} found" + (", posting below" if found else ""), inline=True)
        if notes := notes_text(job):
            embed.add_field(name="Note", value=notes, inline=False)
    if job.status is JobStatus.FAILED:
        embed.add_field(name="Error", value=_error_text(job), inline=False)
    chosen = vod_text(job)
    if chosen:
        embed.add_field(name="VOD", value=chosen, inline=False)
    if tuned_from:
        embed.add_field(name="Tuning", value=f"tuned from {tuned_from} votes", inline=True)
    if problem:
        embed.add_field(name="⚠️ Not posted", value=problem, inline=False)
    for name, text in result_notes(job):
        embed.add_field(name=name, value=text, inline=False)
    embed.set_footer(text=f"job {job.id}" + (f" · attempt {job.attempts}/{job.max_attempts}" if job.attempts > 1 else ""))
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


def _error_text(job: Job) -> str:
    text = job.error_message or job.error_code or "unknown error"
    if job.error_code:
        text = f"`{job.error_code}` {job.error_message or ''}".strip()
    return text[:1000]


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

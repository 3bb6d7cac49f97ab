"""Re-cuts posted as replies to their clip: the new cut's file, what changed, and buttons to cut again.

Consumes finished RENDER jobs (the worker's result: the clip, the cut, the file), the clip and the DETECT
job that made it; produces a reply to the clip's message in its thread (Discord's ``message_reference``):
an embed saying what was cut ("+10 s before, 16:9 · 37 s · from 1:01:53") and who asked, the file, and the
re-cut buttons for the next step (``hl:recut:<clip>:20:0:h`` under a 10 s-before cut). A RENDER job that
failed gets a reply in words instead. Each job is replied to once (the bot state's post record).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord

from bot.state import BotState
from bot.views.clip_buttons import Cut, clip_view
from bot.views.clip_post import clock, deep_link, plain, spoken_duration
from bot.views.clip_text import clip_title
from bot.views.embed_limits import fit
from storage.errors import StorageError
from storage.queue.port import JobQueue
from storage.records import Clip, Job, JobKind, JobStatus
from storage.repo.port import Repository

if TYPE_CHECKING:
    from bot.config import BotConfig

log = logging.getLogger(__name__)

RETRY_MAX_S = 300.0
RECUT_MARK = "re-cut job {job_id}"
"""The reply's footer (never "clip <id>": the poster finds clip posts by that)."""
FAILED_TEXT = {
    "media_error": "the VOD's video could not be read",
    "twitch_unavailable": "Twitch would not hand out the VOD's video (deleted, subscriber-only or offline)",
    "config_error": "the clip or its VOD is no longer available",
    "disk_full": "the worker's disk is full",
    "timeout": "it took too long",
}


def recut_embed(clip: Clip, cut: Cut, *, start: float, end: float, twitch_vod_id: str | None,
                requested_by: str | None, job_id: int | None) -> discord.Embed:
    link = deep_link(twitch_vod_id, start) if twitch_vod_id else None
    lines = [f"**Re-cut of #{clip.rank}** · {cut.words()} · {spoken_duration(end - start)} · from {clock(start)}"]
    if requested_by and requested_by.isdigit():
        lines.append(f"Asked for by <@{requested_by}>")
    embed = discord.Embed(title=clip_title(clip), url=link, description="\n".join(lines), colour=discord.Colour.dark_purple())
    embed.set_footer(text=RECUT_MARK.format(job_id=job_id) if job_id is not None else "re-cut")
    return fit(embed)


class RecutReplies:
    def __init__(self, client: discord.Client, queue: JobQueue, repo: Repository, state: BotState,
                 config: BotConfig) -> None:
        self.client = client
        self.queue = queue
        self.repo = repo
        self.state = state
        self.config = config
        self._retry_at: dict[int, tuple[float, int]] = {}
        """RENDER job id → (when to try replying again, failures so far)."""

    async def run_once(self, oldest: datetime) -> None:
        """Reply for re-cuts that ended (made, or failed) since ``oldest`` and are not answered yet (the poster's
        loop calls this on each pass); a reply Discord refuses is tried again later with backoff."""
        ended = await self.queue.list_jobs(statuses=[JobStatus.SUCCEEDED, JobStatus.FAILED], limit=50)
        for job in sorted(ended, key=lambda j: j.id):
            if job.kind is not JobKind.RENDER or (job.finished_at is not None and job.finished_at < oldest):
                continue
            retry = self._retry_at.get(job.id)
            if retry is not None and time.monotonic() < retry[0]:
                continue
            try:
                await self.post_job(job)
                self._retry_at.pop(job.id, None)
            except (discord.HTTPException, discord.RateLimited) as exc:
                failures = (retry[1] if retry else 0) + 1
                wait = min(RETRY_MAX_S, self.config.post_retry_s * 2 ** failures)
                self._retry_at[job.id] = (time.monotonic() + wait, failures)
                log.warning("replying with the re-cut of job %d failed (%s); trying again in %.1f s", job.id, exc, wait)

    async def post_job(self, job: Job) -> bool:
        """Reply for the finished RENDER ``job`` (once); False when there is nothing to reply to."""
        post = await self.state.post(job.id)
        if post.done:
            return False
        result: dict[str, Any] = job.result or {}
        clip_id = result.get("clip_id") or (job.payload or {}).get("clip_id")
        try:
            clip = await self.repo.get_clip(int(str(clip_id)))
            source = await self.queue.get(clip.job_id)
        except (StorageError, TypeError, ValueError):
            await self.state.set_post(replace(post, done=True))
            return False
        if not clip.message_id or not clip.thread_id:
            await self.state.set_post(replace(post, done=True))
            return False
        if job.status is JobStatus.SUCCEEDED:
            payload = job.payload or {}
            cut = Cut(int(payload.get("before", 0)), int(payload.get("after", 0)), str(payload.get("layout")) == "9:16")
            await self._send(clip, source, cut, str(result.get("file") or ""), job.requested_by, job.id,
                             start=float(result.get("start", clip.start_s)), end=float(result.get("end", clip.end_s)))
        else:
            reason = FAILED_TEXT.get(job.error_code or "", "something went wrong on the worker")
            text = f"Sorry, the re-cut of clip #{clip.rank} could not be made: {reason}. Try the button again later."
            target = self.client.get_partial_messageable(int(clip.thread_id))
            await target.send(content=text, reference=_reference(clip), allowed_mentions=discord.AllowedMentions.none())
        await self.state.set_post(replace(post, done=True))
        return True

    async def post_existing(self, clip: Clip, source: Job, cut: Cut, rel: str, user_id: str) -> str:
        """Post a cut made before as a reply again; the message's link."""
        start = max(clip.start_s - cut.before, 0.0)
        message = await self._send(clip, source, cut, rel, user_id, None, start=start, end=clip.end_s + cut.after)
        return message.jump_url

    async def _send(self, clip: Clip, source: Job, cut: Cut, rel: str, requested_by: str | None, job_id: int | None,
                    *, start: float, end: float) -> discord.Message:
        vod = (source.payload or {}).get("vod")
        twitch_id = str(vod["twitch_vod_id"]) if isinstance(vod, dict) and vod.get("twitch_vod_id") else None
        embed = recut_embed(clip, cut, start=start, end=end, twitch_vod_id=twitch_id, requested_by=requested_by,
                            job_id=job_id)
        watch = (f"Watch at {clock(start)} on Twitch", deep_link(twitch_id, start)) if twitch_id else None
        file = None
        try:
            path = self.config.artifacts.resolve(rel) if rel else None
        except StorageError:
            path = None
        guild = self.client.get_guild(int(source.guild_id or 0))
        limit = guild.filesize_limit if guild is not None else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
        if path is not None and path.is_file() and path.stat().st_size <= limit - 64 * 1024:
            file = discord.File(path, filename=f"clip-{clip.id}-recut{path.suffix}")
        else:
            embed.description = f"{embed.description}\n📎 The new cut is over this server's upload limit, so it is not attached."
        target = self.client.get_partial_messageable(int(clip.thread_id or 0), guild_id=int(source.guild_id or 0))
        kwargs: dict[str, Any] = {"embed": embed, "view": clip_view(clip, cut, watch, votes=False),
                                  "reference": _reference(clip), "allowed_mentions": discord.AllowedMentions.none()}
        if file is not None:
            kwargs["file"] = file
        return await target.send(**kwargs)


def _reference(clip: Clip) -> discord.MessageReference:
    return discord.MessageReference(message_id=int(clip.message_id or 0), channel_id=int(clip.thread_id or 0),
                                    fail_if_not_exists=False)


__all__ = ["RECUT_MARK", "RecutReplies", "plain", "recut_embed"]

"""Posting a finished job's clips: one thread per job, one message per clip, then the reel — exactly once.

Consumes succeeded DETECT jobs (from the queue), their clips (from the repository: rank, score,
explanation, rendered files, and the message id once posted) and the artifact files; produces
Discord messages. Idempotent: a clip's message id is stored in the database right after it is
sent, so a restart skips it; a message sent just before a crash (but not yet recorded) is found in
the thread by the ``clip <id>`` mark in its footer and recorded instead of posted again. A job is
marked done in the bot state only when every clip (and the reel) is posted, so nothing is lost.

Video choice per clip: the requested layout if its file fits ``guild.filesize_limit``, else the
largest other render that fits, else no file and a note saying why (the VOD link still works); a file
Discord still finds too large (413) is replaced by that note.

When Discord refuses a job's posts (403 missing permissions or access, 404 channel gone, 400), the
job is tried ``REFUSED_TRIES`` times with backoff, then posting it stops: the job's card says what
Discord refused and what a moderator can do, and /setup resumes it once the problem is fixed. Other
jobs go on meanwhile. Outages (5xx, long rate limits, the database) are retried with backoff for as
long as the job is young enough to post (``post_max_age_s``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord

from bot.channel_access import refusal_text
from bot.clip_files import UPLOAD_MARGIN, choose_video, thumbnail
from bot.errors import BotError
from bot.state import BotState, JobPost
from bot.views.clip_buttons import Cut, clip_view
from bot.views.clip_post import PostContext, clip_embed, clip_id_of, post_context, watch_link
from bot.views.embed_limits import fit
from bot.views.job_card import thread_name
from bot.wakeup import pause
from storage.clock import utcnow
from storage.errors import RecordNotFound, StorageError
from storage.queue.port import JobQueue
from storage.records import Clip, Job, JobKind, JobStatus
from storage.repo.port import Repository

if TYPE_CHECKING:
    from bot.config import BotConfig
    from bot.recut_replies import RecutReplies

log = logging.getLogger(__name__)

REEL_MARK = "reel of job {job_id}"
RETRY_MAX_S = 300.0
PRUNE_EVERY_S = 3600.0
REFUSED_TRIES = 3
"""Times Discord may refuse a job's posts before posting it stops until /setup resumes it."""
TOO_LARGE = "The video is over this server's upload limit, so it is not attached."


class PostingError(BotError):
    """A job's clips cannot be posted where they should go (e.g. the channel cannot hold threads)."""

    code = "posting"


def refused(exc: BaseException) -> bool:
    """Discord said no (and will again until someone changes something), rather than "not now"."""
    return isinstance(exc, PostingError) or (isinstance(exc, discord.HTTPException)
                                             and exc.status in (400, 401, 403, 404, 413))


class Poster:
    def __init__(self, client: discord.Client, queue: JobQueue, repo: Repository, state: BotState,
                 config: BotConfig, on_stopped: Callable[[], None] | None = None) -> None:
        self.client = client
        self.on_stopped = on_stopped
        """Called when a job's posting stops (the card tracker shows why)."""
        self.queue = queue
        self.repo = repo
        self.state = state
        self.config = config
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._retry_at: dict[int, tuple[float, int, int]] = {}
        """Job id → (when to try again, failures, refusals among them)."""
        self.recuts: RecutReplies | None = None
        """Replies for finished re-cuts (RENDER jobs), posted from the same loop."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="clip-poster")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def kick(self) -> None:
        self._wake.set()

    async def job_finished(self, job: Job) -> None:
        """The card tracker saw ``job`` succeed: post now rather than at the next poll."""
        self.kick()

    async def _loop(self) -> None:
        await self.client.wait_until_ready()  # the guild cache (upload limits, channels) is filled by then
        pruned = float("-inf")
        while True:
            try:
                await self.run_once()
                if time.monotonic() - pruned > PRUNE_EVERY_S:
                    pruned = time.monotonic()
                    await self.state.prune_posts(2 * self.config.post_max_age_s)
            except StorageError as exc:
                log.warning("posting clips: the database is not reachable (%s); trying again later", exc)
            except Exception:
                log.exception("posting clips failed; trying again at the next poll")
            await pause(self._wake, self.config.post_poll_s)

    async def run_once(self) -> int:
        """Post what is still unposted of recently succeeded jobs; the number of jobs completed."""
        async with self._lock:
            jobs = await self.queue.list_jobs(statuses=[JobStatus.SUCCEEDED], limit=50)
            oldest = utcnow() - timedelta(seconds=self.config.post_max_age_s)
            done = 0
            if self.recuts is not None:
                await self.recuts.run_once(oldest)
            for job in sorted(jobs, key=lambda j: j.id):
                if job.kind is not JobKind.DETECT or not job.guild_id or not job.channel_id:
                    continue
                if job.finished_at is not None and job.finished_at < oldest:
                    continue
                retry = self._retry_at.get(job.id)
                if retry is not None and time.monotonic() < retry[0]:
                    continue
                post = await self.state.post(job.id)
                if post.done or post.stopped:
                    continue
                try:
                    if (await self._post_job(job)).done:
                        done += 1
                        self._retry_at.pop(job.id, None)
                except (discord.HTTPException, discord.RateLimited, PostingError) as exc:
                    failures = (retry[1] if retry else 0) + 1
                    refusals = (retry[2] if retry else 0) + (1 if refused(exc) else 0)
                    if refusals >= REFUSED_TRIES:
                        await self._stop(job, exc)
                        continue
                    wait = min(RETRY_MAX_S, self.config.post_retry_s * 2 ** failures)
                    self._retry_at[job.id] = (time.monotonic() + wait, failures, refusals)
                    log.warning("posting the clips of job %d failed (%s); trying again in %.1f s", job.id, exc, wait)
            return done

    async def _stop(self, job: Job, exc: BaseException) -> None:
        """Stop posting ``job`` after Discord refused it again and again; its card says why."""
        self._retry_at.pop(job.id, None)
        settings = await self.state.guild(job.guild_id or "")
        channel_id = settings.clip_channel_id or job.channel_id or "0"
        if isinstance(exc, discord.HTTPException):
            text = refusal_text(self.client, job.guild_id or 0, channel_id, exc, "post the clips")
        else:
            text = f"The clips cannot be posted: {exc}"
        post = await self.state.post(job.id)
        await self.state.set_post(replace(post, problem=text, stopped=True))
        log.warning("posting the clips of job %d stopped after %d refusals: %s", job.id, REFUSED_TRIES, text)
        if self.on_stopped is not None:
            self.on_stopped()

    async def resume(self, guild_id: str) -> int:
        """Post again the jobs of ``guild_id`` whose posting stopped (a moderator fixed what was refused)."""
        resumed = 0
        for post in await self.state.stopped_posts():
            try:
                job = await self.queue.get(post.job_id)
            except StorageError:
                continue
            if job.guild_id == guild_id:
                await self.state.set_post(replace(post, stopped=False, problem=None))
                self._retry_at.pop(job.id, None)
                resumed += 1
        if resumed:
            self.kick()
        return resumed

    async def post_job(self, job: Job) -> JobPost:
        """Post ``job``'s clips now (serialised with the background loop)."""
        async with self._lock:
            return await self._post_job(job)

    async def _post_job(self, job: Job) -> JobPost:
        post = await self.state.post(job.id)
        clips = await self.repo.list_clips(job.id)
        reel = _reel_path(job)
        pending = [c for c in clips if c.message_id is None]
        if not pending and (reel is None or post.reel_message_id):
            return await self.state.set_post(replace(post, done=True))
        if job.guild_id is None or job.channel_id is None:
            raise PostingError(f"job {job.id} names no guild or channel to post in")
        settings = await self.state.guild(job.guild_id)
        channel_id = settings.clip_channel_id or job.channel_id
        thread_id = post.thread_id or next((c.thread_id for c in clips if c.thread_id), None)
        found: dict[str, str] = {}
        if thread_id is None:
            thread_id = await self._open_thread(int(channel_id), job)
            post = await self.state.set_post(replace(post, thread_id=thread_id))
        else:  # an earlier run got this far: what it sent but did not record is found by its footer
            found = await self._already_sent(int(thread_id))
        target = self.client.get_partial_messageable(int(thread_id), guild_id=int(job.guild_id))
        limit = self._upload_limit(job.guild_id)
        layout = str(((job.payload or {}).get("render") or {}).get("layout") or "16:9")
        ctx = await self.context(job, len(clips))
        for clip in pending:
            sent = found.get(f"clip {clip.id}")
            if sent is None:
                sent = await self._send_clip(target, ctx, clip, layout, limit)
            await self.repo.set_clip_message(clip.id, message_id=sent, channel_id=str(channel_id),
                                             thread_id=str(thread_id))
        if reel is not None and not post.reel_message_id:
            reel_id = found.get(REEL_MARK.format(job_id=job.id)) or await self._send_reel(target, job, reel, limit)
            post = await self.state.set_post(replace(post, reel_message_id=reel_id))
        log.info("posted %d clip(s) of job %d in thread %s", len(pending), job.id, thread_id)
        return await self.state.set_post(replace(post, done=True))

    async def context(self, job: Job, total: int) -> PostContext:
        """What the job's posts say about it; the streamer's stored name when the payload has none."""
        vod = (job.payload or {}).get("vod")
        streamer_id = vod.get("streamer_id") if isinstance(vod, dict) else None
        login = name = None
        if isinstance(streamer_id, int):
            try:
                streamer = await self.repo.get_streamer(streamer_id)
                login, name = streamer.login, streamer.display_name or streamer.login
            except RecordNotFound:
                pass
        return post_context(job, total, channel_login=login, channel_name=name)

    async def _send_clip(self, target: discord.PartialMessageable, ctx: PostContext, clip: Clip, layout: str,
                         limit: int) -> str:
        path, note = choose_video(self.config.artifacts, clip, layout, limit, twitch=ctx.twitch_vod_id is not None)
        cut = Cut.of_layout(layout)
        view = clip_view(clip, cut, watch_link(clip, ctx))
        thumb = thumbnail(self.config.artifacts, clip, limit) if path is None else None
        files = [discord.File(path, filename=f"clip-{clip.id}{path.suffix}")] if path else []
        if thumb is not None:
            files.append(discord.File(thumb, filename=f"thumb-{clip.id}{thumb.suffix}"))
        embed = clip_embed(clip, ctx, note=note, thumbnail=f"thumb-{clip.id}{thumb.suffix}" if thumb else None)
        try:
            message = await target.send(embed=embed, files=files, view=view)
        except discord.HTTPException as exc:
            if exc.status != 413 or not files:
                raise
            log.warning("clip %d: Discord found its file too large (%s); posting it without the file", clip.id, exc)
            embed = clip_embed(clip, ctx, note=TOO_LARGE)
            message = await target.send(embed=embed, view=view)
        return str(message.id)

    async def _open_thread(self, channel_id: int, job: Job) -> str:
        channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)
        if isinstance(channel, discord.Thread):
            return str(channel.id)  # requested inside a thread: post there
        if not isinstance(channel, discord.TextChannel):
            raise PostingError(f"channel {channel_id} cannot hold clip threads; choose a text channel with /setup")
        name = thread_name(job, await self.context(job, 0))
        thread = await channel.create_thread(name=name, type=discord.ChannelType.public_thread,
                                             auto_archive_duration=1440, reason=f"clips of job {job.id}")
        return str(thread.id)

    async def _already_sent(self, thread_id: int) -> dict[str, str]:
        """Marks (``clip <id>``, ``reel of job <id>``) of the bot's messages in the thread → message ids."""
        marks: dict[str, str] = {}
        me = self.client.user.id if self.client.user else None
        channel = self.client.get_partial_messageable(thread_id)
        async for message in channel.history(limit=200):
            if message.author.id != me:
                continue
            embeds: list[dict[str, Any]] = [dict(e.to_dict()) for e in message.embeds]  # type: ignore[arg-type]
            clip_id = clip_id_of(embeds)
            if clip_id is not None:
                marks[f"clip {clip_id}"] = str(message.id)
            for e in embeds:
                footer = str((e.get("footer") or {}).get("text") or "")
                if footer.startswith("reel of job "):
                    marks[footer] = str(message.id)
        return marks

    def _upload_limit(self, guild_id: str) -> int:
        guild = self.client.get_guild(int(guild_id))
        limit = guild.filesize_limit if guild is not None else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
        return max(limit - UPLOAD_MARGIN, 0)

    async def _send_reel(self, target: discord.PartialMessageable, job: Job, reel: str, limit: int) -> str:
        ctx = await self.context(job, 0)
        of = f" of “{ctx.vod_title}”" if ctx.vod_title else (f" of {ctx.channel_name}'s VOD" if ctx.channel_name else "")
        embed = discord.Embed(title=f"All of this VOD's clips in one video{of}"[:256], colour=discord.Colour.gold(),
                              description="The clips above, best first, one after another — handy for sharing.")
        embed.set_footer(text=REEL_MARK.format(job_id=job.id))
        file: discord.File | None = None
        try:
            path = self.config.artifacts.resolve(reel)
        except StorageError:
            path = None
        if path is not None and path.is_file() and path.stat().st_size <= limit:
            file = discord.File(path, filename=f"reel-{job.id}{path.suffix}")
        else:
            embed.description = "The reel is over this server's upload limit (or missing), so it is not attached."
        try:
            message = await target.send(embed=fit(embed), file=file)  # type: ignore[arg-type]
        except discord.HTTPException as exc:
            if exc.status != 413 or file is None:
                raise
            embed.description = "The reel is too large to upload here."
            message = await target.send(embed=fit(embed))
        return str(message.id)


def _reel_path(job: Job) -> str | None:
    reel = (job.result or {}).get("reel")
    if isinstance(reel, dict):
        reel = reel.get("path")
    return str(reel) if reel else None

"""A re-cut click ("+10 s before", "+10 s after", "Vertical 9:16"): a render-only job, or the cut already made.

Consumes the click (clip id and the cut from the button's ``custom_id``), the queue and the repository;
produces a RENDER job (``storage.recuts.recut_request``: the stored candidate is cut again, detection never
runs) and a private answer saying what happens next. One render per distinct cut: a cut already stored on
the clip is posted again at once without a job, and a second press while one is queued joins it (its
dedupe key). Re-cuts have their own per-user hourly limit (admins are exempt) and count towards the
user's active-jobs quota, like requests.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import NotFound
from bot.limits import RateLimiter, check_quota
from bot.permissions import is_admin, require_guild
from bot.replies import tell
from bot.state import BotState
from bot.views.clip_buttons import Cut
from storage.errors import JobNotFound, RecordNotFound, StorageError
from storage.queue.port import JobQueue
from storage.records import Clip, Job, JobKind
from storage.recuts import cut_key, recut_request
from storage.repo.port import Repository

if TYPE_CHECKING:
    from bot.config import BotConfig
    from bot.recut_replies import RecutReplies

log = logging.getLogger(__name__)

RECUTS_PER_HOUR = 10
"""Re-cuts one member may ask for per hour in a server (each one is an encode on the worker)."""


class Recuts:
    def __init__(self, queue: JobQueue, repo: Repository, state: BotState, config: BotConfig,
                 replies: RecutReplies, limiter: RateLimiter | None = None) -> None:
        self.queue = queue
        self.repo = repo
        self.state = state
        self.config = config
        self.replies = replies
        self.limiter = limiter or RateLimiter()

    async def recut(self, interaction: discord.Interaction[Any], clip_id: int, cut: Cut) -> None:
        guild_id = require_guild(interaction)
        user_id = str(interaction.user.id)
        admin = is_admin(interaction)
        key = (guild_id, f"recut:{user_id}")
        if not admin:
            self.limiter.check(key, RECUTS_PER_HOUR, "re-cuts")
        await interaction.response.defer(ephemeral=True, thinking=True)  # before the first database call
        clip, job = await self._clip_and_job(guild_id, clip_id)
        layout = cut.layout
        if cut.original and layout == _posted_layout(job):
            await tell(interaction, "That is the clip as it was posted; nothing to re-cut.")
            return
        stored = self._stored(clip, cut_key(cut.before, cut.after, layout))
        if stored is not None:  # made before: the same plan is never rendered twice
            link = await self.replies.post_existing(clip, job, cut, stored, user_id)
            await tell(interaction, f"This cut ({cut.words()}) was made already; here it is again: {link}")
            return
        if not admin:
            settings = await self.state.guild(guild_id)
            quota = settings.active_jobs_per_user
            await check_quota(self.queue, guild_id, user_id, quota if quota is not None else self.config.active_jobs_per_user)
        request = recut_request(clip, job, before=cut.before, after=cut.after, layout=layout, requested_by=user_id,
                                channel_id=clip.thread_id or clip.channel_id)
        result = await self.queue.enqueue(request)
        if result.created:
            self.limiter.record(key)
            text = (f"Re-cutting clip #{clip.rank} ({cut.words()}). The new cut is posted as a reply to the clip, "
                    "usually within a minute or two.")
        else:
            text = (f"Someone already asked for this cut of clip #{clip.rank} ({cut.words()}); it is posted as a "
                    "reply to the clip as soon as it is ready.")
        await tell(interaction, text)

    async def _clip_and_job(self, guild_id: str, clip_id: int) -> tuple[Clip, Job]:
        try:
            clip = await self.repo.get_clip(clip_id)
            job = await self.queue.get(clip.job_id)
        except (RecordNotFound, JobNotFound):
            raise NotFound("This clip is no longer in the database, so it cannot be re-cut.") from None
        if job.guild_id != guild_id or job.kind is not JobKind.DETECT:
            raise NotFound("This clip was made for another server, so it cannot be re-cut from here.")
        return clip, job

    def _stored(self, clip: Clip, key: str) -> str | None:
        rel = (clip.files or {}).get(key)
        if not rel:
            return None
        try:
            return rel if self.config.artifacts.resolve(rel).is_file() else None
        except StorageError:
            return None


def _posted_layout(job: Job) -> str:
    render = (job.payload or {}).get("render")
    layout = str((render or {}).get("layout") or "16:9") if isinstance(render, dict) else "16:9"
    return "9:16" if layout.startswith("9:16") else "16:9"

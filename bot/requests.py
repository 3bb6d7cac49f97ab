"""Requests: /highlights (check, defer, enqueue or join, job card), /cancel and the card's cancel button, /jobs.

Consumes interactions and their options; produces queue jobs (through the ``JobQueue`` port), job
cards (tracked by ``bot.cards``) and short answers. Order matters for Discord's 3-second deadline:
what needs no I/O (guild, permission, the VOD reference, the rate limit, a channel without Twitch
credentials, whether the bot could post the clips where they go) is checked first and answered at
once; then the interaction is deferred before the first database call and before Twitch is asked
(``bot.twitch_checks``: does the VOD exist, is it finished, which is a channel's newest VOD). A VOD
that Twitch confirmed carries its title and owner into the job (and the card); its owner becomes the
job's streamer when the request names none.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.channel_access import fix_text, missing, permissions_in
from bot.errors import BadOption, CannotPost, NotAllowed, NotFound
from bot.limits import RateLimiter, check_quota
from bot.permissions import is_admin, require_guild, require_requester
from bot.replies import ANSWERED, tell
from bot.state import BotState, CardRef
from bot.twitch_checks import TwitchChecks, channel_needs_api, display
from bot.views.job_card import STATUS_TEXT, card_embed, card_view, job_label, plain, stage_words
from bot.vodref import VodRef, parse_vod
from storage.clock import utcnow
from storage.errors import JobNotFound
from storage.queue.port import JobQueue
from storage.records import Job, JobKind, JobRequest, JobStatus, Priority
from storage.repo.port import Repository
from storage.twitch import TwitchUser, TwitchVideo

if TYPE_CHECKING:
    from bot.cards import CardTracker
    from bot.config import BotConfig

log = logging.getLogger(__name__)

LOGIN = re.compile(r"[A-Za-z0-9_]{3,25}")
LAYOUTS = ("16:9", "9:16")
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def check_login(login: str) -> str:
    """A Twitch login, lower-cased; ``BadOption`` if it cannot be one."""
    login = (login or "").strip().lstrip("@")
    if "twitch.tv/" in login:
        login = login.rsplit("twitch.tv/", 1)[1].strip("/")
    if not LOGIN.fullmatch(login):
        raise BadOption(f"`{login[:40]}` is not a Twitch login (3–25 letters, digits or _).")
    return login.lower()


def detect_payload(ref: VodRef, *, top: int | None, layout: str, captions: bool, streamer_id: int | None,
                   video: TwitchVideo | None = None, newest_of: str | None = None,
                   login: str | None = None) -> dict[str, Any]:
    """The DETECT job payload (see ``detector.job_payload``) for a checked reference and the command's options.

    ``video``: what Twitch said about the VOD (its title and channel go into ``vod``, for the card and
    the stored VOD); ``newest_of``: the channel whose newest VOD was picked (the card says so)."""
    vod: dict[str, Any] = {"twitch_vod_id": ref.twitch_vod_id, "source": ref.source, "streamer_id": streamer_id}
    if video is not None:
        vod.update(title=video.title, channel=video.user_login)
    elif login is not None:  # Twitch not asked: the streamer named in the request credits the posts
        vod["channel"] = login
    if newest_of is not None:
        vod["newest_of"] = newest_of
    return {
        "media": str(ref.media) if ref.media else None,
        "chat": str(ref.chat) if ref.chat else None,
        "settings": {"top_k": int(top)} if top else {},
        "vod": vod,
        "render": {"layout": layout, "captions": bool(captions)},
        "transcript": True,  # quotes for titles and the "said" signal on the best windows
        "hybrid": True,  # segments, vision and snapping: the worker's profile decides what can run
    }


class Requests:
    def __init__(self, queue: JobQueue, repo: Repository, state: BotState, config: BotConfig,
                 cards: CardTracker, limiter: RateLimiter | None = None, twitch: TwitchChecks | None = None) -> None:
        self.queue = queue
        self.repo = repo
        self.state = state
        self.config = config
        self.cards = cards
        self.limiter = limiter or RateLimiter()
        self.twitch = twitch or TwitchChecks(None)

    async def highlights(self, interaction: discord.Interaction[Any], vod: str, *, top: int | None = None,
                         layout: str | None = None, captions: bool | None = None, streamer: str | None = None) -> None:
        guild_id = require_guild(interaction)
        user_id = str(interaction.user.id)
        settings = await self.state.guild(guild_id)  # in memory once loaded
        require_requester(interaction, settings)
        ref = parse_vod(vod, self.config.media_root, allow_channel=True)
        if ref.channel is not None and not self.twitch.enabled:
            raise channel_needs_api(ref.channel)
        if layout is not None and layout not in LAYOUTS:
            raise BadOption(f"Layout must be one of {', '.join(LAYOUTS)}.")
        login = check_login(streamer) if streamer else None
        can_post(interaction, int(settings.clip_channel_id or interaction.channel_id or 0))
        admin = is_admin(interaction)
        key = (guild_id, user_id)
        if not admin:
            self.limiter.check(key, settings.requests_per_hour if settings.requests_per_hour is not None
                               else self.config.requests_per_hour)
        await interaction.response.defer(ephemeral=True, thinking=True)  # before the first database call
        if not admin:
            quota = settings.active_jobs_per_user
            await check_quota(self.queue, guild_id, user_id,
                              quota if quota is not None else self.config.active_jobs_per_user)
        owner: TwitchUser | None = None
        video: TwitchVideo | None = None
        if ref.channel is not None:  # after deferring: Twitch may take a few seconds
            owner, video = await self.twitch.newest_vod(ref.channel, files_too=self.config.media_root is not None)
            ref = VodRef(twitch_vod_id=video.id)
        elif ref.twitch_vod_id is not None:
            video = await self.twitch.vod(ref.twitch_vod_id)
        streamer_id = await self._streamer_id(login, video, owner)
        payload = detect_payload(ref, top=top, layout=layout or LAYOUTS[0], captions=bool(captions),
                                 streamer_id=streamer_id, video=video,
                                 newest_of=owner.login if owner is not None else None, login=login)
        result = await self.queue.enqueue(JobRequest(
            kind=JobKind.DETECT, payload=payload, dedupe_key=ref.dedupe_key(guild_id),
            priority=Priority.ADMIN if admin else Priority.PERSON, requested_by=user_id, guild_id=guild_id,
            channel_id=str(interaction.channel_id) if interaction.channel_id else None))
        job = result.job
        what = ref.label
        if owner is not None and video is not None:
            what = f"newest VOD of **{display(owner)}** (Twitch VOD {video.id}: “{_title(video)}”)"
        if result.created:
            self.limiter.record(key)
            text = f"Queued job #{job.id} for {'the ' if owner else ''}{what}. Its card below shows how it goes."
        else:
            text = (f"{'The ' if owner else ''}{what} is already being processed here (job #{job.id}); you joined it — "
                    "its own options apply. Its card is below.")
        interaction.extras[ANSWERED] = True
        await interaction.edit_original_response(content=text)
        await self._send_card(interaction, job)

    async def _streamer_id(self, login: str | None, video: TwitchVideo | None, owner: TwitchUser | None
                           ) -> int | None:
        """The streamer the job is tuned for: the one named, else the VOD's owner as Twitch told it."""
        if login:
            if owner is not None and owner.login == login:
                return (await self.repo.upsert_streamer(login, display_name=owner.display_name,
                                                        twitch_user_id=owner.id)).id
            if video is not None and video.user_login == login:
                return (await self.repo.upsert_streamer(login, twitch_user_id=video.user_id)).id
            return (await self.repo.upsert_streamer(login)).id
        if owner is not None:
            return (await self.repo.upsert_streamer(owner.login, display_name=owner.display_name,
                                                    twitch_user_id=owner.id)).id
        if video is not None and video.user_login:
            return (await self.repo.upsert_streamer(video.user_login, twitch_user_id=video.user_id)).id
        return None

    async def _send_card(self, interaction: discord.Interaction[Any], job: Job) -> None:
        """Send the public card, saved before it is sent (``bot.cards``: a crash in between cannot orphan it)."""
        position = await self.queue.queue_position(job.id) if job.status is JobStatus.QUEUED else None
        embed = card_embed(job, now=utcnow().replace(microsecond=0), position=position)
        view = card_view(job)
        expected = await self.cards.expect(job.id, str(interaction.channel_id))
        try:
            message = await interaction.followup.send(embed=embed, view=view or discord.utils.MISSING, wait=True)
        except discord.HTTPException:
            await self.cards.forget(expected)
            raise
        channel_id = message.channel.id if message.channel else interaction.channel_id
        await self.cards.track(CardRef(job_id=job.id, message_id=str(message.id), channel_id=str(channel_id),
                                       created_at=expected.created_at),
                               embed, webhook_message=message, followup=interaction.followup, expected=expected)

    # -- cancel -------------------------------------------------------------------------------------------
    async def cancel(self, interaction: discord.Interaction[Any], job_id: int) -> None:
        guild_id = require_guild(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await self._guild_job(guild_id, job_id)
        if job.requested_by != str(interaction.user.id) and not is_admin(interaction):
            raise NotAllowed(f"Only the person who requested job #{job.id} or a server admin can cancel it.")
        if not job.status.active:
            await tell(interaction, f"Job #{job.id} is already {STATUS_TEXT[job.status]}.")
            return
        job = await self.queue.cancel(job.id, by=str(interaction.user.id))
        self.cards.kick()
        if job.status is JobStatus.CANCELLED:
            await tell(interaction, f"Cancelled job #{job.id}.")
        else:
            await tell(interaction, f"Cancel requested: the worker stops job #{job.id} within seconds.")

    async def _guild_job(self, guild_id: str, job_id: int) -> Job:
        try:
            job = await self.queue.get(int(job_id))
        except JobNotFound:
            job = None
        if job is None or job.guild_id != guild_id or job.kind is not JobKind.DETECT:
            raise NotFound(f"There is no job #{job_id} in this server. /jobs lists them.")
        return job

    async def cancellable(self, interaction: discord.Interaction[Any], typed: str) -> list[tuple[str, int]]:
        """Autocomplete for /cancel: the user's (an admin: everyone's) active jobs here."""
        if interaction.guild_id is None:
            return []
        mine = None if is_admin(interaction) else str(interaction.user.id)
        jobs = await self.queue.list_jobs(statuses=ACTIVE, guild_id=str(interaction.guild_id), requested_by=mine,
                                          limit=25)
        return [(f"#{j.id} {job_label(j)} ({STATUS_TEXT[j.status]})"[:100], j.id) for j in jobs
                if typed.strip().lstrip("#") in str(j.id) or typed.lower() in job_label(j).lower()]

    # -- jobs ---------------------------------------------------------------------------------------------
    async def jobs(self, interaction: discord.Interaction[Any]) -> None:
        guild_id = require_guild(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        active = await self.queue.list_jobs(statuses=ACTIVE, guild_id=guild_id, limit=20)
        recent = await self.queue.list_jobs(statuses=[JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED],
                                            guild_id=guild_id, limit=5)
        lines = ["**Waiting or running**"] if active else ["Nothing is waiting or running here."]
        for job in sorted(active, key=lambda j: j.id):
            lines.append(await self._line(job))
        if recent:
            lines.append("**Recently finished**")
            lines.extend([await self._line(j) for j in recent])
        await tell(interaction, "\n".join(lines))

    async def _line(self, job: Job) -> str:
        state = STATUS_TEXT[job.status]
        if job.status is JobStatus.QUEUED:
            position = await self.queue.queue_position(job.id)
            state += f" (#{position} in line)" if position else ""
        elif job.status is JobStatus.RUNNING:
            state += f" {job.progress * 100:.0f}%: {stage_words(job.stage)}"
        who = f" — <@{job.requested_by}>" if job.requested_by and job.requested_by.isdigit() else ""
        problem = (await self.state.post(job.id)).problem
        return f"#{job.id} {job_label(job)}: {state}{who}" + (f"\n  ⚠️ {problem}" if problem else "")


def can_post(interaction: discord.Interaction[Any], channel_id: int) -> None:
    """Refuse a request whose clips the bot could not post in ``channel_id`` (``CannotPost`` says what to fix)."""
    perms, in_thread = permissions_in(interaction, channel_id)
    if perms is None:
        return  # not in the cache: the poster shows any refusal on the job's card
    lacking = missing(perms, in_thread=in_thread)
    if lacking:
        raise CannotPost(f"{fix_text(channel_id, lacking)} Until then I could not post the clips, so nothing was queued.")


def _title(video: TwitchVideo) -> str:
    return plain(video.title, 80) if video.title.strip() else "untitled"

"""Live job cards: each tracked card message is edited as its job advances, at most once per interval.

Consumes the queue (job state, queue position), the repository (the tuning a job runs with), the
bot state (the card messages, and how posting a finished job's clips went); produces message edits.
A card younger than the interaction token's life is edited through the interaction webhook (no
channel permission needed); older cards (and every card after a restart) through the channel. When
a job ends, its card gets a last edit and the poster is told to post the clips; a succeeded job's
card stays tracked until its clips are posted, so a post Discord refuses shows on the card.

A card is saved (without its message id) before it is sent, so a crash between sending and saving
cannot orphan it: the next start finds the message in the channel's history by the ``job <id>`` of
its footer. Each card is refreshed in its own task, so one slow or refused edit never holds up the
others; an edit Discord refuses (403, 404, 413, 400) is tried ``CARD_EDIT_TRIES`` times, then the
card is left as it is and the requester is told why, privately, while the interaction still allows it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import discord

from bot.channel_access import refusal_text
from bot.state import BotState, CardRef
from bot.views.job_card import card_embed, card_job_id, card_view
from bot.wakeup import pause
from storage.clock import utcnow
from storage.errors import JobNotFound, StorageError
from storage.queue.port import JobQueue
from storage.records import Job, JobStatus
from storage.repo.port import Repository

if TYPE_CHECKING:
    from bot.config import BotConfig

log = logging.getLogger(__name__)

CARD_EDIT_TRIES = 3
"""Refused edits of one card before it is left as it is."""
RECOVER_SCAN = 50
"""Messages of the channel read to find a card sent just before a crash."""
TELL_WITHIN_S = 14 * 60.0
"""The requester can be told privately through the interaction while its 15-minute token lasts."""


@dataclass
class _Live:
    ref: CardRef
    webhook_message: discord.WebhookMessage | None = None
    followup: discord.Webhook | None = None
    """The interaction's follow-up webhook: tells the requester about a card Discord refuses to edit."""
    last_edit: float = float("-inf")
    shown: dict[str, Any] | None = None
    final: bool = False
    refused: int = 0
    finished_told: bool = False
    tuned_from: int | None = None
    tuned_checked: bool = False
    task: asyncio.Task[None] | None = None
    progress_seen: tuple[float, str | None] | None = None
    """The job's last progress and stage, and (below) since when: how long progress has stood still."""
    progress_since: float = 0.0


def _as_dict(embed: discord.Embed) -> dict[str, Any]:
    """The embed as a plain dict (discord.py types it as a TypedDict), for comparing cards."""
    return dict(embed.to_dict())  # type: ignore[arg-type]


class CardTracker:
    def __init__(self, client: discord.Client, queue: JobQueue, repo: Repository, state: BotState,
                 config: BotConfig, on_finished: Callable[[Job], Awaitable[None]] | None = None) -> None:
        self.client = client
        self.queue = queue
        self.repo = repo
        self.state = state
        self.config = config
        self.on_finished = on_finished
        self._live: dict[tuple[int, str], _Live] = {}
        self._unsent: list[CardRef] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.edits = 0

    # -- lifecycle --------------------------------------------------------------------------------------
    async def start(self) -> None:
        for ref in await self.state.cards():
            if ref.message_id:
                self._live.setdefault((ref.job_id, ref.message_id), _Live(ref=ref))
            else:
                self._unsent.append(ref)
        self._task = asyncio.create_task(self._loop(), name="job-cards")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *(live.task for live in self._live.values())) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    async def expect(self, job_id: int, channel_id: str) -> CardRef:
        """Save a card about to be sent (no message id yet): found again after a crash (see the module docstring)."""
        ref = CardRef(job_id=job_id, message_id="", channel_id=channel_id)
        await self.state.add_card(ref)
        return ref

    async def forget(self, ref: CardRef) -> None:
        """The card of ``ref`` was not sent after all."""
        await self.state.remove_card(ref)

    async def track(self, ref: CardRef, shown: discord.Embed, webhook_message: discord.WebhookMessage | None = None,
                    *, followup: discord.Webhook | None = None, expected: CardRef | None = None) -> None:
        """Keep ``ref`` up to date from now on (``shown``: the embed it was sent with; ``expected``: the entry
        saved by ``expect`` before sending, replaced by ``ref`` in the same write)."""
        live = _Live(ref=ref, webhook_message=webhook_message, followup=followup, last_edit=time.monotonic(),
                     shown=_as_dict(shown))
        self._live[(ref.job_id, ref.message_id)] = live
        if expected is not None:
            await self.state.replace_card(expected, ref)
        else:
            await self.state.add_card(ref)
        self._wake.set()

    def kick(self) -> None:
        """Look at the jobs now rather than at the next poll."""
        self._wake.set()

    @property
    def tracked(self) -> int:
        return len(self._live)

    # -- the loop ---------------------------------------------------------------------------------------
    async def _loop(self) -> None:
        await self.client.wait_until_ready()
        await self._recover()
        while True:
            self.refresh()
            await pause(self._wake, self.config.card_poll_s)

    def refresh(self) -> None:
        """Start refreshing every tracked card whose previous refresh has ended."""
        for key, live in list(self._live.items()):
            if live.task is None or live.task.done():
                live.task = asyncio.create_task(self._refresh(key, live), name=f"job-card-{live.ref.job_id}")

    async def _refresh(self, key: tuple[int, str], live: _Live) -> None:
        try:
            await self._update(key, live)
        except StorageError as exc:
            log.warning("job card of job %d: the database is not reachable (%s); trying again at the next poll",
                        live.ref.job_id, exc)
        except Exception:
            log.exception("refreshing the card of job %d failed; trying again at the next poll", live.ref.job_id)

    async def _update(self, key: tuple[int, str], live: _Live) -> None:
        """Edit the card if its job changed and its interval passed; stop tracking once it shows the end."""
        try:
            job = await self.queue.get(live.ref.job_id)
        except JobNotFound:
            await self._drop(key, live)
            return
        position = await self.queue.queue_position(job.id) if job.status is JobStatus.QUEUED else None
        tuned_from = await self._tuned_from(live, job)
        post = await self.state.post(job.id) if job.status is JobStatus.SUCCEEDED else None
        seen = (job.progress, job.stage)
        if seen != live.progress_seen:
            live.progress_seen, live.progress_since = seen, time.monotonic()
        stalled = time.monotonic() - live.progress_since if job.status is JobStatus.RUNNING else 0.0
        embed = card_embed(job, now=utcnow().replace(microsecond=0), position=position, tuned_from=tuned_from,
                           problem=post.problem if post is not None and post.stopped else None,
                           thread_id=post.thread_id if post is not None else None, stalled_s=round(stalled))
        wanted = _as_dict(embed)
        if job.status is JobStatus.SUCCEEDED and not live.finished_told and self.on_finished is not None:
            live.finished_told = True
            await self.on_finished(job)
        if wanted != live.shown and not live.final:
            if time.monotonic() - live.last_edit < self.config.card_edit_interval_s:
                return  # a later poll, after the interval, shows the newest state
            if await self._edit(live, embed, card_view(job), job):
                live.shown = wanted
        if live.final or (wanted == live.shown and self._settled(job, post)):
            await self._drop(key, live)

    def _settled(self, job: Job, post: Any) -> bool:
        """Nothing will change on this card any more: the job ended, and a succeeded job's posting did too
        (a stopped post may resume after /setup, and its card then loses the warning)."""
        if job.status.active:
            return False
        if job.status is not JobStatus.SUCCEEDED or post is None or post.done:
            return True
        finished = job.finished_at or utcnow()
        return finished < utcnow() - timedelta(seconds=self.config.post_max_age_s)  # the poster never posts it

    async def _tuned_from(self, live: _Live, job: Job) -> int | None:
        """Votes behind the tuning the job runs with (the worker's record once it ran, else the current one)."""
        result_tuning = (job.result or {}).get("tuning")
        if isinstance(result_tuning, dict) and result_tuning.get("votes_used"):
            return int(result_tuning["votes_used"])
        if live.tuned_checked:
            return live.tuned_from
        live.tuned_checked = True
        vod = (job.payload or {}).get("vod") or {}
        streamer = vod.get("streamer_id") if isinstance(vod, dict) else None
        if job.guild_id and streamer is not None:
            tuning = await self.repo.current_tuning(job.guild_id, int(streamer))
            live.tuned_from = tuning.votes_used if tuning and tuning.params and tuning.votes_used else None
        return live.tuned_from

    async def _edit(self, live: _Live, embed: discord.Embed, view: discord.ui.View | None, job: Job) -> bool:
        kwargs: dict[str, Any] = {"embed": embed, "view": view}
        young = time.time() - live.ref.created_at < self.config.webhook_edit_max_age_s
        try:
            if live.webhook_message is not None and young:
                try:
                    await live.webhook_message.edit(**kwargs)
                except discord.HTTPException as exc:
                    if exc.code != 50027:  # the token expired sooner than our clock said: the channel route then
                        raise
                    live.webhook_message = None
                    await self._channel_edit(live, kwargs)
            else:
                await self._channel_edit(live, kwargs)
        except discord.NotFound:
            log.info("job card %s of job %d was deleted; no longer updating it", live.ref.message_id, live.ref.job_id)
            live.final = True
            return False
        except discord.RateLimited as exc:
            log.warning("editing the card of job %d is rate limited for %.0f s; trying again later", job.id,
                        exc.retry_after)
            live.last_edit = time.monotonic()
            return False
        except discord.HTTPException as exc:
            live.last_edit = time.monotonic()
            if exc.status >= 500 or exc.status == 429:
                log.warning("editing the card of job %d failed (%s); trying again later", job.id, exc)
                return False
            live.refused += 1
            if live.refused >= CARD_EDIT_TRIES:
                await self._give_up(live, job, exc)
            else:
                log.warning("Discord refused to edit the card of job %d (%s); trying again later", job.id, exc)
            return False
        live.last_edit = time.monotonic()
        live.refused = 0
        self.edits += 1
        return True

    async def _channel_edit(self, live: _Live, kwargs: dict[str, Any]) -> None:
        channel = self.client.get_partial_messageable(int(live.ref.channel_id))
        await channel.get_partial_message(int(live.ref.message_id)).edit(**kwargs)

    async def _give_up(self, live: _Live, job: Job, exc: discord.HTTPException) -> None:
        """Leave the card as it is; say why on /jobs and, while the interaction allows it, to the requester."""
        live.final = True
        text = refusal_text(self.client, job.guild_id or 0, live.ref.channel_id, exc,
                            f"update the card of job #{job.id}")
        log.warning("job card of job %d: %s (gave up after %d tries)", job.id, text, live.refused)
        if job.status is not JobStatus.SUCCEEDED:  # a succeeded job's post keeps its own problem
            post = await self.state.post(job.id)
            await self.state.set_post(replace(post, problem=text))
        if live.followup is not None and time.time() - live.ref.created_at < TELL_WITHIN_S:
            try:
                await live.followup.send(f"{text} /jobs shows how job #{job.id} goes.", ephemeral=True)
            except discord.HTTPException as told:
                log.warning("could not tell the requester of job %d: %s", job.id, told)

    async def _drop(self, key: tuple[int, str], live: _Live) -> None:
        if self._live.pop(key, None) is not None:
            await self.state.remove_card(live.ref)

    # -- cards sent just before a crash -------------------------------------------------------------------
    async def _recover(self) -> None:
        """Find the message of each card saved but not confirmed, and track it (or forget it if never sent)."""
        unsent, self._unsent = self._unsent, []
        for ref in unsent:
            message_id = await self._find(ref)
            if message_id is None:
                log.info("job card of job %d was not sent before the last stop; the job goes on without it", ref.job_id)
                await self.state.remove_card(ref)
                continue
            found = replace(ref, message_id=message_id)
            await self.state.replace_card(ref, found)
            self._live.setdefault((found.job_id, found.message_id), _Live(ref=found))
            log.info("job card of job %d found again after a restart (message %s)", ref.job_id, message_id)

    async def _find(self, ref: CardRef) -> str | None:
        me = self.client.user.id if self.client.user else None
        since = datetime.fromtimestamp(ref.created_at - 60, UTC)
        channel = self.client.get_partial_messageable(int(ref.channel_id))
        try:
            async for message in channel.history(limit=RECOVER_SCAN, after=discord.Object(discord.utils.time_snowflake(since))):
                embeds: list[dict[str, Any]] = [dict(e.to_dict()) for e in message.embeds]  # type: ignore[arg-type]
                if message.author.id == me and card_job_id(embeds) == ref.job_id:
                    return str(message.id)
        except discord.HTTPException as exc:
            log.warning("job card of job %d: the channel's history cannot be read (%s)", ref.job_id, exc)
        return None

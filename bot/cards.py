"""Live job cards: each tracked card message is edited as its job advances, at most once per interval.

Consumes the queue (job state, queue position), the repository (the tuning a job runs with) and
the card messages in the bot state; produces message edits. A card younger than the interaction
token's life is edited through the interaction webhook (no channel permission needed); older cards
(and every card after a restart) through the channel. When a job ends, its card gets a last edit
and the poster is told to post the clips.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot.state import BotState, CardRef
from bot.views.job_card import card_embed, card_view
from bot.wakeup import pause
from storage.clock import utcnow
from storage.errors import JobNotFound, StorageError
from storage.queue.port import JobQueue
from storage.records import Job, JobStatus
from storage.repo.port import Repository

if TYPE_CHECKING:
    from bot.config import BotConfig

log = logging.getLogger(__name__)


@dataclass
class _Live:
    ref: CardRef
    webhook_message: discord.WebhookMessage | None = None
    last_edit: float = float("-inf")
    shown: dict[str, Any] | None = None
    final: bool = False
    tuned_from: int | None = None
    tuned_checked: bool = False


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
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.edits = 0

    # -- lifecycle --------------------------------------------------------------------------------------
    async def start(self) -> None:
        for ref in await self.state.cards():
            self._live.setdefault((ref.job_id, ref.message_id), _Live(ref=ref))
        self._task = asyncio.create_task(self._loop(), name="job-cards")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def track(self, ref: CardRef, shown: discord.Embed, webhook_message: discord.WebhookMessage | None = None
                    ) -> None:
        """Keep ``ref`` up to date from now on (``shown``: the embed the card was sent with)."""
        live = _Live(ref=ref, webhook_message=webhook_message, last_edit=time.monotonic(), shown=_as_dict(shown))
        self._live[(ref.job_id, ref.message_id)] = live
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
        while True:
            try:
                await self.refresh()
            except StorageError as exc:
                log.warning("job cards: the database is not reachable (%s); trying again at the next poll", exc)
            except Exception:
                log.exception("refreshing job cards failed; trying again at the next poll")
            await pause(self._wake, self.config.card_poll_s)

    async def refresh(self) -> None:
        """One pass over every tracked card: edit those whose job changed and whose interval passed."""
        for key, live in list(self._live.items()):
            try:
                job = await self.queue.get(live.ref.job_id)
            except JobNotFound:
                await self._drop(key, live)
                continue
            except StorageError as exc:
                log.warning("job cards: reading job %d failed: %s", live.ref.job_id, exc)
                return
            position = await self.queue.queue_position(job.id) if job.status is JobStatus.QUEUED else None
            tuned_from = await self._tuned_from(live, job)
            embed = self._render(job, position, tuned_from)
            wanted = _as_dict(embed)
            ended = not job.status.active
            if wanted != live.shown:
                if time.monotonic() - live.last_edit < self.config.card_edit_interval_s:
                    continue  # a later poll, after the interval, shows the newest state
                if await self._edit(live, embed, card_view(job)):
                    live.shown = wanted
                    live.final = ended
            elif ended:
                live.final = True
            if live.final:  # shown for good, or the card was deleted: stop tracking it
                await self._drop(key, live)
                if ended and self.on_finished is not None and job.status is JobStatus.SUCCEEDED:
                    await self.on_finished(job)

    def _render(self, job: Job, position: int | None, tuned_from: int | None) -> discord.Embed:
        return card_embed(job, now=utcnow().replace(microsecond=0), position=position, tuned_from=tuned_from)

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

    async def _edit(self, live: _Live, embed: discord.Embed, view: discord.ui.View | None) -> bool:
        kwargs: dict[str, Any] = {"embed": embed, "view": view}
        young = time.time() - live.ref.created_at < self.config.webhook_edit_max_age_s
        try:
            if live.webhook_message is not None and young:
                await live.webhook_message.edit(**kwargs)
            else:
                channel = self.client.get_partial_messageable(int(live.ref.channel_id))
                await channel.get_partial_message(int(live.ref.message_id)).edit(**kwargs)
        except discord.NotFound:
            log.info("job card %s of job %d was deleted; no longer updating it", live.ref.message_id, live.ref.job_id)
            live.final = True
            return False
        except discord.HTTPException as exc:
            log.warning("editing the card of job %d failed (%s); trying again later", live.ref.job_id, exc)
            live.last_edit = time.monotonic()
            return False
        live.last_edit = time.monotonic()
        self.edits += 1
        return True

    async def _drop(self, key: tuple[int, str], live: _Live) -> None:
        if self._live.pop(key, None) is not None:
            await self.state.remove_card(live.ref)

"""Votes → a new tuning version for one guild × streamer, when enough new votes came in.

Consumes the repository's voted clips and tuning history; produces (through
``repo.new_tuning_version``) a version with the tuned parameters and its reason, written by
``storage.tuning.propose``. Versions written here have ``created_by = None``; a version an admin
made (/tuning reset or rollback) is a new starting point: votes cast before it are ignored and the
fit is pulled toward the parameters it set. ``kick`` coalesces bursts of votes into one fit.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from storage.errors import RecordNotFound, StorageError
from storage.records import Clip, Tuning
from storage.repo.port import Repository
from storage.tuning import TuningOptions, VotedClip, propose

log = logging.getLogger(__name__)


def is_manual(tuning: Tuning) -> bool:
    return tuning.created_by is not None


class Tuner:
    def __init__(self, repo: Repository, options: TuningOptions, retune_every: int) -> None:
        self.repo = repo
        self.options = options
        self.retune_every = max(int(retune_every), 1)
        self._tasks: dict[tuple[str, int], asyncio.Task[Tuning | None]] = {}
        self._again: set[tuple[str, int]] = set()

    async def streamer_of(self, clip: Clip) -> int | None:
        if clip.vod_id is None:
            return None
        try:
            return (await self.repo.get_vod(clip.vod_id)).streamer_id
        except RecordNotFound:
            return None

    def kick(self, guild_id: str, streamer_id: int) -> None:
        """Re-tune soon (in the background); several kicks while one fit runs give one more fit."""
        key = (guild_id, streamer_id)
        task = self._tasks.get(key)
        if task is not None and not task.done():
            self._again.add(key)
            return
        self._tasks[key] = asyncio.create_task(self._run(key))

    async def _run(self, key: tuple[str, int]) -> Tuning | None:
        result = None
        while True:
            self._again.discard(key)
            try:
                result = await self.retune(*key) or result
            except StorageError as exc:
                log.warning("tuning guild %s × streamer %s failed: %s", key[0], key[1], exc)
            if key not in self._again:
                return result

    async def wait_idle(self) -> None:
        """Wait for every background fit (tests, shutdown)."""
        while any(not t.done() for t in self._tasks.values()):
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def voted_clips(self, guild_id: str, streamer_id: int, since: datetime | None) -> list[VotedClip]:
        clips = await self.repo.list_voted_clips(guild_id, streamer_id)
        voted: list[VotedClip] = []
        for clip in clips:  # who voted how: tuning counts voters, and caps each one's weight
            votes = [v for v in await self.repo.list_votes(clip.id) if since is None or v.voted_at > since]
            if votes:
                voted.append(VotedClip(signals=clip.signals, up=sum(1 for v in votes if v.value > 0),
                                       down=sum(1 for v in votes if v.value < 0),
                                       voters=tuple((v.user_id, v.value) for v in votes)))
        return voted

    async def retune(self, guild_id: str, streamer_id: int) -> Tuning | None:
        """Fit and store a new version when warranted; the new version, or None."""
        history = await self.repo.tuning_history(guild_id, streamer_id)
        current = history[0] if history else None
        manual = next((t for t in history if is_manual(t)), None)
        clips = await self.voted_clips(guild_id, streamer_id, manual.created_at if manual else None)
        votes = sum(c.up + c.down for c in clips)
        if current is not None and not is_manual(current) and votes - current.votes_used < self.retune_every:
            return None
        proposal = propose(clips, current.params if current else None, self.options,
                           base=manual.params if manual else None)
        if proposal is None or not proposal.changed:
            return None
        tuning = await self.repo.new_tuning_version(guild_id, streamer_id, proposal.params, reason=proposal.reason,
                                                    votes_used=proposal.votes_used)
        log.info("tuning of guild %s × streamer %s is now version %d: %s", guild_id, streamer_id, tuning.version,
                 proposal.reason)
        return tuning

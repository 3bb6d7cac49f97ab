"""The ``Repository`` port: streamers, subscriptions, VODs, clips, votes and tuning, for bot and worker.

Semantics every adapter keeps (``tests/storage/test_repo_contract.py`` checks them on SQLite and
PostgreSQL alike):

- ``get_*`` raise ``RecordNotFound``; ``find_*`` return ``None`` when nothing matches.
- ``upsert_streamer`` is keyed by the lower-cased login; ``upsert_vod`` by ``twitch_vod_id`` when given,
  else by ``source``; both fill in the fields given and keep the others.
- ``subscribe`` is keyed by guild × streamer: subscribing again moves the channel and re-enables it,
  keeping ``last_seen_vod``.
- ``save_candidates`` stores a job's candidates by rank; saving again (a retried job) replaces the
  times and scores of the same ranks, keeps their files, messages and votes, and drops higher ranks
  that were never posted.
- Votes: one per user per clip; voting again replaces the value. Clips carry their vote counts. A vote
  counts only in the guild whose job made the clip (``ForeignVote`` otherwise).
- Tuning: versions 1, 2, 3… per guild × streamer, the highest is current; a rollback appends a new
  version carrying the old parameters, so the history is never rewritten.
- Adaptation (a community's adapted chat ranker): versioned the same way; a reset appends an empty model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from storage.records import Adaptation, Clip, Streamer, Subscription, Tuning, Vod, Vote


@dataclass(frozen=True, slots=True)
class ClipDraft:
    """A detected candidate before it is stored (the worker's view; ids come from the database)."""

    rank: int
    """1 for the best candidate of the job."""
    start_s: float
    end_s: float
    peak_s: float
    score: float
    signals: dict[str, float] = field(default_factory=dict)
    explanation: dict[str, Any] = field(default_factory=dict)


class Repository(Protocol):
    # -- streamers ------------------------------------------------------------------------------------
    async def upsert_streamer(self, login: str, *, display_name: str | None = None,
                              twitch_user_id: str | None = None) -> Streamer: ...

    async def get_streamer(self, streamer_id: int) -> Streamer: ...

    async def find_streamer(self, login: str) -> Streamer | None: ...

    async def list_streamers(self) -> list[Streamer]: ...

    # -- subscriptions --------------------------------------------------------------------------------
    async def subscribe(self, guild_id: str, streamer_id: int, channel_id: str, *,
                        created_by: str | None = None) -> Subscription: ...

    async def unsubscribe(self, guild_id: str, streamer_id: int) -> bool:
        """False when there was no such subscription."""
        ...

    async def get_subscription(self, subscription_id: int) -> Subscription: ...

    async def list_subscriptions(self, *, guild_id: str | None = None, streamer_id: int | None = None,
                                 enabled_only: bool = False) -> list[Subscription]: ...

    async def set_subscription_enabled(self, subscription_id: int, enabled: bool) -> Subscription: ...

    async def set_last_seen_vod(self, subscription_id: int, vod_id: str) -> Subscription:
        """Persist the newest VOD id already queued for this subscription."""
        ...

    # -- VODs -----------------------------------------------------------------------------------------
    async def upsert_vod(self, *, source: str, twitch_vod_id: str | None = None, streamer_id: int | None = None,
                         title: str | None = None, duration_s: float | None = None) -> Vod: ...

    async def get_vod(self, vod_id: int) -> Vod: ...

    async def find_vod(self, *, twitch_vod_id: str | None = None, source: str | None = None) -> Vod | None: ...

    # -- jobs, read-only (the scheduler asks "was this VOD ever queued here?") -------------------------
    async def find_job_with_key(self, dedupe_key: str, *, guild_id: str | None = None) -> int | None:
        """The newest job ever enqueued with ``dedupe_key`` (in ``guild_id`` when given), whatever its
        status — finished ones included, unlike the queue's dedupe; None when there was none."""
        ...

    # -- clips ----------------------------------------------------------------------------------------
    async def save_candidates(self, job_id: int, drafts: Sequence[ClipDraft], *,
                              vod_id: int | None = None) -> list[Clip]:
        """Store a job's candidates (see the module docstring); return the job's clips by rank."""
        ...

    async def get_clip(self, clip_id: int) -> Clip: ...

    async def list_clips(self, job_id: int) -> list[Clip]:
        """The job's clips ordered by rank."""
        ...

    async def find_clip_by_message(self, message_id: str) -> Clip | None: ...

    async def set_clip_files(self, clip_id: int, files: Mapping[str, str]) -> Clip:
        """Merge rendered files (layout → path relative to the artifact root) into the clip's."""
        ...

    async def set_clip_message(self, clip_id: int, *, message_id: str, channel_id: str,
                               thread_id: str | None = None) -> Clip: ...

    # -- votes ----------------------------------------------------------------------------------------
    async def vote(self, clip_id: int, user_id: str, value: int, *, guild_id: str | None) -> Clip:
        """Record (or replace) the user's vote, +1 or −1; return the clip with its new counts.

        ``guild_id`` is the guild the vote was cast in: a clip of another guild's job (or of a job with
        no guild, unless ``guild_id`` is None) raises ``ForeignVote`` and nothing is stored, so one
        server's members never tune another server's detector."""
        ...

    async def remove_vote(self, clip_id: int, user_id: str) -> Clip: ...

    async def get_vote(self, clip_id: int, user_id: str) -> Vote | None: ...

    async def list_votes(self, clip_id: int) -> list[Vote]: ...

    async def list_voted_clips(self, guild_id: str, streamer_id: int) -> list[Clip]:
        """Clips of this guild's jobs on this streamer's VODs that have at least one vote (for tuning)."""
        ...

    # -- tuning ---------------------------------------------------------------------------------------
    async def current_tuning(self, guild_id: str, streamer_id: int) -> Tuning | None: ...

    async def tuning_history(self, guild_id: str, streamer_id: int) -> list[Tuning]:
        """Every version, newest first."""
        ...

    async def new_tuning_version(self, guild_id: str, streamer_id: int, params: Mapping[str, float], *,
                                 reason: str, votes_used: int = 0, by: str | None = None) -> Tuning: ...

    async def rollback_tuning(self, guild_id: str, streamer_id: int, version: int, *,
                              by: str | None = None) -> Tuning:
        """Append a new version with the parameters of ``version``; ``RecordNotFound`` if it never existed."""
        ...

    # -- adaptation (a community's adapted chat ranker; storage.repo.adaptations) --------------------------
    async def current_adaptation(self, guild_id: str, streamer_id: int) -> Adaptation | None: ...

    async def adaptation_history(self, guild_id: str, streamer_id: int) -> list[Adaptation]:
        """Every version, newest first."""
        ...

    async def new_adaptation(self, guild_id: str, streamer_id: int, model: Mapping[str, Any], *, source: str,
                             summary: str, labels_used: int = 0, vods_used: int = 0,
                             by: str | None = None) -> Adaptation: ...

    async def rollback_adaptation(self, guild_id: str, streamer_id: int, version: int, *,
                                  by: str | None = None) -> Adaptation:
        """Append a new version with the model of ``version``; ``RecordNotFound`` if it never existed."""
        ...

    async def reset_adaptation(self, guild_id: str, streamer_id: int, *, by: str | None = None) -> Adaptation:
        """Append a version with no model: jobs use the shipped default ranker again."""
        ...

    async def close(self) -> None: ...

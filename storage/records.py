"""Records shared by the bot and the worker: frozen dataclasses that cross the storage boundary.

Times are UTC ``datetime``s in records and seconds (floats) on the VOD timeline for clip
boundaries. Ids are integers assigned by the database; Discord ids are strings (snowflakes exceed
what some JSON readers keep exactly).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (JobStatus.QUEUED, JobStatus.RUNNING)


class JobKind(enum.StrEnum):
    DETECT = "detect"
    """Download (or open) a VOD, detect, render, store clips: GPU queue."""
    POLL = "poll"
    """Check a subscription for a new VOD: control queue, cheap."""
    CLEANUP = "cleanup"
    """Apply the artifact retention policy: control queue."""
    ADAPT = "adapt"
    """Refit a guild × streamer's chat ranker from its viewers' clips and votes: control queue (CPU)."""
    RENDER = "render"
    """Re-cut one stored clip (more before or after, another layout): render only, no detection; GPU queue."""


class Priority(enum.IntEnum):
    """Higher runs first. A person's request goes before a scheduled one."""

    SCHEDULED = 0
    PERSON = 10
    ADMIN = 20


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What to enqueue."""

    kind: JobKind
    payload: dict[str, Any]
    """Kind-specific input (e.g. ``{"vod": "...", "settings": {...}}``); JSON-serialisable."""
    dedupe_key: str | None = None
    """Two active jobs never share a key: enqueueing the same key joins the existing job."""
    priority: int = Priority.PERSON
    requested_by: str | None = None
    """Discord user id, or ``scheduler``."""
    guild_id: str | None = None
    channel_id: str | None = None
    max_attempts: int | None = None
    """None: the kind's default from ``storage.queue.timeouts``."""


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: JobKind
    status: JobStatus
    payload: dict[str, Any]
    priority: int
    dedupe_key: str | None
    attempts: int
    max_attempts: int
    stage: str | None
    progress: float
    """0.0–1.0 within the whole job."""
    progress_message: str | None
    error_code: str | None
    error_message: str | None
    requested_by: str | None
    guild_id: str | None
    channel_id: str | None
    cancel_requested: bool
    lease_owner: str | None
    lease_expires_at: datetime | None
    run_after: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    job: Job
    created: bool
    """False when the request joined an active job with the same dedupe key."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The queue's answer to a worker's heartbeat."""

    owned: bool
    """False when the lease was lost (expired and taken over, or the job ended): stop working."""
    cancel_requested: bool


@dataclass(frozen=True, slots=True)
class Streamer:
    id: int
    login: str
    display_name: str | None = None
    twitch_user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    guild_id: str
    streamer_id: int
    channel_id: str
    created_by: str | None
    last_seen_vod: str | None
    """The newest VOD id already queued, persisted so restarts neither skip nor repeat one."""
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Vod:
    id: int
    twitch_vod_id: str | None
    """None for local files."""
    source: str
    """The URL or local path the VOD was taken from."""
    streamer_id: int | None
    title: str | None
    duration_s: float | None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Clip:
    """A detected candidate, and once rendered and posted, its files and Discord message."""

    id: int
    job_id: int
    vod_id: int | None
    rank: int
    start_s: float
    end_s: float
    peak_s: float
    score: float
    signals: dict[str, float]
    explanation: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    """Rendered files by layout (``16:9``, ``9:16``, ``thumb``), paths relative to the artifact root."""
    message_id: str | None = None
    channel_id: str | None = None
    thread_id: str | None = None
    up_votes: int = 0
    down_votes: int = 0


@dataclass(frozen=True, slots=True)
class Vote:
    clip_id: int
    user_id: str
    value: int
    """+1 or −1."""
    voted_at: datetime


@dataclass(frozen=True, slots=True)
class Tuning:
    """Detector parameter overrides for one guild × streamer, with the change that made them."""

    guild_id: str
    streamer_id: int
    version: int
    params: dict[str, float]
    reason: str
    votes_used: int
    created_at: datetime
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class Adaptation:
    """A community's adapted chat ranker for one guild × streamer, with what it learned from."""

    guild_id: str
    streamer_id: int
    version: int
    model: dict[str, Any]
    """The ranker model file's content (``detector.signals.ranker.model``); empty: back to the shipped default."""
    source: str
    """``viewer clips``, ``votes``, ``labelled intervals``, or ``rollback to version N`` / ``reset``."""
    labels_used: int
    vods_used: int
    summary: str
    """What a person reads, e.g. "adapted from 212 viewer clips over 9 VODs"."""
    created_at: datetime
    created_by: str | None = None

    @property
    def active(self) -> bool:
        """Whether this version changes anything (an empty model means the default ranker)."""
        return bool(self.model)

"""Records passed between detector stages.

Frozen dataclasses with slots: ``sources`` produce ``MediaInfo`` and ``ChatLog``; ``signals``
produce ``SignalTrack`` (the transcript also ``Word`` timings, which snapping and captions read);
``fusion`` produces ``Candidate`` with its ``Explanation``; the pipeline wraps everything in a
``DetectionResult``. All times are seconds on the VOD timeline (the timeline
chat offsets use), unless a field says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What probing a media file found."""

    path: str
    duration_s: float
    """Container duration in seconds (0.0 when unknown)."""
    has_audio: bool
    has_video: bool
    audio_codec: str | None = None
    audio_rate: int | None = None
    """Audio sample rate in Hz of the first audio stream."""
    audio_channels: int | None = None
    video_codec: str | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat message."""

    offset_s: float
    """Seconds since the VOD started (never negative)."""
    text: str
    author: str | None = None
    """Login or display name; None when the log does not say."""
    emotes: tuple[str, ...] = ()
    """Emote names the log marked explicitly (e.g. TwitchDownloader fragments); text tokens that
    look like emotes are found later by the chat signal."""


@dataclass(frozen=True, slots=True)
class ChatLog:
    """A parsed chat log, messages sorted by offset."""

    source: str
    """Path (or name) the log was read from."""
    format: str
    """Detected format name, e.g. ``twitchdownloader-json``."""
    messages: tuple[ChatMessage, ...]
    warnings: tuple[str, ...] = ()
    """Things fixed on the way (dropped lines, reordered offsets), for the user to see."""

    @property
    def has_authors(self) -> bool:
        return any(m.author for m in self.messages)

    @property
    def duration_s(self) -> float:
        return self.messages[-1].offset_s if self.messages else 0.0


@dataclass(frozen=True, slots=True)
class Word:
    """One spoken word: ``start_s``/``end_s`` in seconds (VOD timeline unless said otherwise)."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True, slots=True)
class SignalTrack:
    """One signal's score on a regular timebase, with the features behind it.

    ``values[i]`` describes the interval ``[start_s + i*hop_s, start_s + (i+1)*hop_s)`` on the
    VOD timeline; it is dimensionless (a robust z-score or a combination of them).
    """

    name: str
    hop_s: float
    values: np.ndarray
    start_s: float = 0.0
    features: dict[str, np.ndarray] = field(default_factory=dict)
    """Named sub-features on the same timebase (explanations and the report read them)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Facts about how the track was made (e.g. the chat lag applied, baselines)."""

    def times(self) -> np.ndarray:
        return self.start_s + self.hop_s * np.arange(len(self.values))

    def index_at(self, t: float) -> int:
        i = int((t - self.start_s) / self.hop_s)
        return min(max(i, 0), max(len(self.values) - 1, 0))


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a candidate was chosen, in terms a streamer can check."""

    summary: str
    """One line, e.g. ``chat ×4.2 over baseline (KEKW, LUL), audio z 3.1``."""
    contributions: dict[str, float]
    """Each signal's weighted share of the fused score at the peak."""
    chat_lag_s: float | None = None
    chat_rate_ratio: float | None = None
    """Messages per second at the peak over the local baseline."""
    top_emotes: tuple[tuple[str, int], ...] = ()
    chat_sample: tuple[str, ...] = ()
    audio_z: float | None = None
    quote: str | None = None
    """What the streamer said around the peak (from the transcript), when it was transcribed."""
    segment: str | None = None
    """The segment label at the peak (``gameplay``, ``talking``, ``menu``, ``other``), when segmented."""
    vision: str | None = None
    """What the vision model saw in the window (its best prompt and probability), when frames were scored."""
    caption: str | None = None
    """A one-line caption of the window from the captioning model, when one ran."""
    snapped: tuple[str, ...] = ()
    """How the clip's edges moved to scene cuts or silences (e.g. ``start −1.2 s to a cut``)."""
    muted_s: float | None = None
    """Seconds of the clip inside muted (DMCA) parts of the VOD, when the VOD has any."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A ranked highlight candidate."""

    rank: int
    start_s: float
    end_s: float
    peak_s: float
    score: float
    signals: dict[str, float]
    """Each signal's raw track value at the peak (before weighting)."""
    explanation: Explanation

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class DetectionResult:
    """Everything ``detect`` returns: candidates sorted by score, the tracks and run facts."""

    candidates: tuple[Candidate, ...]
    tracks: dict[str, SignalTrack]
    fused: SignalTrack
    meta: dict[str, Any]


class ProgressCallback(Protocol):
    """Called by long stages: ``stage`` name, work ``done`` so far of ``total`` (same unit)."""

    def __call__(self, stage: str, done: float, total: float | None) -> None: ...


class AbortCheck(Protocol):
    """Returns True when the work should stop; checked between steps and inside long loops."""

    def __call__(self) -> bool: ...

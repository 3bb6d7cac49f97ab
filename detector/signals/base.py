"""The signal plugin base: what every signal is given and what it must produce.

Every signal subclasses :class:`Signal` (``NAME``, ``version``, ``needs``, ``compute()`` returning a
``SignalTrack``); ``detector.signals.registry`` lists them by name. A signal whose optional
dependency is missing reports itself unavailable with a reason instead of failing at import time.
This module imports no plugin, so every plugin may import it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from detector.compute import ArrayBackend
from detector.params import Settings
from detector.records import AbortCheck, ChatLog, MediaInfo, ProgressCallback, SignalTrack
from detector.signals.chat_learned import TokenWeights

if TYPE_CHECKING:
    from detector.signals.ranker.model import RankerModel

log = logging.getLogger(__name__)

HOP_S = 0.5
"""The common timebase of every track, in seconds."""


@dataclass(frozen=True, slots=True)
class SignalInputs:
    """What the pipeline hands each signal."""

    duration_s: float
    """Length of the VOD timeline to cover."""
    media: MediaInfo | None = None
    chat: ChatLog | None = None
    chat_lexicon: TokenWeights | None = None
    """Learned token weights (``highlights lexicon``); adds the chat feature ``learned``."""
    ranker: RankerModel | None = None
    """The chat window ranker (a community's adapted model); None: the shipped default."""
    audio_taps: tuple[Callable[[Any], None], ...] = ()
    """Other consumers of the decoded sound (16 kHz mono float32 chunks, in order), fed by the audio
    signal's decode so the VOD's sound is decoded once (the segmenter's sound features)."""


@dataclass(frozen=True, slots=True)
class SignalContext:
    """How to compute: parameters, array backend, progress and abort hooks."""

    settings: Settings
    backend: ArrayBackend
    progress: ProgressCallback | None = None
    abort: AbortCheck | None = None


class Signal(ABC):
    """Base of all signals."""

    NAME: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    needs: ClassVar[tuple[str, ...]] = ()
    """Inputs this signal reads: ``"chat"`` and/or ``"audio"``."""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the signal can run here; otherwise why not (e.g. a missing package)."""
        return None

    @classmethod
    def applies_to(cls, inputs: SignalInputs) -> bool:
        """Whether the inputs carry what this signal reads."""
        has = {
            "chat": inputs.chat is not None,
            "audio": inputs.media is not None and inputs.media.has_audio,
        }
        return all(has.get(n, False) for n in cls.needs)

    @abstractmethod
    def compute(self, inputs: SignalInputs, ctx: SignalContext) -> SignalTrack:
        """The signal's track on the common timebase (``HOP_S``) over ``inputs.duration_s``."""

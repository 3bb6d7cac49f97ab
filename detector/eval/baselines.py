"""Evaluation stage: the reference rankers the dataset README quotes, as plain rankers.

Each ranker consumes a :class:`~detector.records.ChatLog` and a game window ``[start_s, end_s]``
and produces up to ``top_k`` clips ``(start_s, end_s, score)`` ranked best first, every clip inside
the window. They are yardsticks for the real detector, not part of it:

- :func:`message_rate_baseline`: chat messages per second, smoothed over 10 s, shifted 20 s back
  (chat reacts late, so the clip sits 20 s *before* the chat peak), 60 s non-max suppression,
  20 s clips centred on the shifted peak.
- :func:`hype_token_baseline`: the same, counting only messages with a common hype token.
- :func:`random_baseline`: 20 s clips at random starts (seeded, reproducible).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from detector.records import ChatLog

if TYPE_CHECKING:
    from detector.eval.runner import Ranker

log = logging.getLogger(__name__)

Clip = tuple[float, float, float]

SMOOTH_S = 10.0
LAG_S = 20.0
NMS_S = 60.0
CLIP_S = 20.0

HYPE_TOKENS: tuple[str, ...] = (
    *("pog", "kekw", "lul", "omg", "wow", "clip", "??", "!!"),
    *("wtf", "lmao", "holy", "insane", "monkas", "gg", "ez"),
)
"""Substrings (matched case-insensitively) that make a message count as hype. Plain substrings,
so ``pog`` also matches PogChamp/POGGERS and ``lul`` OMEGALUL; crude on purpose (a baseline)."""

_strings = getattr(np, "strings", np.char)
_STRING_DTYPE = getattr(getattr(np, "dtypes", None), "StringDType", None)


def rate_peak_clips(
    offsets: np.ndarray,
    start_s: float,
    end_s: float,
    top_k: int,
    *,
    smooth_s: float = SMOOTH_S,
    lag_s: float = LAG_S,
    nms_s: float = NMS_S,
    clip_s: float = CLIP_S,
) -> list[Clip]:
    """Rank ``clip_s`` clips by the smoothed per-second count of the events at ``offsets``.

    Events are counted in 1 s bins; the rate at time ``T`` is the mean count over the
    ``smooth_s`` seconds centred on ``T``. A peak at ``T`` becomes the clip centred on ``T - lag_s``;
    only centres that keep the whole clip inside ``[start_s, end_s]`` are eligible. Peaks are taken
    greedily, best first, each suppressing every other peak closer than ``nms_s``. Scores are the
    smoothed rate (events per second).
    """
    if top_k <= 0 or end_s - start_s < clip_s:
        return []
    half = clip_s / 2.0
    w = max(1, round(smooth_s))
    # Peak times T_j = origin + j cover every eligible centre; the rate at T_j averages the w
    # one-second bins [T_j - w//2, T_j - w//2 + w), i.e. bin indices j .. j+w-1 below.
    origin = math.floor(start_s + half + lag_s) - 1
    n = math.ceil(end_s - half + lag_s) + 2 - origin
    first_bin = origin - w // 2
    n_bins = n + w
    idx = np.floor(np.asarray(offsets, dtype=np.float64) - first_bin).astype(np.int64)
    idx = idx[(idx >= 0) & (idx < n_bins)]
    counts = np.bincount(idx, minlength=n_bins).astype(np.float64)
    cum = np.concatenate(([0.0], np.cumsum(counts)))
    j = np.arange(n)
    rate = (cum[j + w] - cum[j]) / w
    centres = origin + j - lag_s
    score = np.where((centres >= start_s + half) & (centres <= end_s - half), rate, -np.inf)

    clips: list[Clip] = []
    for _ in range(top_k):
        best = int(np.argmax(score))
        value = float(score[best])
        if value == -np.inf:
            break
        c = float(centres[best])
        clips.append((c - half, c + half, value))
        # suppress every peak time T with |T - T_best| < nms_s (and the peak itself)
        lo = max(0, math.floor(best - nms_s) + 1)
        hi = min(n, max(math.ceil(best + nms_s), best + 1))
        score[min(lo, best) : hi] = -np.inf
    return clips


def _offsets(chat: ChatLog) -> np.ndarray:
    return np.fromiter((m.offset_s for m in chat.messages), dtype=np.float64, count=len(chat.messages))


def hype_mask(texts: Sequence[str], tokens: Sequence[str] = HYPE_TOKENS) -> np.ndarray:
    """Boolean array: which texts contain any of ``tokens`` (case-insensitive substrings)."""
    if len(texts) == 0:
        return np.zeros(0, dtype=bool)
    dtype = _STRING_DTYPE() if _STRING_DTYPE is not None else str
    arr = _strings.lower(np.asarray(texts, dtype=dtype))
    mask = np.zeros(len(texts), dtype=bool)
    for token in tokens:
        mask |= _strings.find(arr, token.lower()) >= 0
    return mask


def message_rate_baseline(chat: ChatLog, start_s: float, end_s: float, top_k: int) -> list[Clip]:
    """Peaks of the smoothed chat message rate, 20 s lag, 60 s NMS, 20 s clips."""
    return rate_peak_clips(_offsets(chat), start_s, end_s, top_k)


def hype_token_baseline(chat: ChatLog, start_s: float, end_s: float, top_k: int) -> list[Clip]:
    """Peaks of the smoothed rate of messages with a hype token, 20 s lag, 60 s NMS, 20 s clips."""
    offsets = _offsets(chat)
    inside = (offsets >= start_s - 2 * SMOOTH_S) & (offsets <= end_s + LAG_S + 2 * SMOOTH_S)
    texts = [m.text for m, keep in zip(chat.messages, inside) if keep]
    return rate_peak_clips(offsets[inside][hype_mask(texts)], start_s, end_s, top_k)


def random_baseline(seed: int = 0) -> Ranker:
    """A ranker of ``top_k`` 20 s clips at uniformly random starts inside the window.

    The draw depends only on ``seed`` and the window, so runs are reproducible; ``chat`` is
    ignored. Scores fall with rank.
    """

    def ranker(chat: ChatLog, start_s: float, end_s: float, top_k: int) -> list[Clip]:
        if top_k <= 0 or end_s - start_s < CLIP_S:
            return []
        entropy = [int(seed) & 0xFFFFFFFF, round(start_s * 1000), round(end_s * 1000)]
        rng = np.random.default_rng(np.random.SeedSequence(entropy))
        starts = rng.uniform(start_s, end_s - CLIP_S, size=top_k)
        return [(float(s), float(s) + CLIP_S, float(top_k - i)) for i, s in enumerate(starts)]

    ranker.__name__ = ranker.__qualname__ = f"random_baseline_{seed}"
    return ranker


def default_baselines(seed: int = 0) -> dict[str, Ranker]:
    """The README's three reference rankers, keyed by short report names."""
    return {
        "random": random_baseline(seed),
        "rate": message_rate_baseline,
        "hype": hype_token_baseline,
    }

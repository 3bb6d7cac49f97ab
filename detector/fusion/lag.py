"""Chat reaction lag: how many seconds chat trails what happened on stream.

Consumes the chat track (chat timeline) and, when there is one, the audio track (VOD timeline);
produces the lag in seconds and where it came from. With audio, the lag is the shift in
``[chat_lag_min_s, chat_lag_max_s]`` that maximises the correlation between the onsets (rises) of
chat excitement and of audio excitement; it is trusted only when that correlation reaches ``chat_lag_min_corr``.
Otherwise (or chat-only) the prior ``chat_lag_prior_s`` is used: viewers on Twitch react about
20 s late (stream delay plus reaction and typing time), measured on labelled VODs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.params import Settings
from detector.records import SignalTrack


@dataclass(frozen=True, slots=True)
class LagEstimate:
    lag_s: float
    source: str
    """``estimated`` (from chat/audio correlation) or ``prior``."""
    correlation: float | None = None
    """Peak correlation at the chosen lag (None for the prior without audio)."""


def estimate_chat_lag(chat: SignalTrack, audio: SignalTrack | None, settings: Settings) -> LagEstimate:
    prior = float(settings["chat_lag_prior_s"])
    if audio is None:
        return LagEstimate(prior, "prior")
    lo_s, hi_s = sorted((settings["chat_lag_min_s"], settings["chat_lag_max_s"]))
    hop = chat.hop_s
    c = _excitement(chat.values)
    a = _excitement(audio.values)
    n = min(len(c), len(a))
    lags = np.arange(int(round(lo_s / hop)), int(round(hi_s / hop)) + 1)
    lags = lags[lags < n - 10]
    if n < 60 or len(lags) == 0:
        return LagEstimate(prior, "prior")
    corr = np.array([_corr(c[k:n], a[: n - k]) for k in lags])
    best = int(np.argmax(corr))
    if not np.isfinite(corr[best]) or corr[best] < settings["chat_lag_min_corr"]:
        return LagEstimate(prior, "prior", float(np.nan_to_num(corr[best])))
    return LagEstimate(float(lags[best] * hop), "estimated", float(corr[best]))


def _excitement(values: np.ndarray) -> np.ndarray:
    """Onsets align better than levels (a chat burst lasts longer than the shout that caused it):
    the positive part of the score's rise over one second."""
    x = np.nan_to_num(values.astype(np.float64))
    rise = np.zeros_like(x)
    rise[2:] = x[2:] - x[:-2]
    return np.maximum(rise, 0.0)


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    denom = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denom) if denom > 0 else 0.0

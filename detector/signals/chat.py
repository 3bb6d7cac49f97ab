"""Chat signal: how hard chat reacts, second by second.

Consumes a ``ChatLog``; produces a ``SignalTrack`` named ``chat`` on the *chat* timeline (fusion
shifts it back by the reaction lag). Features, each smoothed with a box 1-D convolution of
``chat_smooth_s`` and turned into a robust z-score against a ``chat_baseline_s`` local baseline:

- ``rate``: messages per second;
- ``hype``: messages per second that react (laughter, hype words, shock, "clip it", "???", …);
- ``emote``: emote tokens per second;
- ``unique``: distinct chatters per bin (only when the log names authors);
- ``learned``: the summed scores of a learned lexicon (``chat_learned``), when one is given;
- ``ranker``: the learned window ranker's score (``detector.signals.ranker``: a logistic regression over
  scale-free window features — rate over the VOD's baseline, reaction share, capitals, message
  length, …), as a robust z-score over the VOD. The shipped default model, or a community's adapted
  one (``SignalInputs.ranker``). With the default weights it is the whole chat score; the other
  features stay for explanations, the lag estimate and vote tuning.

A log with too little chat to tell moments apart (fewer than ``chat_min_messages`` messages, or
fewer than ``chat_min_per_min`` a minute over its span) gets a track whose ``meta["too_little_chat"]``
says so; the pipeline then leaves chat out rather than rank noise.

Each feature is the excess over a long local median (chat grows over a stream as viewers arrive),
divided by one VOD-wide robust scale that never drops below the Poisson noise of the median rate,
so a quiet chat's single message is not a spike. (Per-window scaling was measured worse on the
labelled dev set: it flattens exactly the busy fights people clip.)
"""

from __future__ import annotations

import bisect
import math
from collections import Counter

import numpy as np

from detector.records import ChatLog, ChatMessage, SignalTrack
from detector.signals.base import HOP_S, Signal, SignalContext, SignalInputs
from detector.signals.baseline import MAD_TO_SIGMA, rolling_median_mad
from detector.signals.chat_learned import TokenWeights
from detector.signals.chat_lexicon import EMOTES, REACTIONS, classify, tokens
from detector.signals.ranker.features import window_features
from detector.signals.ranker.messages import MessageTable, message_table
from detector.signals.ranker.model import RankerModel, default_model

FEATURES = ("rate", "hype", "emote", "unique", "learned", "ranker")
Z_FLOOR = -3.0


class ChatSignal(Signal):
    NAME = "chat"
    version = "1"
    needs = ("chat",)

    def compute(self, inputs: SignalInputs, ctx: SignalContext) -> SignalTrack:
        assert inputs.chat is not None
        settings = ctx.settings
        chat = inputs.chat
        n_bins = max(int(math.ceil(max(inputs.duration_s, chat.duration_s) / HOP_S)) + 1, 1)
        scarce = too_little_chat(chat, settings)
        model = inputs.ranker or default_model()
        table = message_table(chat, lexicon=model.lexicon, abort=ctx.abort)
        counts = chat_counts(table, n_bins)
        if inputs.chat_lexicon is not None:
            counts["learned"] = learned_counts(chat, n_bins, inputs.chat_lexicon)
        smooth = max(int(round(settings["chat_smooth_s"] / HOP_S)), 1)
        window_s = smooth * HOP_S
        features: dict[str, np.ndarray] = {}
        raw: dict[str, np.ndarray] = {}
        for name, per_bin in counts.items():
            rate = ctx.backend.moving_average(per_bin, smooth) / HOP_S
            z, base = excess_z(rate, settings["chat_baseline_s"], window_s)
            features[name] = z
            raw[name] = rate.astype(np.float32)
            raw[name + "_baseline"] = base
        # The track's own value (the lag estimate correlates it with audio) stays the hand features'
        # combination: the ranker's windows are wide and asymmetric, which would bias the lag.
        hand = {f: settings[f"w_chat_{f}"] for f in features}
        total = sum(hand.values())
        values = sum(hand[f] * features[f] for f in features) / total if total > 0 else features["hype"]
        window = window_features(table, n_bins, HOP_S)
        features["ranker"] = model.z_score(window)
        return SignalTrack(
            name=self.NAME, hop_s=HOP_S, values=np.asarray(values, dtype=np.float32), features=features,
            meta={"raw": raw, "messages": len(chat.messages), "authors_known": chat.has_authors,
                  "format": chat.format, "timeline": "chat", "too_little_chat": scarce,
                  "ranker": ranker_meta(model), "lag_prior_s": community_lag(model)},
        )


def too_little_chat(chat: ChatLog, settings) -> str | None:
    """Why ``chat`` is too thin to rank moments by (None when it is enough)."""
    n = len(chat.messages)
    span_min = (chat.messages[-1].offset_s - chat.messages[0].offset_s) / 60.0 if n else 0.0
    need = max(settings["chat_min_messages"], settings["chat_min_per_min"] * span_min)
    if n >= need:
        return None
    per_min = f", {n / span_min:.1f} a minute" if span_min >= 1 else ""
    return (f"too little chat: {n} messages{per_min} (at least {need:.0f} are needed to tell moments apart)")


def community_lag(model: RankerModel) -> float | None:
    """The chat lag a community's adapted ranker read from its own labels (None: use the generic prior)."""
    return float(model.lag_s) if model.meta.get("lag_source") == "labels" else None


def ranker_meta(model: RankerModel) -> dict[str, object]:
    """What the result says about the ranker used."""
    meta: dict[str, object] = {k: model.meta[k] for k in ("kind", "source", "labels", "vods", "version", "summary",
                                                          "lag_source") if k in model.meta}
    return {**meta, "features": list(model.names), "lexicon_tokens": len(model.lexicon.weights) if model.lexicon else 0}


def excess_z(rate: np.ndarray, baseline_s: float, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """How far a smoothed rate rises over its local median, in units of the VOD's typical
    deviation (one global scale, so busy stretches keep their ranking against quiet ones).
    The scale never drops below the Poisson noise of the median rate over ``window_s``."""
    base, _mad = rolling_median_mad(rate, HOP_S, baseline_s)
    excess = rate - base
    spread = MAD_TO_SIGMA * float(np.median(np.abs(excess))) if len(excess) else 0.0
    # One extra message in the smoothing window is worth about one unit, however quiet the chat.
    median_rate = float(np.median(base)) if len(base) else 0.0
    noise = math.sqrt((median_rate + 1.0 / window_s) / window_s)
    z = excess / max(spread, noise)
    return np.maximum(z, Z_FLOOR).astype(np.float32), base


def learned_counts(chat: ChatLog, n_bins: int, lexicon: TokenWeights) -> np.ndarray:
    """Per-bin sum of the learned lexicon's message scores."""
    offsets = np.fromiter((m.offset_s for m in chat.messages), dtype=np.float64, count=len(chat.messages))
    bins = np.minimum((offsets / HOP_S).astype(np.int64), n_bins - 1)
    scores = lexicon.score_messages(chat.messages)
    return np.bincount(bins, weights=scores, minlength=n_bins).astype(np.float32)


def chat_counts(table: MessageTable, n_bins: int) -> dict[str, np.ndarray]:
    """Per-bin counts of messages, reacting messages, emotes and distinct authors (from the message table)."""
    bins = np.minimum((table.offsets / HOP_S).astype(np.int64), n_bins - 1)
    counts = {
        "rate": np.bincount(bins, minlength=n_bins).astype(np.float32),
        "hype": np.bincount(bins, weights=table.attrs["react"], minlength=n_bins).astype(np.float32),
        "emote": np.bincount(bins, weights=table.attrs["emotes"], minlength=n_bins).astype(np.float32),
    }
    if table.authors_known:
        known = table.authors >= 0
        pairs = np.unique(bins[known] * (int(table.authors.max()) + 1) + table.authors[known])
        unique_bins = pairs // (int(table.authors.max()) + 1)
        counts["unique"] = np.bincount(unique_bins, minlength=n_bins).astype(np.float32)
    return counts


def describe_window(chat: ChatLog, t0: float, t1: float, *, sample: int = 5
                    ) -> tuple[tuple[tuple[str, int], ...], tuple[str, ...]]:
    """Top emotes/reaction tokens and a sample of reacting chat lines in ``[t0, t1)`` chat time."""
    msgs = chat.messages
    lo = bisect.bisect_left(msgs, t0, key=_offset)  # messages are sorted by offset: no per-call copy
    hi = bisect.bisect_left(msgs, t1, key=_offset)
    counter: Counter[str] = Counter()
    shown: list[str] = []
    seen: set[str] = set()
    for m in msgs[lo:hi]:
        toks = tokens(m.text)
        counter.update({t for t in toks if t in EMOTES or t in REACTIONS})
        counter.update({e.lower() for e in m.emotes})
    names = {t.lower(): t for m in msgs[lo:hi] for t in m.text.split()}
    top = tuple((names.get(t, t), n) for t, n in counter.most_common(5))
    for m in msgs[lo:hi]:
        key = m.text.strip().lower()
        if len(shown) >= sample or not key or key in seen:
            continue
        if classify(m.text, m.emotes)[0]:
            seen.add(key)
            who = f"{m.author}: " if m.author else ""
            shown.append(f"{who}{m.text[:200]}")
    return top, tuple(shown)


def _offset(message: ChatMessage) -> float:
    return message.offset_s

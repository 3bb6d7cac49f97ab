"""A learned chat lexicon: how much each token says "something just happened", fitted on labels.

Consumes labelled games (chat logs plus highlight intervals on the VOD timeline) and produces
``TokenWeights``: per token, the smoothed log-odds of appearing in a message sent while a labelled
moment is on (chat time shifted back by the reaction lag) versus outside one. Scoring a message sums
the weights of its distinct tokens (floored at 0); the chat signal bins these scores like message
counts (feature ``learned``). A community's own vocabulary (team names, inside jokes, emotes of its
channel) is what the hand lexicon cannot know; this learns it from labels or, later, from votes.
Weights are saved as JSON; loading validates the file.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.errors import ConfigError
from detector.records import ChatMessage

FORMAT = "highlights-token-weights/1"
_TOKEN = re.compile(r"[\w']+|\?{2,}|!{2,}", re.UNICODE)


def message_tokens(text: str) -> set[str]:
    """Distinct lower-cased tokens; runs of ``??``/``!!`` collapse to one token each."""
    out = set()
    for tok in _TOKEN.findall(text.lower()[:500]):
        if tok[0] in "?!":
            tok = tok[0] * 2
        out.add(tok)
    return out


@dataclass(frozen=True, slots=True)
class LabelledChat:
    """One labelled stretch of chat for fitting."""

    messages: Sequence[ChatMessage]
    start_s: float
    end_s: float
    labels: Sequence[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class TokenWeights:
    weights: dict[str, float]
    lag_s: float
    meta: dict[str, object] = field(default_factory=dict)

    def score_messages(self, messages: Iterable[ChatMessage]) -> np.ndarray:
        w = self.weights
        return np.fromiter(
            (max(sum(w.get(t, 0.0) for t in message_tokens(m.text)), 0.0) for m in messages), dtype=np.float32)

    def save(self, path: Path) -> None:
        data = {"format": FORMAT, "lag_s": self.lag_s, "meta": self.meta,
                "weights": {k: round(v, 4) for k, v in sorted(self.weights.items())}}
        path.write_text(json.dumps(data, ensure_ascii=False, indent=0), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> TokenWeights:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Lexicon file {path} does not exist.",
                              hint="Make one with `highlights lexicon --dataset DIR --out FILE`.") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"Lexicon file {path} is not readable JSON: {exc}.") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("weights"), dict):
            raise ConfigError(f"Lexicon file {path} is not a {FORMAT} file.",
                              hint="Make one with `highlights lexicon --dataset DIR --out FILE`.")
        weights = {}
        for k, v in data["weights"].items():
            if not isinstance(k, str) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"Lexicon file {path}: weight for {k!r} must be a finite number.")
            weights[k] = float(v)
        lag = data.get("lag_s", 20.0)
        if not isinstance(lag, (int, float)) or not 0 <= lag <= 120:
            raise ConfigError(f"Lexicon file {path}: lag_s must be a number of seconds in [0, 120].")
        return cls(weights, float(lag), dict(data.get("meta") or {}))


def fit_token_weights(games: Iterable[LabelledChat], *, lag_s: float = 20.0, alpha: float = 1.0,
                      min_count: int = 20) -> TokenWeights:
    """Smoothed log-odds of each token inside vs outside labelled moments (chat time − lag)."""
    inside: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    n_in = n_out = 0
    n_games = 0
    for game in games:
        n_games += 1
        labels = sorted(game.labels)
        starts = np.array([s for s, _ in labels])
        ends = np.array([e for _, e in labels])
        for m in game.messages:
            t = m.offset_s - lag_s
            if not game.start_s <= t <= game.end_s:
                continue
            toks = message_tokens(m.text)
            k = int(np.searchsorted(starts, t, side="right")) - 1
            if k >= 0 and t < ends[k]:
                inside.update(toks)
                n_in += 1
            else:
                outside.update(toks)
                n_out += 1
    if n_in == 0 or n_out == 0:
        raise ConfigError("Cannot fit a lexicon: the labels cover none (or all) of the chat.")
    weights = {}
    for tok in inside.keys() | outside.keys():
        a, b = inside[tok], outside[tok]
        if a + b >= min_count:
            weights[tok] = math.log((a + alpha) / (n_in + alpha)) - math.log((b + alpha) / (n_out + alpha))
    return TokenWeights(weights, lag_s, {"games": n_games, "messages_inside": n_in,
                                         "messages_outside": n_out, "alpha": alpha, "min_count": min_count})

"""Evaluation stage: the detector itself, as rankers the evaluation runner can score.

Consumes a game's chat log and window; produces ranked clips through the real pipeline (chat only),
plus a ``note`` when the detector said something instead of ranking (too little chat):

- :class:`DetectorRanker`: the detector with given settings, ranker model and lexicon;
- :class:`DefaultRankerCV`: the default ranker *refitted without the held-out game*
  (leave-one-game-out: the shipped default was fitted on the dev set, so only this is honest there);
- :class:`AdaptedRankerCV`: that refitted default, then adapted (lexicon + re-weighting) from the
  other games' labels — what a community gets from its own labelled moments;
- :class:`LearnedLexiconRanker`: the detector plus a lexicon fitted on the other games (the older
  ``--lexicon`` path);
- :data:`OLD_DEFAULT`: the settings that reproduce the detector before the ranker (hand-weighted hype
  and unique-chatter z-scores, threshold 1, 10 s / 8 s rolls), for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

from detector.eval.dataset import Game
from detector.eval.runner import Ranking
from detector.params import Settings
from detector.pipeline import DetectRequest, detect
from detector.records import ChatLog
from detector.signals.chat_learned import LabelledChat, TokenWeights, fit_token_weights
from detector.signals.ranker.adapt import AdaptError, AdaptOptions, adapt
from detector.signals.ranker.fit import BASE_FEATURES, fit_default
from detector.signals.ranker.model import RankerModel
from detector.signals.ranker.training import LabelledSpan

OLD_DEFAULT = {"w_chat_ranker": 0.0, "w_chat_hype": 1.0, "w_chat_unique": 0.3, "threshold": 1.0, "pre_roll_s": 10.0,
               "post_roll_s": 8.0, "pre_max_s": 45.0, "post_max_s": 45.0, "max_len_s": 45.0, "chat_lag_prior_s": 20.0}


class DetectorRanker:
    """The full detector (chat-only) as an evaluation ranker."""

    def __init__(self, settings: Settings, lexicon: TokenWeights | None = None, ranker: RankerModel | None = None) -> None:
        self.settings = settings
        self.lexicon = lexicon
        self.ranker = ranker

    def __call__(self, chat: ChatLog, start_s: float, end_s: float, top_k: int) -> Ranking:
        settings = Settings(self.settings.as_dict())
        settings.update({"top_k": top_k})
        result = detect(DetectRequest(chat=chat, settings=settings, device="cpu", window=(start_s, end_s),
                                      lexicon=self.lexicon, ranker=self.ranker))
        verdict = result.meta.get("chat_verdict")
        return Ranking(((c.start_s, c.end_s, c.score) for c in result.candidates),
                       note="too little chat" if verdict else None)


def spans_of(games: Sequence[Game], chats: dict[str, ChatLog]) -> list[LabelledSpan]:
    return [LabelledSpan(g.game, chats[g.game], g.start_s, g.end_s, g.labels) for g in games]


class DefaultRankerCV:
    """The default ranker's recipe, refitted on the training games (scikit-learn, like the shipped one)."""

    def __init__(self, settings: Settings, names: Sequence[str] = BASE_FEATURES) -> None:
        self.settings = settings
        self.names = tuple(names)
        self.features: dict = {}
        """Window features per game id (they do not depend on the fit), reused across folds."""

    def base(self, games: Sequence[Game], chats: dict[str, ChatLog]) -> RankerModel:
        return fit_default(spans_of(games, chats), names=self.names, features=self.features)

    def fit(self, games: Sequence[Game], chats: dict[str, ChatLog]) -> DetectorRanker:
        return DetectorRanker(self.settings, ranker=self.base(games, chats))

    def fit_forward(self, history: Sequence[Game], others: Sequence[Game], chats: dict[str, ChatLog]) -> DetectorRanker:
        """Forward mode: the default does not learn from history; it is refitted without the held-out game."""
        return self.fit(others, chats)


class AdaptedRankerCV:
    """The refitted default, adapted to the training games' labels (a community's own moments)."""

    def __init__(self, settings: Settings, options: AdaptOptions | None = None) -> None:
        self.settings = settings
        self.options = options or AdaptOptions()
        self.default = DefaultRankerCV(settings)

    def fit(self, games: Sequence[Game], chats: dict[str, ChatLog]) -> DetectorRanker:
        return self._adapted(self.default.base(games, chats), spans_of(games, chats))

    def fit_forward(self, history: Sequence[Game], others: Sequence[Game], chats: dict[str, ChatLog]) -> DetectorRanker:
        """Forward mode: the default refitted without the held-out game, adapted from the earlier games only."""
        return self._adapted(self.default.base(others, chats), spans_of(history, chats))

    def _adapted(self, base: RankerModel, spans: list[LabelledSpan]) -> DetectorRanker:
        try:
            return DetectorRanker(self.settings, ranker=adapt(base, spans, options=self.options))
        except AdaptError:  # too few labels to adapt from: the community gets the default, as in the product
            return DetectorRanker(self.settings, ranker=base)


class LearnedLexiconRanker:
    """The detector plus a lexicon fitted on the training games (for leave-one-game-out)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def fit(self, games: Sequence[Game], chats: dict[str, ChatLog]) -> DetectorRanker:
        return DetectorRanker(self.settings, fit_lexicon(games, chats, self.settings["chat_lag_prior_s"]))


def fit_lexicon(games: Sequence[Game], chats: dict[str, ChatLog], lag_s: float) -> TokenWeights:
    return fit_token_weights(
        (LabelledChat(chats[g.game].messages, g.start_s, g.end_s, g.labels) for g in games), lag_s=lag_s)

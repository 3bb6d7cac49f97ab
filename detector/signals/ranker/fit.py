"""Ranker stage, fitting the shipped default: labelled games → a ``RankerModel`` of generic features.

Consumes ``LabelledSpan``s (a labelled dataset's games); produces a ``RankerModel`` fitted with
scikit-learn's ``LogisticRegression`` (L2, strong regularisation, standardised features). scikit-learn is
needed only here, to *fit* (``pip install -e .[fit]``); inference reads the JSON with numpy alone.

The default uses only ``BASE_FEATURES``: the near message rate over the VOD's own baseline, the
hand lexicon's reaction share (near and wide), capitals and message length — what every Twitch chat
shares. (Wide rate, rise, burst, emotes, copypasta, ?/! added nothing under leave-one-game-out on the
dev set; laughter had a strongly *negative* weight there, which is a trait of esports broadcasts, not
of chat: those are left to ``highlights adapt``.) No token, team, player or channel name enters it; community words
are what ``highlights adapt`` adds. Each coefficient must keep the sign chat sense expects
(``EXPECTED_SIGN``): a fit that flips one is refused rather than shipped, since a flipped sign would
be learning this dataset, not chat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detector.errors import ConfigError
from detector.signals.ranker.features import NAMES
from detector.signals.ranker.model import RankerModel
from detector.signals.ranker.training import LabelledSpan, Samples, build_samples

BASE_FEATURES: tuple[str, ...] = ("rate_now", "react_now", "caps_wide", "length_wide", "hype_wide", "gaming_spike")
EXPECTED_SIGN = {"rate_wide": 1, "rate_now": 1, "react_wide": 1, "react_now": 1, "caps_wide": 1, "length_wide": -1,
                 "burst": 1, "rise": 1, "emote_wide": 1, "repeat_wide": 1, "learned_wide": 1, "hype_wide": 1,
                 "hype_spike": 1, "react_spike": 1, "gaming_spike": 1, "gaming_wide": 1}
"""The sign each feature's coefficient should have if it means what chat means everywhere (0 ≤ |β| allowed)."""
DEFAULT_C = 0.01
"""Inverse L2 strength of the default's fit (strong: 20 games are few)."""
DEFAULT_LAG_S = 20.0


def _sklearn():
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise ConfigError("Fitting the default ranker needs scikit-learn.",
                          hint="Install it with `pip install -e .[fit]` (inference does not need it).") from None
    return LogisticRegression


def fit_samples(samples: Samples, *, c: float = DEFAULT_C, lag_s: float = DEFAULT_LAG_S) -> RankerModel:
    """A standardised L2 logistic regression on ``samples`` (rows weighted by ``samples.weight``)."""
    if len(samples.y) == 0 or samples.y.min() == samples.y.max():
        raise ConfigError("Cannot fit a ranker: the labels mark none (or all) of the chat.",
                          hint="Give spans with some labelled moments and some time without.")
    mean = samples.x.mean(axis=0)
    scale = samples.x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = (samples.x - mean) / scale
    logistic = _sklearn()(C=c, max_iter=1000)
    logistic.fit(z, samples.y, sample_weight=samples.weight)
    return RankerModel(names=samples.names, mean=mean, scale=scale, coef=logistic.coef_[0].astype(float),
                       intercept=float(logistic.intercept_[0]), lag_s=lag_s)


def fit_default(spans: Sequence[LabelledSpan], *, names: Sequence[str] = BASE_FEATURES, c: float = DEFAULT_C,
                lag_s: float = DEFAULT_LAG_S, step_s: float = 2.0, features: dict | None = None) -> RankerModel:
    """The default ranker fitted on ``spans`` (see the module docstring)."""
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise ConfigError(f"Unknown ranker feature(s) {unknown}.", hint=f"Known: {', '.join(NAMES)}.")
    samples = build_samples(spans, lag_s, step_s=step_s, names=names, features=features)
    model = fit_samples(samples, c=c, lag_s=lag_s)
    return model.with_meta(kind="default", fitted_on=len(spans), features=list(names), c=c)


def sign_problems(model: RankerModel) -> list[str]:
    """Coefficients whose sign contradicts ``EXPECTED_SIGN`` (beyond a hair)."""
    out = []
    for name, coef in zip(model.names, model.coef):
        sign = EXPECTED_SIGN.get(name, 0)
        if sign and coef * sign < -1e-3:
            out.append(f"{name} {coef:+.3f}")
    return out

"""Ranker stage, community adaptation: one community's labelled moments → its own ranker.

Consumes the base ranker (the shipped default) and ``LabelledSpan``s of one community (its viewers'
clips, the clips its members voted up or down, or labelled intervals — see ``detector.signals.ranker.labels``);
produces an adapted ``RankerModel``: the same file format with

- a learned lexicon (``detector.signals.chat_learned``): the smoothed log-odds of each token inside
  the community's moments, which feeds the ``learned_wide`` feature (team names, channel emotes,
  inside jokes: what a hand lexicon cannot know);
- the community's chat lag, read from its labels (``detector.signals.ranker.label_lag``): the
  lexicon and the samples are taken at it, and detection reads this community's chat at it (the
  base's lag when the labels do not say);
- re-weighted coefficients: a logistic regression over the base features plus ``EXTRA`` (laughter,
  emotes, question and exclamation marks, copypasta, new chatters, the learned lexicon, …), fitted by
  Newton's method with a Gaussian prior centred on the base model (``strength``: how many seconds of
  samples the prior is worth), so a few labels move little and many move more. Pure numpy: the worker
  adapts without any learning library.

Too few labels (``min_moments``) raise ``AdaptError`` rather than fit noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detector.errors import ConfigError
from detector.signals.chat_learned import LabelledChat, TokenWeights, fit_token_weights
from detector.signals.ranker.label_lag import label_lag
from detector.signals.ranker.model import RankerModel
from detector.signals.ranker.training import LabelledSpan, build_samples

EXTRA: tuple[str, ...] = ("learned_wide", "laugh_wide", "emote_wide", "question_wide", "exclaim_wide",
                          "repeat_wide", "new_wide", "rate_wide", "rise", "burst", "react_wide", "shock_wide",
                          "gaming_wide", "laugh_spike", "hype_spike", "shock_spike")
"""Features the default leaves out (community-specific in sign or size) that adaptation may weigh."""


class AdaptError(ConfigError):
    code = "adapt_too_few_labels"


@dataclass(frozen=True, slots=True)
class AdaptOptions:
    strength: float = 800.0
    """Prior strength in units of sample weight (each labelled VOD weighs 600): larger moves less. On the
    dev set (default with hype share and gaming spike, leave-one-game-out) 800, 5000 and 20000 all scored
    within ±0.03 P@10 and a nested choice among them was unstable (each won some folds): that set's
    games teach each other little beyond the default. 800 lets a community whose own signal is clear
    (the tests' community, whose raids shout hype words but are no moments) move the ranker with four
    VODs of viewer clips; 5000 could not."""
    min_moments: int = 10
    """No adaptation from fewer labelled moments than this."""
    lexicon_min_count: int = 8
    """A token enters the lexicon when seen at least this often in the community's chat."""
    lexicon_alpha: float = 1.0
    miss_weight: float = 3.0
    """Weight of a sample inside a clip members voted down (a known miss), relative to unlabelled time."""
    step_s: float = 2.0
    estimate_lag: bool = True
    """Read the community's chat lag from its labels (else keep the base model's)."""


def fit_lexicon(spans: Sequence[LabelledSpan], lag_s: float, options: AdaptOptions) -> TokenWeights:
    chats = (LabelledChat(s.chat.messages, s.start_s, s.end_s, s.moments) for s in spans)
    return fit_token_weights(chats, lag_s=lag_s, alpha=options.lexicon_alpha, min_count=options.lexicon_min_count)


def adapt(base: RankerModel, spans: Sequence[LabelledSpan], *, options: AdaptOptions | None = None,
          source: str = "labelled intervals", summary: str | None = None) -> RankerModel:
    """The community's adapted ranker (see the module docstring)."""
    opts = options or AdaptOptions()
    moments = sum(len(s.moments) for s in spans)
    if moments < opts.min_moments:
        raise AdaptError(f"Only {moments} labelled moments: too few to adapt the ranker (at least {opts.min_moments}).",
                         hint="Wait for more viewer clips or votes, or give more labelled VODs.")
    found = label_lag(base, spans) if opts.estimate_lag else None
    lag = found.lag_s if found is not None else base.lag_s
    lexicon = fit_lexicon(spans, lag, opts)
    names = tuple(dict.fromkeys((*base.names, *EXTRA)))
    samples = build_samples(spans, lag, step_s=opts.step_s, names=names, lexicon=lexicon, miss_weight=opts.miss_weight)
    if len(samples.y) == 0 or samples.y.min() == samples.y.max():
        raise AdaptError("The labels cover none (or all) of the chat they came with; nothing to learn from.",
                         hint="Check that the labels and the chat belong to the same VODs.")
    mean = samples.x.mean(axis=0)
    scale = samples.x.std(axis=0)
    prior = np.zeros(len(names))
    for i, name in enumerate(names):
        if name in base.names:  # keep the base's standardisation so its coefficients mean the same
            j = base.names.index(name)
            mean[i], scale[i], prior[i] = base.mean[j], base.scale[j], base.coef[j]
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = (samples.x - mean) / scale
    coef, intercept = map_logistic(z, samples.y, samples.weight, prior, base.intercept, opts.strength)
    n_vods = len({s.key for s in spans})
    meta = {"kind": "adapted", "source": source, "labels": moments, "vods": n_vods,
            "base": base.meta.get("kind", "default"), "strength": opts.strength, "lexicon_tokens": len(lexicon.weights),
            "lag_source": "labels" if found is not None else "base",
            "lag_auc": round(found.auc, 4) if found is not None else None,
            "summary": summary or f"adapted from {moments} {source} over {n_vods} VOD{'s' if n_vods != 1 else ''}"}
    return RankerModel(names=names, mean=mean, scale=scale, coef=coef, intercept=intercept, lag_s=lag,
                       lexicon=lexicon, meta=meta)


def map_logistic(z: np.ndarray, y: np.ndarray, w: np.ndarray, prior: np.ndarray, prior_intercept: float,
                 strength: float, iterations: int = 50) -> tuple[np.ndarray, float]:
    """Weighted logistic regression with a Gaussian prior ``β ~ N(prior, 1/strength)`` (Newton's method).

    Maximises ``Σ w_i [y_i log p_i + (1 − y_i) log(1 − p_i)] − strength/2 |β − prior|²``; the intercept
    gets a faint prior only. Returns (β, intercept)."""
    rows, dims = z.shape
    design = np.hstack([np.ones((rows, 1)), z])
    theta = np.concatenate([[prior_intercept], prior]).astype(float)
    centre = theta.copy()
    penalty = np.diag([1e-3, *([strength] * dims)])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -30.0, 30.0)))
        gradient = design.T @ (w * (y - p)) - penalty @ (theta - centre)
        hessian = (design * (w * p * (1.0 - p))[:, None]).T @ design + penalty
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            break
        theta = theta + step
        if float(np.abs(step).max()) < 1e-7 or not math.isfinite(float(theta.sum())):
            break
    return theta[1:], float(theta[0])

"""Vote tuning: a community's 👍/👎 on posted clips → fusion weights and threshold for its streamer.

Consumes ``VotedClip``s (each clip's signal values at its peak — the detector's ``Clip.signals``,
keyed ``track.feature`` — and its vote counts) and produces a ``TuningProposal``: parameter values
clamped to the table of tunable parameters (``storage.tuning_params``), with a reason a person can
read. Pure numpy; no I/O (the bot reads votes from the repository and stores the proposal).

The model: a regularised logistic regression of each clip's share of 👍 on its signal values,
``P(👍) = σ(a + Σ β_f x_f)``, every vote one observation. The prior pulls ``β`` toward the base
weights (the defaults, or what an admin's reset/rollback set; scaled to the votes), so a few votes
move little and many votes move more. The fitted ``β`` (negatives cut to 0) are rescaled to the
base weights' total — the detector divides the weighted sum by the total weight, so the score keeps
its scale — and the threshold moves toward the fitted 50 % point, shrunk toward the base and at
most ``threshold_shift`` away from it.
Nothing is proposed before ``min_votes`` votes by ``min_voters`` different people on ``min_clips``
clips. No voter weighs more than ``max_votes_per_voter`` votes: someone who voted on 40 clips has each
vote count a quarter, so one person (or one bot account) cannot steer a community's tuning alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from storage.tuning_params import PARAMS_BY_NAME

log = logging.getLogger(__name__)

WEIGHT_PREFIX = "w_"
THRESHOLD = "threshold"
RESET_PREFIX = "reset"
"""Reasons of tuning versions written by a reset start with this; votes cast before one are ignored."""


def weight_name(feature: str) -> str:
    """The weight parameter of a signal feature: ``chat.hype`` → ``w_chat_hype``."""
    return WEIGHT_PREFIX + feature.replace(".", "_")


@dataclass(frozen=True, slots=True)
class VotedClip:
    """One posted clip as tuning sees it."""

    signals: Mapping[str, float | None]
    """Signal values at the clip's peak, keyed ``track.feature`` (robust z-scores)."""
    up: int
    down: int
    voters: tuple[tuple[str, int], ...] = ()
    """Who voted how: ``(user id, +1 or −1)`` per vote. Empty: ``up``/``down`` are anonymous counts
    (simulations), each vote then counting as a different voter."""

    def ballots(self, index: int) -> list[tuple[str, int]]:
        """``voters``, or anonymous ones standing for the counts (unique per clip ``index``)."""
        if self.voters:
            return list(self.voters)
        return [(f"anonymous:{index}:{k}", 1) for k in range(self.up)] + \
               [(f"anonymous:{index}:{self.up + k}", -1) for k in range(self.down)]


@dataclass(frozen=True, slots=True)
class TuningOptions:
    """How cautious tuning is."""

    min_votes: int = 20
    """No proposal before this many votes (all clips together, each voter counted at most
    ``max_votes_per_voter``)."""
    min_clips: int = 6
    """…on at least this many different clips."""
    min_voters: int = 5
    """…by at least this many different people."""
    max_votes_per_voter: float = 10.0
    """No voter weighs more than this many votes: each of the votes of someone with more counts less."""
    prior_votes: float = 10.0
    """Strength of the pull toward the default weights, in votes' worth (larger: slower to move)."""
    threshold_shift: float = 1.0
    """The threshold never moves further than this from its base value (z)."""
    min_change: float = 0.02
    """Changes smaller than this (on every parameter) are not worth a new version."""


@dataclass(frozen=True, slots=True)
class TuningProposal:
    params: dict[str, float]
    """The tuned parameters (weights of the features seen, and the threshold), clamped to the table."""
    reason: str
    votes_used: int
    clips_used: int
    changes: dict[str, tuple[float, float]] = field(default_factory=dict)
    """name → (value before, value after) for every parameter that moved by ``min_change`` or more."""

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def defaults() -> dict[str, float]:
    return {name: p.default for name, p in PARAMS_BY_NAME.items()}


def effective(params: Mapping[str, float] | None) -> dict[str, float]:
    """The defaults overridden by ``params`` (unknown names dropped, values clamped)."""
    values = defaults()
    for name, value in (params or {}).items():
        param = PARAMS_BY_NAME.get(name)
        if param is not None and value is not None and math.isfinite(float(value)):
            values[name] = param.clamp(float(value))
    return values


def fused_score(signals: Mapping[str, float | None], params: Mapping[str, float]) -> float:
    """The detector's fused score at a peak: ``Σ w_f x_f / Σ w_f`` over the features present."""
    total = num = 0.0
    for feature, value in signals.items():
        w = params.get(weight_name(feature))
        if w is None:
            continue
        total += w
        num += w * float(value or 0.0)
    return num / total if total > 0 else 0.0


def propose(clips: Sequence[VotedClip], current: Mapping[str, float] | None = None,
            options: TuningOptions | None = None, *, base: Mapping[str, float] | None = None
            ) -> TuningProposal | None:
    """Tuned parameters from ``clips``' votes, or None while there are too few votes.

    ``current`` is the parameter set in force (for the reason's before → after and for deciding
    whether anything changed). ``base`` is what the fit is pulled toward (default: the table's
    defaults; after an admin's reset or rollback, the parameters it set), so the result depends
    only on the votes and the base, never on earlier automatic versions.
    """
    opts = options or TuningOptions()
    voted = [c for c in clips if c.up + c.down > 0 or c.voters]
    ballots = [c.ballots(i) for i, c in enumerate(voted)]
    weight = voter_weights([user for clip in ballots for user, _ in clip], opts.max_votes_per_voter)
    ups = np.array([sum(weight[u] for u, v in clip if v > 0) for clip in ballots])
    downs = np.array([sum(weight[u] for u, v in clip if v < 0) for clip in ballots])
    raw_votes = sum(len(clip) for clip in ballots)
    effective_votes = float(ups.sum() + downs.sum())
    if effective_votes + 1e-9 < opts.min_votes or len(voted) < opts.min_clips or len(weight) < opts.min_voters:
        return None
    features = sorted({f for c in voted for f in c.signals if weight_name(f) in PARAMS_BY_NAME})
    if not features:
        return None
    start = effective(base)
    w0 = np.array([start[weight_name(f)] for f in features])
    x = np.array([[_finite(c.signals.get(f)) for f in features] for c in voted])
    n = ups + downs
    y = ups / np.maximum(n, 1e-12)
    total0 = float(w0.sum()) or 1.0
    direction = w0 / total0
    # The default score's slope on the votes sets the prior's scale (at least a gentle one).
    slope, _ = _fit(x @ direction[:, None], y, n, np.zeros(1), 1.0)
    prior = direction * max(float(slope[0]), 0.25)
    beta, intercept = _fit(x, y, n, prior, opts.prior_votes)
    positive = np.clip(beta, 0.0, None)
    tuned: dict[str, float] = {}
    if positive.sum() > 1e-6:
        weights = positive * (total0 / positive.sum())
        for f, w in zip(features, weights):
            tuned[weight_name(f)] = round(PARAMS_BY_NAME[weight_name(f)].clamp(float(w)), 3)
        boundary = -intercept / float(positive.sum())  # where P(up) = ½, in fused-score units
        thr = PARAMS_BY_NAME[THRESHOLD]
        if math.isfinite(boundary):
            shrink = effective_votes / (effective_votes + opts.prior_votes)
            origin = start[THRESHOLD]
            shift = float(np.clip(shrink * (boundary - origin), -opts.threshold_shift, opts.threshold_shift))
            tuned[THRESHOLD] = round(thr.clamp(origin + shift), 3)
    else:
        tuned = {weight_name(f): start[weight_name(f)] for f in features}
    before = effective(current)
    changes = {k: (before[k], v) for k, v in tuned.items() if abs(before[k] - v) >= opts.min_change}
    up_count = sum(1 for clip in ballots for _, v in clip if v > 0)
    capped = "" if effective_votes >= raw_votes - 1e-9 else \
        f", {len(weight)} voters weighing {effective_votes:.0f} votes after capping heavy voters"
    reason = (f"{raw_votes} votes on {len(voted)} clips ({up_count} up, {raw_votes - up_count} down{capped}): "
              + (", ".join(f"{k} {a:g}→{b:g}" for k, (a, b) in sorted(changes.items())) or "no change"))
    log.debug("tuning proposal: %s", reason)
    return TuningProposal(params=tuned, reason=reason, votes_used=raw_votes, clips_used=len(voted), changes=changes)


def voter_weights(users: Sequence[str], max_votes_per_voter: float) -> dict[str, float]:
    """Each voter's weight per vote: 1, or ``max_votes_per_voter / n`` for someone with ``n`` votes more."""
    counts: dict[str, int] = {}
    for user in users:
        counts[user] = counts.get(user, 0) + 1
    cap = max(float(max_votes_per_voter), 1.0)
    return {user: min(1.0, cap / n) for user, n in counts.items()}


def _finite(value: float | None) -> float:
    if value is None:
        return 0.0
    v = float(value)
    return v if math.isfinite(v) else 0.0


def _fit(x: np.ndarray, y: np.ndarray, n: np.ndarray, prior: np.ndarray, strength: float,
         iterations: int = 50) -> tuple[np.ndarray, float]:
    """Weighted logistic regression with soft labels and a Gaussian prior ``β ~ N(prior, 1/strength)``.

    Newton's method on ``Σ n_i [y_i log p_i + (1 − y_i) log(1 − p_i)] − strength/2 |β − prior|²``;
    the intercept gets only a faint prior. Returns (β, intercept).
    """
    rows, dims = x.shape
    design = np.hstack([np.ones((rows, 1)), x])
    theta = np.concatenate([[0.0], prior.astype(float)])
    center = theta.copy()
    penalty = np.diag([1e-3, *([strength] * dims)])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -30.0, 30.0)))
        gradient = design.T @ (n * (y - p)) - penalty @ (theta - center)
        hessian = (design * (n * p * (1.0 - p))[:, None]).T @ design + penalty
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            break
        theta = theta + step
        if float(np.abs(step).max()) < 1e-8:
            break
    return theta[1:], float(theta[0])

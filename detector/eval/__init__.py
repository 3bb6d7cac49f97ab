"""Evaluation on labelled highlight datasets: loading, metrics, baselines."""

from __future__ import annotations

from detector.eval.baselines import (
    default_baselines,
    hype_token_baseline,
    message_rate_baseline,
    random_baseline,
)
from detector.eval.dataset import Game, load_dataset
from detector.eval.metrics import (
    average_precision_at_k,
    is_hit,
    mean_length,
    per_second_f1,
    precision_at_k,
    score_game,
)
from detector.eval.runner import (
    EvalReport,
    FittableRanker,
    Ranker,
    evaluate,
    evaluate_cv,
    format_report,
)

__all__ = [
    "EvalReport",
    "FittableRanker",
    "Game",
    "Ranker",
    "average_precision_at_k",
    "default_baselines",
    "evaluate",
    "evaluate_cv",
    "format_report",
    "hype_token_baseline",
    "is_hit",
    "load_dataset",
    "mean_length",
    "message_rate_baseline",
    "per_second_f1",
    "precision_at_k",
    "random_baseline",
    "score_game",
]

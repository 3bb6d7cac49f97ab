"""Evaluation stage: run rankers over a labelled dataset and report their scores.

Consumes a dataset folder (see :mod:`detector.eval.dataset`) and named rankers; produces an
:class:`EvalReport` with each ranker's metrics per game (see :mod:`detector.eval.metrics`) and
their means, and :func:`format_report` turns it into a compact aligned table.

A *ranker* maps one game's chat log and detection window to clips ranked best first. Rankers that
learn something from labelled data implement :class:`FittableRanker`; :func:`evaluate_cv` scores
them leave-one-game-out (fit on every other game, score on the held-out one), so no game is ever
scored by a model that saw its labels. Each game's chat is loaded once per run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from detector.errors import DatasetError
from detector.eval.dataset import Game, load_dataset
from detector.eval.metrics import METRICS, score_game
from detector.records import ChatLog, ProgressCallback
from detector.sources.chat import load_chat

log = logging.getLogger(__name__)

Clip = tuple[float, float, float]


class Ranker(Protocol):
    """Up to ``top_k`` clips ``(start_s, end_s, score)`` inside ``[start_s, end_s]``, best first."""

    def __call__(self, chat: ChatLog, start_s: float, end_s: float, top_k: int) -> list[Clip]: ...


@runtime_checkable
class FittableRanker(Protocol):
    """A ranker factory that learns from labelled games (their chats keyed by game id)."""

    def fit(self, games: Sequence[Game], chats: dict[str, ChatLog]) -> Ranker: ...


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Scores of several rankers on the same games."""

    dataset: str
    """The dataset folder evaluated."""
    mode: str
    """``"fixed"`` (rankers used as given) or ``"leave-one-game-out"``."""
    top_k: int
    rankers: tuple[str, ...]
    games: tuple[str, ...]
    scores: dict[str, dict[str, dict[str, float]]]
    """``scores[ranker][game][metric]``; metric keys as in ``metrics.METRICS``."""
    means: dict[str, dict[str, float]]
    """``means[ranker][metric]``: the unweighted mean over games."""
    clips: dict[str, dict[str, tuple[Clip, ...]]]
    """``clips[ranker][game]``: the clips each ranker returned (top ``top_k``), for inspection."""


class _ChatCache:
    """Loads each game's chat log at most once per run."""

    def __init__(self) -> None:
        self._logs: dict[str, ChatLog] = {}

    def get(self, game: Game) -> ChatLog:
        if game.game not in self._logs:
            log.debug("loading chat of game %s from %s", game.game, game.chat_path)
            self._logs[game.game] = load_chat(game.chat_path)
        return self._logs[game.game]


def _select(dataset_dir: str | Path, games: Sequence[str] | None) -> tuple[Game, ...]:
    all_games = load_dataset(dataset_dir)
    if games is None:
        return all_games
    by_id = {g.game: g for g in all_games}
    unknown = [g for g in games if g not in by_id]
    if unknown:
        raise DatasetError(
            f"{dataset_dir}: unknown game id(s) {', '.join(map(str, unknown))}.",
            hint="Pick ids from the dataset's games.csv.",
        )
    if not games:
        raise DatasetError(f"{dataset_dir}: no games selected.", hint="Select at least one game.")
    return tuple(by_id[g] for g in dict.fromkeys(games))


def _run(ranker: Ranker, chat: ChatLog, game: Game, top_k: int) -> tuple[Clip, ...]:
    out = ranker(chat, game.start_s, game.end_s, top_k)
    clips = []
    for clip in list(out)[:top_k]:
        start, end = float(clip[0]), float(clip[1])
        score = float(clip[2]) if len(clip) > 2 else float("nan")
        clips.append((start, end, score))
    return tuple(clips)


def _report(
    dataset_dir: str | Path,
    mode: str,
    top_k: int,
    names: Sequence[str],
    games: Sequence[Game],
    clips: dict[str, dict[str, tuple[Clip, ...]]],
) -> EvalReport:
    scores = {name: {g.game: score_game(clips[name][g.game], g, top_k) for g in games} for name in names}
    means = {
        name: {m: sum(s[m] for s in scores[name].values()) / len(games) for m in METRICS} for name in names
    }
    for name in names:
        log.info("eval %s (%s): %s", name, mode, ", ".join(f"{m}={v:.3f}" for m, v in means[name].items()))
    return EvalReport(
        dataset=str(dataset_dir),
        mode=mode,
        top_k=top_k,
        rankers=tuple(names),
        games=tuple(g.game for g in games),
        scores=scores,
        means=means,
        clips=clips,
    )


def evaluate(
    dataset_dir: str | Path,
    rankers: Mapping[str, Ranker],
    *,
    top_k: int = 10,
    games: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
) -> EvalReport:
    """Score each ranker, used as given, on every game (or the ``games`` ids chosen)."""
    if not rankers:
        raise ValueError("evaluate needs at least one ranker")
    selected = _select(dataset_dir, games)
    cache = _ChatCache()
    clips: dict[str, dict[str, tuple[Clip, ...]]] = {name: {} for name in rankers}
    for i, game in enumerate(selected):
        if progress is not None:
            progress("eval", i, len(selected))
        chat = cache.get(game)
        for name, ranker in rankers.items():
            clips[name][game.game] = _run(ranker, chat, game, top_k)
    if progress is not None:
        progress("eval", len(selected), len(selected))
    return _report(dataset_dir, "fixed", top_k, list(rankers), selected, clips)


def evaluate_cv(
    dataset_dir: str | Path,
    rankers: Mapping[str, FittableRanker | Ranker],
    *,
    top_k: int = 10,
    games: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
) -> EvalReport:
    """Leave-one-game-out: for each game, fit every :class:`FittableRanker` on the other games
    (of the selection, when ``games`` is given) and score it on the held-out game.

    Rankers without ``fit`` are used as given, so baselines can share the table.
    """
    if not rankers:
        raise ValueError("evaluate_cv needs at least one ranker")
    selected = _select(dataset_dir, games)
    fittable = {name for name, r in rankers.items() if isinstance(r, FittableRanker)}
    if fittable and len(selected) < 2:
        raise DatasetError(
            f"{dataset_dir}: leave-one-game-out needs at least two games, got {len(selected)}.",
            hint="Select more games.",
        )
    cache = _ChatCache()
    chats = {g.game: cache.get(g) for g in selected} if fittable else {}
    clips: dict[str, dict[str, tuple[Clip, ...]]] = {name: {} for name in rankers}
    for i, held_out in enumerate(selected):
        if progress is not None:
            progress("eval-cv", i, len(selected))
        train = [g for g in selected if g.game != held_out.game]
        chat = cache.get(held_out)
        for name, ranker in rankers.items():
            if name in fittable:
                fitted = ranker.fit(train, {g.game: chats[g.game] for g in train})  # type: ignore[union-attr]
                log.debug("fitted %s without game %s", name, held_out.game)
            else:
                fitted = ranker  # type: ignore[assignment]
            clips[name][held_out.game] = _run(fitted, chat, held_out, top_k)
    if progress is not None:
        progress("eval-cv", len(selected), len(selected))
    return _report(dataset_dir, "leave-one-game-out", top_k, list(rankers), selected, clips)


def format_report(report: EvalReport) -> str:
    """A compact aligned table: P@10 and AP per game and ranker, then the mean of every metric."""
    names = report.rankers
    game_w = max([len("game"), len("MEAN"), *(len(g) for g in report.games), *(len(n) for n in names)])
    cell = 6
    pair_w = max(2 * cell + 1, *(len(n) for n in names))

    def pair(a: str, b: str) -> str:
        return f"{a:>{cell}} {b:>{cell}}".rjust(pair_w)

    lines = [f"{report.dataset} ({report.mode}, top {report.top_k}, {len(report.games)} games)"]
    lines.append(" ".join([f"{'game':<{game_w}}", *(f"{n:>{pair_w}}" for n in names)]))
    lines.append(" ".join([" " * game_w, *(pair("P@10", "AP") for _ in names)]))
    for g in report.games:
        row = [f"{g:<{game_w}}"]
        for n in names:
            s = report.scores[n][g]
            row.append(pair(f"{s['p10']:.2f}", f"{s['ap']:.2f}"))
        lines.append(" ".join(row))
    lines.append("")
    headers = {"p5": "P@5", "p10": "P@10", "ap": "AP", "f1s": "F1s", "len": "len"}
    lines.append(" ".join([f"{'MEAN':<{game_w}}", *(f"{headers[m]:>{cell}}" for m in METRICS)]))
    for n in names:
        means = report.means[n]
        vals = [f"{means[m]:>{cell}.1f}" if m == "len" else f"{means[m]:>{cell}.3f}" for m in METRICS]
        lines.append(" ".join([f"{n:<{game_w}}", *vals]))
    return "\n".join(lines)

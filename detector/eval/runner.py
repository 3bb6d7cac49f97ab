"""Evaluation stage: run rankers over a labelled dataset and report their scores.

Consumes a dataset folder (see :mod:`detector.eval.dataset`) and named rankers; produces an
:class:`EvalReport` with each ranker's metrics per game (see :mod:`detector.eval.metrics`) and
their means, and :func:`format_report` turns it into a compact aligned table.

A *ranker* maps one game's chat log and detection window to clips ranked best first. Rankers that
learn something from labelled data implement :class:`FittableRanker`; :func:`evaluate_cv` scores
them leave-one-game-out (fit on every other game, score on the held-out one), so no game is ever
scored by a model that saw its labels; :func:`evaluate_forward` fits on the games *before* each one
(in time) and scores it, the way a community lives adaptation. Each game's chat is loaded once per run.

A ranker may return a :class:`Ranking` (a list of clips with a ``note``, e.g. ``"too little chat"``);
the note is kept per game and shown in the table. :func:`format_report` prints each ranker's means
with 95 % bootstrap intervals over games (games resampled with replacement) and the per-game table
worst game first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from detector.errors import DatasetError
from detector.eval.dataset import Game, load_dataset
from detector.eval.metrics import METRICS, score_game
from detector.records import ChatLog, ProgressCallback
from detector.sources.chat import load_chat

log = logging.getLogger(__name__)

Clip = tuple[float, float, float]
BOOTSTRAP_RESAMPLES = 2000


class Ranking(list):  # type: ignore[type-arg]
    """Ranked clips plus what the ranker said about the game (``note``, e.g. "too little chat")."""

    def __init__(self, clips=(), note: str | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(clips)
        self.note = note


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
    notes: dict[str, dict[str, str]] = field(default_factory=dict)
    """``notes[ranker][game]``: what a ranker said instead of (or beside) clips, e.g. "too little chat"."""
    skipped: tuple[str, ...] = ()
    """Games scored by no fitted ranker (forward mode: the first games, which have nothing before them)."""

    def interval(self, ranker: str, metric: str, *, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
        """Percentile bootstrap interval of the mean of ``metric`` over games (games resampled)."""
        return bootstrap_interval([s[metric] for s in self.scores[ranker].values()], level=level, seed=seed)


def bootstrap_interval(values: Sequence[float], *, level: float = 0.95, seed: int = 0,
                       resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """``level`` percentile bootstrap interval of the mean of ``values``."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(resamples, len(v)))].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    return float(np.percentile(means, tail)), float(np.percentile(means, 100.0 - tail))


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


def _run(ranker: Ranker, chat: ChatLog, game: Game, top_k: int, notes: dict[str, str] | None = None
         ) -> tuple[Clip, ...]:
    out = ranker(chat, game.start_s, game.end_s, top_k)
    if notes is not None and getattr(out, "note", None):
        notes[game.game] = str(out.note)  # type: ignore[attr-defined]
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
    notes: dict[str, dict[str, str]] | None = None,
    skipped: Sequence[str] = (),
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
        notes=notes or {},
        skipped=tuple(skipped),
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
    notes: dict[str, dict[str, str]] = {name: {} for name in rankers}
    for i, game in enumerate(selected):
        if progress is not None:
            progress("eval", i, len(selected))
        chat = cache.get(game)
        for name, ranker in rankers.items():
            clips[name][game.game] = _run(ranker, chat, game, top_k, notes[name])
    if progress is not None:
        progress("eval", len(selected), len(selected))
    return _report(dataset_dir, "fixed", top_k, list(rankers), selected, clips, notes)


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
    notes: dict[str, dict[str, str]] = {name: {} for name in rankers}
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
            clips[name][held_out.game] = _run(fitted, chat, held_out, top_k, notes[name])
    if progress is not None:
        progress("eval-cv", len(selected), len(selected))
    return _report(dataset_dir, "leave-one-game-out", top_k, list(rankers), selected, clips, notes)


def chronological(games: Sequence[Game]) -> list[Game]:
    """Games in broadcast order: Twitch VOD ids grow with time, then the start within the VOD."""
    def key(g: Game) -> tuple[int, str, float]:
        return (int(g.vod_id) if g.vod_id.isdigit() else 0, g.vod_id, g.start_s)

    return sorted(games, key=key)


def evaluate_forward(
    dataset_dir: str | Path,
    rankers: Mapping[str, FittableRanker | Ranker],
    *,
    top_k: int = 10,
    min_history: int = 5,
    games: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
) -> EvalReport:
    """Forward chaining: games in broadcast order; each game from the ``min_history``-th on is scored by
    every :class:`FittableRanker` fitted on the games *before* it only (how a community adapts over
    time). The first ``min_history`` games are not scored (``EvalReport.skipped``). A ranker with
    ``fit_forward(history, others, chats)`` gets the other games too, for a part that is meant to be
    generic (the default ranker), and must learn community things from ``history`` only."""
    if not rankers:
        raise ValueError("evaluate_forward needs at least one ranker")
    ordered = chronological(_select(dataset_dir, games))
    if len(ordered) <= min_history:
        raise DatasetError(f"{dataset_dir}: forward evaluation needs more than {min_history} games, got {len(ordered)}.",
                           hint="Select more games or lower the history.")
    fittable = {name for name, r in rankers.items() if isinstance(r, FittableRanker)}
    cache = _ChatCache()
    chats = {g.game: cache.get(g) for g in ordered}
    clips: dict[str, dict[str, tuple[Clip, ...]]] = {name: {} for name in rankers}
    notes: dict[str, dict[str, str]] = {name: {} for name in rankers}
    scored = ordered[min_history:]
    for i, game in enumerate(scored):
        if progress is not None:
            progress("eval-forward", i, len(scored))
        history = ordered[: min_history + i]
        others = [g for g in ordered if g.game != game.game]
        for name, ranker in rankers.items():
            if hasattr(ranker, "fit_forward"):  # learns from history; a generic part may see the other games
                fitted = ranker.fit_forward(history, others, chats)
            elif name in fittable:
                fitted = ranker.fit(history, {g.game: chats[g.game] for g in history})  # type: ignore[union-attr]
            else:
                fitted = ranker
            clips[name][game.game] = _run(fitted, chats[game.game], game, top_k, notes[name])  # type: ignore[arg-type]
    if progress is not None:
        progress("eval-forward", len(scored), len(scored))
    return _report(dataset_dir, f"forward (fit on earlier games, first {min_history} unscored)", top_k, list(rankers),
                   scored, clips, notes, skipped=[g.game for g in ordered[:min_history]])


def format_report(report: EvalReport) -> str:
    """Means with 95 % bootstrap intervals over games, then P@10 and AP per game, worst game first
    (by the first ranker's P@10, then AP), with each ranker's note for the game (e.g. too little chat)."""
    names = report.rankers
    headers = {"p5": "P@5", "p10": "P@10", "ap": "AP@10", "f1s": "F1s", "len": "len"}
    name_w = max([len("ranker"), *(len(n) for n in names)])
    lines = [f"{report.dataset} ({report.mode}, top {report.top_k}, {len(report.games)} games)"]
    if report.skipped:
        lines.append(f"not scored (no earlier games to learn from): {len(report.skipped)} games")
    lines.append("means over games, [95 % bootstrap interval over games]")
    lines.append(" ".join([f"{'ranker':<{name_w}}", *(f"{headers[m]:>17}" if m != "len" else f"{headers[m]:>6}"
                                                      for m in METRICS)]))
    for n in names:
        cells = []
        for m in METRICS:
            v = report.means[n][m]
            if m == "len":
                cells.append(f"{v:>6.1f}")
            else:
                lo, hi = report.interval(n, m)
                cells.append(f"{v:.3f} [{lo:.2f},{hi:.2f}]".rjust(17))
        lines.append(" ".join([f"{n:<{name_w}}", *cells]))
    first = names[0]
    order = sorted(report.games, key=lambda g: (report.scores[first][g]["p10"], report.scores[first][g]["ap"], g))
    game_w = max([len("game (worst first)"), *(len(g) for g in report.games)])
    cell = max(13, *(len(n) for n in names))
    lines.append("")
    lines.append(" ".join([f"{'game (worst first)':<{game_w}}", *(f"{n:>{cell}}" for n in names)]))
    lines.append(" ".join([" " * game_w, *(f"{'P@10    AP':>{cell}}" for _ in names)]))
    for g in order:
        row = [f"{g:<{game_w}}"]
        for n in names:
            s = report.scores[n][g]
            note = report.notes.get(n, {}).get(g)
            row.append((note if note else f"{s['p10']:.2f}  {s['ap']:.2f}").rjust(cell))
        lines.append(" ".join(row))
    scarce = {g for n in names for g in report.notes.get(n, {})}
    if scarce:
        lines.append(f"({len(scarce)} game(s) with a note scored as no clips.)")
    return "\n".join(lines)

"""Evaluation stage: load a labelled highlight dataset.

Consumes a dataset folder laid out as ``games.csv`` (``game, twitch_vod_id, game_start_s,
game_end_s, chat_file``), ``labels.csv`` (``game, start_s, end_s``; seconds on the VOD timeline,
end exclusive) and one chat file per game; produces a tuple of :class:`Game` records, in the order
of ``games.csv``. Chat logs are not read here: callers load them lazily with
``detector.sources.chat.load_chat(game.chat_path)``.

Every problem a user can cause (a missing file or column, a non-numeric cell, an empty or inverted
interval, a label for a game ``games.csv`` does not list, a missing chat file) raises
:class:`~detector.errors.DatasetError` naming the file, the line and what to do.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from detector.errors import DatasetError

log = logging.getLogger(__name__)

GAMES_FILE = "games.csv"
LABELS_FILE = "labels.csv"
GAMES_COLUMNS = ("game", "twitch_vod_id", "game_start_s", "game_end_s", "chat_file")
LABELS_COLUMNS = ("game", "start_s", "end_s")


@dataclass(frozen=True, slots=True)
class Game:
    """One labelled game: its detection window, its chat file and its highlight intervals."""

    game: str
    """The game's identifier (the key that joins ``games.csv`` and ``labels.csv``)."""
    vod_id: str
    """The Twitch VOD the game is part of."""
    start_s: float
    """Start of the detection window, seconds on the VOD timeline."""
    end_s: float
    """End of the detection window (exclusive), seconds on the VOD timeline."""
    chat_path: Path
    """Absolute path of the game's chat log."""
    labels: tuple[tuple[float, float], ...]
    """Labelled highlight intervals ``(start_s, end_s)``, end exclusive, sorted by start."""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of ``path`` as ``(line number, row)``; checks that the file and its columns exist."""
    if not path.is_file():
        raise DatasetError(
            f"{path}: file not found.",
            hint=f"A dataset folder needs {GAMES_FILE} and {LABELS_FILE}; check the folder you passed.",
        )
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh, skipinitialspace=True)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in columns if c not in header]
            if missing:
                raise DatasetError(
                    f"{path}, line 1: missing column(s) {', '.join(missing)} (found: {', '.join(header) or 'none'}).",
                    hint=f"The header must name: {', '.join(columns)}.",
                )
            reader.fieldnames = header
            rows = []
            for row in reader:
                if not any((v or "").strip() for k, v in row.items() if k is not None):
                    continue  # blank line
                cleaned = {k: (row.get(k) or "").strip() for k in columns}
                rows.append((reader.line_num, cleaned))
            return rows
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc}).", hint="Save the file as UTF-8 CSV.") from exc
    except csv.Error as exc:
        raise DatasetError(f"{path}: malformed CSV ({exc}).", hint="Fix the quoting on that line.") from exc


def _number(path: Path, line: int, row: dict[str, str], column: str) -> float:
    text = row[column]
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DatasetError(
            f"{path}, line {line}: column {column} is {text!r}, not a finite number of seconds.",
            hint="Write seconds on the VOD timeline, e.g. 1234.5.",
        )
    return value


def _interval(
    path: Path, line: int, row: dict[str, str], start_col: str, end_col: str
) -> tuple[float, float]:
    start = _number(path, line, row, start_col)
    end = _number(path, line, row, end_col)
    if end <= start:
        raise DatasetError(
            f"{path}, line {line}: {end_col} ({end:g}) is not after {start_col} ({start:g}).",
            hint="Intervals are [start, end) with end > start; swap or fix the values.",
        )
    return start, end


def load_dataset(dataset_dir: str | Path) -> tuple[Game, ...]:
    """Read and validate a labelled dataset folder; returns its games in ``games.csv`` order."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise DatasetError(
            f"{root}: dataset folder not found.",
            hint=f"Pass a folder that holds {GAMES_FILE}, {LABELS_FILE} and the chat files.",
        )
    root = root.resolve()
    games_path = root / GAMES_FILE
    labels_path = root / LABELS_FILE

    windows: dict[str, tuple[str, float, float, Path]] = {}
    for line, row in _read_csv(games_path, GAMES_COLUMNS):
        game = row["game"]
        if not game:
            raise DatasetError(f"{games_path}, line {line}: empty game id.", hint="Give every game an id.")
        if game in windows:
            raise DatasetError(
                f"{games_path}, line {line}: game {game} is listed twice.",
                hint="Keep one row per game.",
            )
        start, end = _interval(games_path, line, row, "game_start_s", "game_end_s")
        if not row["chat_file"]:
            raise DatasetError(
                f"{games_path}, line {line}: empty chat_file for game {game}.",
                hint="Name the game's chat log, relative to the dataset folder.",
            )
        chat_path = (root / row["chat_file"]).resolve()
        if not chat_path.is_file():
            raise DatasetError(
                f"{games_path}, line {line}: chat file {chat_path} for game {game} not found.",
                hint="Add the chat log or fix the chat_file column (paths are relative to the dataset folder).",
            )
        windows[game] = (row["twitch_vod_id"], start, end, chat_path)
    if not windows:
        raise DatasetError(f"{games_path}: no games listed.", hint="Add one row per game under the header.")

    labels: dict[str, list[tuple[float, float]]] = {g: [] for g in windows}
    for line, row in _read_csv(labels_path, LABELS_COLUMNS):
        game = row["game"]
        if game not in windows:
            raise DatasetError(
                f"{labels_path}, line {line}: label for game {game!r}, which {GAMES_FILE} does not list.",
                hint=f"Add the game to {GAMES_FILE} or remove its labels.",
            )
        labels[game].append(_interval(labels_path, line, row, "start_s", "end_s"))

    games = []
    for game, (vod_id, start, end, chat_path) in windows.items():
        if not labels[game]:
            log.warning("dataset %s: game %s has no labelled intervals", root, game)
        games.append(
            Game(
                game=game,
                vod_id=vod_id,
                start_s=start,
                end_s=end,
                chat_path=chat_path,
                labels=tuple(sorted(labels[game])),
            )
        )
    log.info("dataset %s: %d games, %d labels", root, len(games), sum(len(g.labels) for g in games))
    return tuple(games)

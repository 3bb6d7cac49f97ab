"""Output stage: the clips as a CSV table (for spreadsheets and quick scripts).

Consumes a ``DetectionResult``; produces one row per candidate, best first, with the columns
``rank,start,end,duration,peak,score,start_hms,summary`` followed by one column per signal name
(that signal's raw track value at the peak; empty when the clip has none). Times are seconds.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from detector.export.atomic import write_text_atomic
from detector.export.json_out import by_score
from detector.export.timefmt import hms
from detector.records import DetectionResult

BASE_COLUMNS = ("rank", "start", "end", "duration", "peak", "score", "start_hms", "summary")

# A spreadsheet runs a cell that starts with one of these as a formula; chat text is hostile.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def signal_columns(result: DetectionResult) -> list[str]:
    """Signal names in a stable order: the result's tracks first, then any others the clips name."""
    names = [n for n in result.tracks if n not in BASE_COLUMNS]
    for c in result.candidates:
        for n in c.signals:
            if n not in names and n not in BASE_COLUMNS:
                names.append(n)
    return names


def _cell(value: float | None, decimals: int) -> str:
    if value is None:
        return ""
    v = float(value)
    return f"{v:.{decimals}f}" if math.isfinite(v) else ""


def _text_cell(text: str) -> str:
    text = " ".join(str(text).split())  # one line per row, whatever the summary held
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(result: DetectionResult) -> str:
    columns = signal_columns(result)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([*BASE_COLUMNS, *columns])
    for c in by_score(result):
        writer.writerow(
            [
                int(c.rank),
                _cell(c.start_s, 3),
                _cell(c.end_s, 3),
                _cell(c.end_s - c.start_s, 3),
                _cell(c.peak_s, 3),
                _cell(c.score, 4),
                hms(c.start_s),
                _text_cell(c.explanation.summary),
                *(_cell(c.signals.get(n), 4) for n in columns),
            ]
        )
    return buf.getvalue()


def write_csv(result: DetectionResult, path: str | os.PathLike[str]) -> Path:
    """Write the clips table to ``path`` (UTF-8, atomically) and return the path."""
    return write_text_atomic(path, render_csv(result), newline="")

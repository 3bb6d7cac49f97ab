"""Output stage: a ``DetectionResult`` → result files (JSON, CSV, CMX 3600 EDL, HTML report).

Each writer has a ``render_*`` function (the text) and a ``write_*`` function (the file, written
atomically). :func:`write_outputs` renders every requested format first and only then writes, so
a rendering failure writes nothing and a write failure never leaves a half-written file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from detector.export.atomic import check_writable, write_text_atomic
from detector.export.csv_out import render_csv, write_csv
from detector.export.edl_out import render_edl, write_edl
from detector.export.errors import ExportError, ResultsFormatError
from detector.export.html_report import clip_media, render_html_report, write_html_report
from detector.export.json_out import read_json, render_json, to_json_dict, write_json
from detector.records import DetectionResult

log = logging.getLogger(__name__)

__all__ = [
    "ExportError",
    "ResultsFormatError",
    "check_writable",
    "read_json",
    "to_json_dict",
    "write_csv",
    "write_edl",
    "write_html_report",
    "write_json",
    "write_outputs",
]

PathLike = str | os.PathLike[str]


def write_outputs(
    result: DetectionResult,
    *,
    json: PathLike | None = None,
    csv: PathLike | None = None,
    edl: PathLike | None = None,
    html: PathLike | None = None,
    edl_fps: int = 30,
    clips: Mapping[int, Mapping[str, PathLike]] | None = None,
) -> dict[str, Path]:
    """Write whichever of the four files have a path; return ``{format: path}`` of those written.

    ``clips`` (rank → {layout or ``thumb`` → file}, as ``render_job`` returns them) are shown in the
    HTML report, linked relative to it."""
    renderers = {
        "json": (json, lambda: render_json(result), None),
        "csv": (csv, lambda: render_csv(result), ""),
        "edl": (edl, lambda: render_edl(result, fps=edl_fps), None),
        "html": (html, lambda: render_html_report(result, clip_media(clips, html) if clips and html else None), None),
    }
    rendered = {
        fmt: (Path(path), render(), newline)
        for fmt, (path, render, newline) in renderers.items()
        if path is not None
    }
    written: dict[str, Path] = {}
    for fmt, (path, text, newline) in rendered.items():
        written[fmt] = write_text_atomic(path, text, newline=newline)
        log.info("wrote %s %s", fmt, path)
    return written

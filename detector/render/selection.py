"""Render stage, selection: which clips to render.

Consumes a ``detect`` results JSON (through ``detector.export.read_json``) or spans given
directly (``12.5-42.5``, ``1:02:03-1:02:33``); produces ``Candidate`` records, best first, the
top N of them, each clip's segment label when the JSON carries one, and the ``DetectionResult``
wrapper the EDL writer takes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detector.export import read_json
from detector.export.json_out import by_score
from detector.records import Candidate, DetectionResult, Explanation, SignalTrack
from detector.render.errors import RenderError

LABEL_KEYS = ("segment", "label")
"""Clip keys that may carry the segment label (``gameplay``/``talking``) in a results JSON."""


def candidate_from_clip(clip: dict[str, Any]) -> Candidate:
    """A ``Candidate`` from one validated clip object of a results JSON."""
    e = clip.get("explanation") or {}
    score = clip.get("score")
    peak = clip.get("peak")
    return Candidate(
        rank=int(clip["rank"]), start_s=float(clip["start"]), end_s=float(clip["end"]),
        peak_s=float(peak) if peak is not None else (float(clip["start"]) + float(clip["end"])) / 2,
        score=float(score) if score is not None else math.nan,
        signals={str(k): float(v) if v is not None else math.nan for k, v in (clip.get("signals") or {}).items()},
        explanation=Explanation(
            summary=str(e.get("summary", "")),
            contributions={str(k): float(v) for k, v in (e.get("contributions") or {}).items() if v is not None},
            chat_lag_s=e.get("chat_lag_s"), chat_rate_ratio=e.get("chat_rate_ratio"),
            top_emotes=tuple((str(n), int(c)) for n, c in e.get("top_emotes") or []),
            chat_sample=tuple(str(s) for s in e.get("chat_sample") or []), audio_z=e.get("audio_z")),
    )


def load_candidates(path: str | os.PathLike[str]) -> tuple[list[Candidate], dict[int, str]]:
    """Candidates of a results JSON, best first, and ``{rank: segment label}`` where one is given."""
    clips = read_json(path)
    labels = {int(c["rank"]): str(c[k]) for c in clips for k in LABEL_KEYS if isinstance(c.get(k), str)}
    for c in clips:  # `detect --hybrid` writes the segmenter's label inside the explanation
        segment = (c.get("explanation") or {}).get("segment")
        if isinstance(segment, str) and int(c["rank"]) not in labels:
            labels[int(c["rank"])] = segment
    result = as_result([candidate_from_clip(c) for c in clips])
    return by_score(result), labels


def parse_time(text: str) -> float:
    """Seconds from ``S``, ``M:SS`` or ``H:MM:SS`` (fractions allowed)."""
    parts = text.strip().split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise RenderError(f"{text!r} is not a time.", hint="Write seconds (75.5) or H:MM:SS (1:02:03).") from None
    if len(values) > 3 or any(v < 0 or not math.isfinite(v) for v in values):
        raise RenderError(f"{text!r} is not a time.", hint="Write seconds (75.5) or H:MM:SS (1:02:03).")
    if any(v >= 60 for v in values[1:]):  # minutes and seconds after a larger unit stay below 60
        raise RenderError(f"{text!r} is not a time: minutes and seconds must be below 60.",
                          hint="Write H:MM:SS, e.g. 1:02:03 (or plain seconds, 3723).")
    seconds = 0.0
    for v in values:
        seconds = seconds * 60 + v
    return seconds


def parse_span(text: str) -> tuple[float, float]:
    """``START-END`` → seconds, e.g. ``12.5-42.5`` or ``1:02:03-1:02:33``."""
    start, sep, end = text.partition("-")
    if not sep:
        raise RenderError(f"Clip span {text!r} needs a START-END form.", hint="Example: --clip 1:02:03-1:02:33")
    a, b = parse_time(start), parse_time(end)
    if b <= a:
        raise RenderError(f"Clip span {text!r} ends before it starts.")
    return a, b


def direct_candidates(spans: Sequence[tuple[float, float]]) -> list[Candidate]:
    """Candidates for spans given directly, ranked in the order given."""
    return [Candidate(rank=i, start_s=a, end_s=b, peak_s=(a + b) / 2, score=math.nan, signals={},
                      explanation=Explanation(summary="given on the command line", contributions={}))
            for i, (a, b) in enumerate(spans, start=1)]


def top(candidates: Sequence[Candidate], n: int | None) -> list[Candidate]:
    if n is not None and n < 1:
        raise RenderError(f"--top must be at least 1, got {n}.")
    return list(candidates[:n] if n else candidates)


def as_result(candidates: Sequence[Candidate], media: str | Path | None = None) -> DetectionResult:
    """A ``DetectionResult`` holding only ``candidates`` (what the EDL writer needs)."""
    empty = SignalTrack(name="fused", hop_s=1.0, values=np.zeros(0))
    return DetectionResult(candidates=tuple(candidates), tracks={}, fused=empty,
                           meta={"media": str(media)} if media else {})

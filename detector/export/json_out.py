"""Output stage: the results JSON (written by ``detect``, read back by ``render``).

Consumes a ``DetectionResult``; produces ``{"clips": [...], "meta": {...}}`` where each clip has
``rank, start, end, peak, score, signals, explanation``. Times are seconds on the VOD timeline,
rounded to milliseconds; numpy scalars become plain numbers and NaN/inf become ``null`` so the file
is strict JSON. ``read_json`` validates that shape and returns the clips.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from detector.export.atomic import write_text_atomic
from detector.export.errors import ResultsFormatError
from detector.records import Candidate, DetectionResult

log = logging.getLogger(__name__)

TIME_DECIMALS = 3
VALUE_DECIMALS = 4


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: numpy → Python, NaN/inf → None, paths → str, tuples → lists."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    log.debug("results JSON: storing %s as its string form", type(value).__name__)
    return str(value)


def _num(value: Any, decimals: int) -> float | None:
    """A finite float rounded to ``decimals``, or None for None/NaN/inf."""
    if value is None:
        return None
    v = float(value)
    return round(v, decimals) if math.isfinite(v) else None


def clip_dict(c: Candidate) -> dict[str, Any]:
    """One candidate as its JSON object (``explanation.quote`` only when the clip was transcribed)."""
    e = c.explanation
    out: dict[str, Any] = {
        "rank": int(c.rank),
        "start": _num(c.start_s, TIME_DECIMALS),
        "end": _num(c.end_s, TIME_DECIMALS),
        "peak": _num(c.peak_s, TIME_DECIMALS),
        "score": _num(c.score, VALUE_DECIMALS),
        "signals": {str(k): _num(v, VALUE_DECIMALS) for k, v in c.signals.items()},
        "explanation": {
            "summary": str(e.summary),
            "contributions": {str(k): _num(v, VALUE_DECIMALS) for k, v in e.contributions.items()},
            "chat_lag_s": _num(e.chat_lag_s, TIME_DECIMALS),
            "chat_rate_ratio": _num(e.chat_rate_ratio, VALUE_DECIMALS),
            "top_emotes": [[str(name), int(count)] for name, count in e.top_emotes],
            "chat_sample": [str(line) for line in e.chat_sample],
            "audio_z": _num(e.audio_z, VALUE_DECIMALS),
        },
    }
    extra = out["explanation"]
    if e.quote is not None:
        extra["quote"] = str(e.quote)
    for key, value in (("segment", e.segment), ("vision", e.vision), ("caption", e.caption)):
        if value is not None:
            extra[key] = str(value)
    if e.snapped:
        extra["snapped"] = [str(move) for move in e.snapped]
    if e.muted_s:
        extra["muted_s"] = _num(e.muted_s, TIME_DECIMALS)
    return out


def _sort_key(c: Candidate) -> tuple[float, int]:
    score = float(c.score)
    return (-score if math.isfinite(score) else math.inf, int(c.rank))


def by_score(result: DetectionResult) -> list[Candidate]:
    """The candidates best first (ties and NaN scores by rank); every writer uses this order."""
    return sorted(result.candidates, key=_sort_key)


def to_json_dict(result: DetectionResult) -> dict[str, Any]:
    """The results document: clips sorted by score (best first) and the run's meta."""
    clips = [clip_dict(c) for c in by_score(result)]
    meta = jsonable(result.meta)
    timings = meta.get("timings")
    if isinstance(timings, dict):
        meta["timings"] = {
            k: _num(v, TIME_DECIMALS) if isinstance(v, (int, float)) else v for k, v in timings.items()
        }
    return {"clips": clips, "meta": meta}


def render_json(result: DetectionResult) -> str:
    return json.dumps(to_json_dict(result), ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def write_json(result: DetectionResult, path: str | os.PathLike[str]) -> Path:
    """Write the results JSON to ``path`` (atomically) and return the path."""
    return write_text_atomic(path, render_json(result))


# --- reading back ------------------------------------------------------------------------------


def read_json(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The clips of a results JSON written by :func:`write_json`, validated.

    Raises ``ResultsFormatError`` naming the file and the first problem found.
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsFormatError("the file does not exist.", path=where) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFormatError(f"cannot be read: {exc}.", path=where) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsFormatError(
            f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).", path=where
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("clips"), list):
        raise ResultsFormatError('expected an object with a "clips" list and a "meta" object.', path=where)
    if not isinstance(doc.get("meta", {}), dict):
        raise ResultsFormatError('"meta" must be an object.', path=where)
    return [_check_clip(clip, i, where) for i, clip in enumerate(doc["clips"])]


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_clip(clip: Any, i: int, where: str) -> dict[str, Any]:
    def bad(msg: str) -> ResultsFormatError:
        return ResultsFormatError(f"clips[{i}]: {msg}", path=where)

    if not isinstance(clip, dict):
        raise bad("each clip must be an object.")
    for key in ("rank", "start", "end", "peak", "score"):
        if key not in clip:
            raise bad(f'missing "{key}".')
    if not isinstance(clip["rank"], int) or isinstance(clip["rank"], bool) or clip["rank"] < 1:
        raise bad(f'"rank" must be a whole number ≥ 1, got {clip["rank"]!r}.')
    for key in ("start", "end"):
        if not _is_num(clip[key]) or clip[key] < 0:
            raise bad(f'"{key}" must be a number of seconds ≥ 0, got {clip[key]!r}.')
    if clip["end"] <= clip["start"]:
        raise bad(f'"end" ({clip["end"]}) must be after "start" ({clip["start"]}).')
    for key in ("peak", "score"):
        if clip[key] is not None and not _is_num(clip[key]):
            raise bad(f'"{key}" must be a number or null, got {clip[key]!r}.')
    signals = clip.get("signals", {})
    if not isinstance(signals, dict) or any(v is not None and not _is_num(v) for v in signals.values()):
        raise bad('"signals" must map signal names to numbers or null.')
    expl = clip.get("explanation", {})
    if not isinstance(expl, dict):
        raise bad('"explanation" must be an object.')
    if not isinstance(expl.get("summary", ""), str):
        raise bad('"explanation.summary" must be a string.')
    emotes = expl.get("top_emotes", [])
    if not isinstance(emotes, list) or any(
        not (isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], int))
        for e in emotes
    ):
        raise bad('"explanation.top_emotes" must be a list of [name, count] pairs.')
    for key in ("quote", "segment", "vision", "caption"):
        if not isinstance(expl.get(key, ""), (str, type(None))):
            raise bad(f'"explanation.{key}" must be a string or null.')
    snapped = expl.get("snapped", [])
    if not isinstance(snapped, list) or not all(isinstance(s, str) for s in snapped):
        raise bad('"explanation.snapped" must be a list of strings.')
    if expl.get("muted_s") is not None and not _is_num(expl["muted_s"]):
        raise bad('"explanation.muted_s" must be a number of seconds or null.')
    sample = expl.get("chat_sample", [])
    if not isinstance(sample, list) or not all(isinstance(s, str) for s in sample):
        raise bad('"explanation.chat_sample" must be a list of strings.')
    return clip

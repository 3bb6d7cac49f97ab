"""Output stage: the self-contained HTML report of one detection run.

Consumes a ``DetectionResult``; produces one HTML file with inline CSS and inline SVG only (no
scripts, no external URLs): the run facts (sources, duration, chat lag used, device, timings,
parameters), a whole-VOD timeline per signal track and for the fused score with the candidates
shaded, and the ranked clips as cards with their explanation (``html_cards``) and, when the caller
rendered them, the clips themselves, linked relative to the report. Every piece of text is escaped;
chat lines are hostile input.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from detector.export.atomic import write_text_atomic
from detector.export.html_cards import ClipMedia, clip_cards
from detector.export.html_chart import track_svg
from detector.export.html_style import CSS, FUSED_COLOUR, signal_colours
from detector.export.html_text import esc as _e
from detector.export.html_text import num as _num
from detector.export.json_out import by_score
from detector.export.timefmt import hms
from detector.records import DetectionResult, SignalTrack

log = logging.getLogger(__name__)

def _duration(result: DetectionResult) -> float:
    """The VOD length: the meta's duration, else the furthest a track or clip reaches."""
    d = result.meta.get("duration_s")
    if isinstance(d, (int, float)) and math.isfinite(d) and d > 0:
        return float(d)
    ends = [t.start_s + t.hop_s * len(t.values) for t in (*result.tracks.values(), result.fused)]
    ends += [c.end_s for c in result.candidates]
    return max([e for e in ends if math.isfinite(e)] + [0.0])


def _title(meta: Mapping[str, Any]) -> str:
    source = meta.get("media") or meta.get("chat")
    return f"Highlights — {PurePath(str(source)).name}" if source else "Highlights"


# --- header ------------------------------------------------------------------------------------


def _lag_text(meta: Mapping[str, Any]) -> str:
    if not meta.get("chat"):
        return '<span class="muted">not used (no chat)</span>'
    lag = meta.get("chat_lag_s")
    if lag is None:
        return "—"
    source = str(meta.get("chat_lag_source") or "")
    tag = {
        "estimated": '<span class="tag">estimated from audio</span>',
        "prior": '<span class="tag prior">prior (not estimated)</span>',
        "community": '<span class="tag">learned from this community\'s labels</span>',
    }.get(source, f'<span class="tag">{_e(source)}</span>' if source else "")
    return f'{_num(lag, ".1f", " s")} {tag} <span class="muted">chat reacts this much after the stream</span>'


def _timings_text(timings: Any) -> str:
    if not isinstance(timings, Mapping) or not timings:
        return "—"
    parts, total, stated = [], 0.0, None
    for stage, secs in timings.items():
        try:
            s = float(secs)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(s):
            continue
        if stage == "total":  # the pipeline's own wall time: the total, not one more stage
            stated = s
            continue
        total += s
        parts.append(f"{_e(stage)} {s:.1f} s")
    if stated is not None:
        total = stated
    elif not parts:
        return "—"
    return " · ".join(parts + [f"<b>total {total:.1f} s</b>"])


def _params_block(params: Any) -> str:
    if not isinstance(params, Mapping) or not params:
        return ""
    rows = "".join(
        f'<tr><td>{_e(k)}</td><td class="num">{_e(f"{v:g}" if isinstance(v, float) else v)}</td></tr>'
        for k, v in params.items()
    )
    return f'<details><summary>Parameters ({len(params)})</summary><table class="params">{rows}</table></details>'


def _header(result: DetectionResult, duration: float) -> str:
    m = result.meta
    facts = [
        ("Media", _e(m["media"]) if m.get("media") else '<span class="muted">none (chat only)</span>'),
        ("Chat", _e(m["chat"]) if m.get("chat") else '<span class="muted">none (audio only)</span>'),
        ("Duration", f"{hms(duration)} ({duration:,.0f} s)"),
        ("Chat lag", _lag_text(m)),
        ("Device", _e(m.get("device") or "—")),
        ("Timings", _timings_text(m.get("timings"))),
    ]
    unavailable = m.get("unavailable_signals")
    if isinstance(unavailable, Mapping) and unavailable:
        facts.append(("Not used", "; ".join(f"{_e(k)}: {_e(v)}" for k, v in sorted(unavailable.items()))))
    if m.get("version"):
        facts.append(("Version", _e(m["version"])))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    warnings = m.get("warnings")
    warn = ""
    if isinstance(warnings, Sequence) and not isinstance(warnings, str) and warnings:
        items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
        warn = f'<div class="warn"><b>Warnings</b><ul>{items}</ul></div>'
    n = len(result.candidates)
    return (
        f"<header><h1>{_e(_title(m))}</h1>"
        f'<div class="muted">{n} highlight candidate{"s" if n != 1 else ""}</div></header>'
        f'<section class="panel"><dl class="facts-grid">{dl}</dl>{warn}{_params_block(m.get("params"))}</section>'
    )


# --- timelines -----------------------------------------------------------------------------------


def _timelines(result: DetectionResult, duration: float, colours: Mapping[str, str]) -> str:
    params = result.meta.get("params")
    raw = params.get("threshold") if isinstance(params, Mapping) else None
    threshold = float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
    cands = list(result.candidates)
    entries: list[tuple[str, SignalTrack, str, float | None]] = [
        ("fused score", result.fused, FUSED_COLOUR, threshold)
    ]
    entries += [(name, t, colours.get(name, FUSED_COLOUR), None) for name, t in result.tracks.items()]
    blocks = []
    for label, track, colour, thr in entries:
        hop = f"{track.hop_s:g} s steps, {len(track.values):,} samples"
        blocks.append(
            f'<div class="chart-block"><div class="chart-head">'
            f'<span class="swatch" style="background:{colour}"></span><h3>{_e(label)}</h3>'
            f'<span class="muted">{_e(hop)}</span></div>'
            f"{track_svg(track, cands, duration, colour, threshold=thr)}</div>"
        )
    return '<h2>Timeline</h2><section class="panel">' + _segment_band(result, duration) + "".join(blocks) + "</section>"


SEGMENT_COLOURS = {"gameplay": "#4e79a7", "talking": "#f28e2b", "menu": "#9c9c9c", "other": "#d4d4d4"}


def _segment_band(result: DetectionResult, duration: float) -> str:
    """The gameplay / talking / menu stretches as one coloured band above the tracks."""
    seg = result.meta.get("segments")
    spans = seg.get("spans") if isinstance(seg, Mapping) else None
    if not spans or duration <= 0:
        return ""
    parts = []
    for start, end, label, confidence in spans:
        width = 100.0 * max(float(end) - float(start), 0.0) / duration
        colour = SEGMENT_COLOURS.get(str(label), "#d4d4d4")
        parts.append(f'<span style="width:{width:.3f}%;background:{colour}" '
                     f'title="{_e(label)} {hms(float(start))}–{hms(float(end))} ({float(confidence):.0%})"></span>')
    legend = "".join(f'<span><span class="swatch" style="background:{c}"></span> {_e(k)}</span>'
                     for k, c in SEGMENT_COLOURS.items())
    return (f'<div class="chart-block"><div class="chart-head"><h3>segments</h3>'
            f'<span class="muted">gameplay vs talking, routes the weights</span></div>'
            f'<div class="bar" aria-label="segments">{"".join(parts)}</div><div class="legend">{legend}</div></div>')


# --- page ----------------------------------------------------------------------------------------


def render_html_report(result: DetectionResult, media: Mapping[int, ClipMedia] | None = None) -> str:
    """The report as one HTML string; ``media`` (rank → the clip's files, as URLs relative to the
    report) puts each rendered clip beside its explanation."""
    duration = _duration(result)
    names = list(result.tracks)
    for c in result.candidates:
        names += list(c.explanation.contributions) + list(c.signals)
    colours = signal_colours(names)
    body = _header(result, duration) + _timelines(result, duration, colours) + clip_cards(by_score(result), colours, media)
    footer = "<footer>Made by the highlights detector. Times are on the VOD timeline (H:MM:SS).</footer>"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(_title(result.meta))}</title><style>{CSS}</style></head>"
        f"<body><main>{body}{footer}</main></body></html>\n"
    )


def clip_media(files: Mapping[int, Mapping[str, str | os.PathLike[str]]], report: str | os.PathLike[str]) -> dict[int, ClipMedia]:
    """Rank → {layout or ``thumb`` → file} (as ``render_job`` returns them) as URLs relative to ``report``."""
    folder = Path(report).resolve().parent

    def url(path: str | os.PathLike[str]) -> str:
        return quote(Path(os.path.relpath(Path(path).resolve(), folder)).as_posix())

    return {int(rank): ClipMedia(videos=tuple((layout, url(p)) for layout, p in by_layout.items() if layout != "thumb"),
                                 thumb=url(by_layout["thumb"]) if "thumb" in by_layout else None)
            for rank, by_layout in files.items()}


def write_html_report(result: DetectionResult, path: str | os.PathLike[str],
                      clips: Mapping[int, Mapping[str, str | os.PathLike[str]]] | None = None) -> Path:
    """Write the report to ``path`` (atomically) and return the path; ``clips`` (rank → {layout or
    ``thumb`` → file}) are shown in it, linked relative to ``path``."""
    html = render_html_report(result, clip_media(clips, path) if clips else None)
    log.debug("HTML report: %d clips, %d chars", len(result.candidates), len(html))
    return write_text_atomic(path, html)

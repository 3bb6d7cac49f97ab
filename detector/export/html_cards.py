"""Output stage, HTML report: one card per clip — its video, its score and why it was picked.

Consumed by ``html_report``. A card shows the clip's times and score, the rendered clip itself when
the caller passes its files (a ``<video>`` per layout with the thumbnail as poster, sources relative
to the report, so the folder can be moved or zipped as a whole), the summary, what each signal
added to the score (signals that added nothing are left out), what stood out at the peak in plain
words (the feature's name and raw value stay in a tooltip), and the chat's emotes and lines.
Every piece of text is escaped; chat lines are hostile input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from detector.export.html_style import FUSED_COLOUR
from detector.export.html_text import esc as _e
from detector.export.html_text import num as _num
from detector.export.timefmt import hms
from detector.records import Candidate

MAX_CHAT_LINES = 12
MAX_LINE_CHARS = 300
MAX_AT_PEAK = 5
"""At most this many features are named under "at the peak" (the strongest first)."""
SHOWN_CONTRIBUTION = 0.005
"""Contributions smaller than this (either sign) are left out of a card's bar and legend."""

FEATURE_WORDS = {
    "chat.rate": "chat messages",
    "chat.hype": "hype messages",
    "chat.emote": "emotes in chat",
    "chat.unique": "different chatters",
    "chat.learned": "the community's own words",
    "chat.ranker": "chat's reaction",
    "audio.rms": "loudness",
    "audio.voice": "voice",
    "audio.flux": "sudden sounds",
    "transcript.said": "what was said",
    "vision.action": "action on screen",
}
"""Plain words for the fused features (``signal.feature``); unknown names show as they are."""


@dataclass(frozen=True, slots=True)
class ClipMedia:
    """A rendered clip's files as URLs relative to the report (``videos``: layout → URL)."""

    videos: tuple[tuple[str, str], ...] = ()
    thumb: str | None = None


def feature_words(name: str) -> str:
    return FEATURE_WORDS.get(name, name.replace(".", " ").replace("_", " "))


def level_words(z: float) -> str | None:
    """A robust z-score (typical deviations from this VOD's usual level) in words; None when usual."""
    if z >= 6:
        return "far above usual"
    if z >= 3:
        return "well above usual"
    if z >= 1:
        return "above usual"
    if z <= -1:
        return "below usual"
    return None


def _finite(values: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in values.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[k] = f
    return out


def contribution_bar(c: Candidate, scale: float, colours: Mapping[str, str]) -> str:
    contrib = {k: v for k, v in _finite(c.explanation.contributions).items() if abs(v) >= SHOWN_CONTRIBUTION}
    segs, legend = [], []
    for name, v in sorted(contrib.items(), key=lambda kv: -kv[1]):
        colour = colours.get(name, FUSED_COLOUR)
        if v > 0 and scale > 0:
            segs.append(f'<span style="width:{100 * v / scale:.2f}%;background:{colour}" '
                        f'title="{_e(name)} {v:+.2f}"></span>')
        cls = "" if v > 0 else ' class="neg"'
        legend.append(f'<span{cls} title="{_e(name)}"><span class="swatch" style="background:{colour}"></span> '
                      f"{_e(feature_words(name))} {v:+.2f}</span>")
    if not legend:
        return ""
    return f'<div class="bar" aria-label="contributions">{"".join(segs)}</div><div class="legend">{"".join(legend)}</div>'


def at_peak(signals: Mapping[str, Any]) -> str | None:
    """What stood out at the peak, in words: ``"hype messages far above usual, loudness above usual"``."""
    parts = []
    for name, v in sorted(_finite(signals).items(), key=lambda kv: -kv[1]):
        if name == "transcript.said":
            words = "a reaction was heard" if v > 0 else None
        elif name == "vision.action":
            words = f"action on screen {v:.0%}" if v > 0 else None
        else:
            level = level_words(v)
            words = f"{feature_words(name)} {level}" if level else None
        if words:
            parts.append(f'<span title="{_e(name)} = {v:.2f}">{_e(words)}</span>')
    return ", ".join(parts[:MAX_AT_PEAK]) or None


def _stats(c: Candidate) -> str:
    e = c.explanation
    items = []
    if e.chat_rate_ratio is not None:
        items.append(f"chat rate <b>×{_num(e.chat_rate_ratio, '.1f')}</b> over baseline")
    if e.audio_z is not None:
        items.append(f"audio z <b>{_num(e.audio_z, '.1f')}</b>")
    if e.chat_lag_s is not None:
        items.append(f"chat lag <b>{_num(e.chat_lag_s, '.1f', ' s')}</b>")
    if e.segment:
        items.append(f"segment <b>{_e(e.segment)}</b>")
    if e.vision:
        items.append(f"vision: {_e(e.vision)}")
    if e.muted_s:
        items.append(f'<b class="warn-text">{_num(e.muted_s, ".0f", " s")} muted on Twitch</b>')
    for move in e.snapped:
        items.append(f"edge {_e(move)}")
    peak = at_peak(c.signals) if c.signals else None
    if peak:
        items.append(f"at the peak: {peak}")
    return f'<div class="stats">{"".join(f"<span>{i}</span>" for i in items)}</div>' if items else ""


def _chat(c: Candidate) -> str:
    e = c.explanation
    out = ""
    if e.top_emotes:
        chips = "".join(f'<span class="chip">{_e(name)} ×{int(n)}</span>' for name, n in e.top_emotes)
        out += f'<div class="emotes">{chips}</div>'
    lines = [str(s) for s in e.chat_sample[:MAX_CHAT_LINES]]
    if lines:
        items = "".join(f"<li>{_e(s if len(s) <= MAX_LINE_CHARS else s[:MAX_LINE_CHARS] + '…')}</li>" for s in lines)
        out += f'<ul class="chat" aria-label="chat sample">{items}</ul>'
    return out


def _media(media: ClipMedia | None) -> str:
    if media is None or not media.videos:
        return ""
    players = []
    for layout, url in media.videos:
        tall = layout.startswith("9:16")
        # The thumbnail is a 16:9 frame: the poster of the wide player; a tall one shows its own first frame.
        poster = f'preload="none" poster="{_e(media.thumb)}"' if media.thumb and not tall else 'preload="metadata"'
        players.append(f'<figure class="{"tall" if tall else "wide"}"><video controls {poster} src="{_e(url)}"></video>'
                       f'<figcaption><a href="{_e(url)}">{_e(layout)}</a></figcaption></figure>')
    return f'<div class="media">{"".join(players)}</div>'


def card(c: Candidate, scale: float, colours: Mapping[str, str], media: ClipMedia | None = None) -> str:
    rank = int(c.rank)
    when = (f'<span class="times">{hms(c.start_s)} – {hms(c.end_s)}</span>'
            f'<span class="muted">{c.end_s - c.start_s:.0f} s · peak {hms(c.peak_s)}</span>'
            f'<span class="score">score {_num(c.score)}</span>')
    summary = f'<p class="summary">{_e(c.explanation.summary)}</p>' if c.explanation.summary else ""
    if c.explanation.caption:
        summary += f'<p class="summary"><i>{_e(c.explanation.caption)}</i></p>'
    return (f'<article class="clip panel" id="clip-{rank}"><div class="rank">#{rank}</div><div>'
            f'<div class="when">{when}</div>{_media(media)}{summary}'
            f"{contribution_bar(c, scale, colours)}{_stats(c)}{_chat(c)}</div></article>")


def clip_cards(cands: Sequence[Candidate], colours: Mapping[str, str],
               media: Mapping[int, ClipMedia] | None = None) -> str:
    if not cands:
        return ('<h2>Clips</h2><div class="panel empty">No highlight candidates were found: nothing in '
                "this VOD rose above the threshold. Lower <code>threshold</code> to see weaker moments.</div>")
    totals = [sum(max(v, 0.0) for v in _finite(c.explanation.contributions).values()) for c in cands]
    scale = max(totals + [0.0])
    media = media or {}
    return "<h2>Clips</h2>" + "".join(card(c, scale, colours, media.get(int(c.rank))) for c in cands)

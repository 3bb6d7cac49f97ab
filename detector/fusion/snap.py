"""Fusion: snap clip boundaries to scene cuts and silences, so clips start and end cleanly.

Consumes ranked ``Candidate``s, cut times (``SceneCuts.times`` from ``detector.signals.scenes``)
and silent gaps (an ``(n, 2)`` array of ``[start_s, end_s]``); produces the same candidates with
their edges moved and each move named in the explanation's summary (``start snapped −1.2 s to a
cut``). Each edge moves at most ``snap_max_s``; a scene cut beats a silence; a move is refused when
it would push the peak to within ``PEAK_MARGIN_S`` of an edge (or out of the clip) or take the
length out of ``[min_len_s, max_len_s]`` (a clip already outside that range may not get worse).

Where an edge lands in a silence: a start goes ``SPEECH_LEAD_S`` before the speech resumes (the
gap's end), an end ``SPEECH_LEAD_S`` after the speech stopped (the gap's start) — inside the gap
either way, so no word is cut, with little dead air.

Silences come from the sound itself (:func:`silences_from_audio`: the edge windows decoded to
16 kHz mono, 20 ms frames, a frame is silent when ``SILENCE_DROP_DB`` below the window's loud level
or below ``SILENCE_FLOOR_DBFS``) and, when the transcript pass ran, for free from the gaps between
its words (:func:`silences_from_words`). The audio signal's loudness track is not used: it is
pooled to 0.5 s bins and smoothed over ``audio_smooth_s`` (3 s), far coarser than a 0.3 s pause.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import product

import numpy as np

from detector.errors import Cancelled
from detector.ffmpeg import run_ffmpeg
from detector.params import Settings
from detector.records import AbortCheck, Candidate, MediaInfo
from detector.signals.scenes import merge_windows

log = logging.getLogger(__name__)

PEAK_MARGIN_S = 1.0
"""The peak stays at least this far inside the clip after snapping."""
SPEECH_LEAD_S = 0.15
EDGE_PAD_S = 1.0
"""Edge windows reach this much past ``snap_max_s`` (a detector needs frames before a cut)."""
RATE = 16000
FRAME_S = 0.02
SILENCE_DROP_DB = 25.0
SILENCE_FLOOR_DBFS = -55.0
LOUD_PERCENTILE = 90.0
DECODE_TIMEOUT_S = 300.0

Window = tuple[float, float]


@dataclass(frozen=True, slots=True)
class EdgeMove:
    """One snapped edge."""

    edge: str
    """``start`` or ``end``."""
    from_s: float
    to_s: float
    target: str
    """``cut`` or ``silence``."""

    def describe(self) -> str:
        delta = self.to_s - self.from_s
        sign = "+" if delta >= 0 else "\u2212"
        return f"{self.edge} snapped {sign}{abs(delta):.1f} s to a {self.target}"


def edge_windows(candidates: Iterable[Candidate], settings: Settings) -> list[Window]:
    """The spans round every clip edge where a cut or silence could be snapped to (unmerged)."""
    reach = float(settings["snap_max_s"]) + EDGE_PAD_S
    return [(max(t - reach, 0.0), t + reach) for c in candidates for t in (c.start_s, c.end_s)]


def _options(edge: str, t: float, cuts: np.ndarray, silences: np.ndarray, reach: float) -> list[tuple[int, float, str]]:
    """(rank, new time, target) for one edge: cuts rank 0, silences 1, staying put 2."""
    out: list[tuple[int, float, str]] = [(2, t, "")]
    out += [(0, float(c), "cut") for c in cuts if abs(c - t) <= reach]
    for a, b in silences:
        lead = min(SPEECH_LEAD_S, (b - a) / 2.0)
        point = max(a, b - lead) if edge == "start" else min(b, a + lead)
        if abs(point - t) <= reach:
            out.append((1, float(point), "silence"))
    return out


def snap_edges(start: float, end: float, peak: float, cuts: np.ndarray, silences: np.ndarray,
               settings: Settings, duration_s: float = 0.0) -> tuple[float, float, list[EdgeMove]]:
    """The best allowed (start, end) and the moves that lead there."""
    reach = float(settings["snap_max_s"])
    length = end - start
    lo = min(float(settings["min_len_s"]), length)
    hi = max(float(settings["max_len_s"]), length)
    best = None
    for (rs, s, ks), (re_, e, ke) in product(_options("start", start, cuts, silences, reach),
                                             _options("end", end, cuts, silences, reach)):
        if not (lo - 1e-6 <= e - s <= hi + 1e-6):
            continue
        if s < 0 or (duration_s > 0 and e > duration_s + 1e-6):
            continue
        moved_start, moved_end = s != start, e != end
        if (moved_start and s > peak - PEAK_MARGIN_S) or (moved_end and e < peak + PEAK_MARGIN_S):
            continue
        key = ((rs == 2) + (re_ == 2), (rs == 1) + (re_ == 1), abs(s - start) + abs(e - end))
        if best is None or key < best[0]:
            best = (key, s, e, ks, ke)
    if best is None:
        return start, end, []
    _, s, e, ks, ke = best
    moves = [EdgeMove(edge, old, new, kind) for edge, old, new, kind in
             (("start", start, s, ks), ("end", end, e, ke)) if kind and abs(new - old) > 1e-9]
    return round(s, 3), round(e, 3), moves


def snap_boundaries(candidates: Sequence[Candidate], cuts: np.ndarray | Sequence[float],
                    silences: np.ndarray | Sequence[tuple[float, float]], settings: Settings,
                    duration_s: float = 0.0) -> tuple[Candidate, ...]:
    """Candidates with edges snapped to nearby cuts or silences; each move joins the summary."""
    cut_arr = np.sort(np.asarray(cuts, dtype=np.float64).reshape(-1))
    sil_arr = np.asarray(silences, dtype=np.float64).reshape(-1, 2)
    out = []
    for c in candidates:
        start, end, moves = snap_edges(c.start_s, c.end_s, c.peak_s, cut_arr, sil_arr, settings, duration_s)
        if moves:
            note = ", ".join(m.describe() for m in moves)
            log.debug("candidate %d: %s", c.rank, note)
            e = c.explanation
            c = replace(c, start_s=start, end_s=end,
                        explanation=replace(e, summary=f"{e.summary}; {note}",
                                            snapped=tuple(m.describe() for m in moves)))
        out.append(c)
    return tuple(out)


# --- where the silences are ---------------------------------------------------------------------

def _gaps(mask: np.ndarray, frame_s: float, offset: float, min_s: float) -> list[Window]:
    """Runs of True in ``mask`` at least ``min_s`` long, as (start, end) seconds."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(offset + a * frame_s, offset + b * frame_s) for a, b in zip(starts, ends)
            if (b - a) * frame_s >= min_s - 1e-9]


def silences_from_audio(media: MediaInfo, windows: Sequence[Window], settings: Settings, *,
                        abort: AbortCheck | None = None) -> np.ndarray:
    """Silent gaps (``(n, 2)``, s, VOD timeline) at least ``snap_silence_min_s`` long in ``windows``."""
    if not media.has_audio:
        log.debug("%s has no audio: no silences to snap to", media.path)
        return np.zeros((0, 2))
    min_s = float(settings["snap_silence_min_s"])
    frame = int(round(FRAME_S * RATE))
    spans = merge_windows(windows, media.duration_s)
    found: list[Window] = []
    for a, b in spans:
        if abort is not None and abort():
            raise Cancelled("Stopped while looking for silences.")
        proc = run_ffmpeg(["-loglevel", "error", "-ss", f"{a:.3f}", "-t", f"{b - a:.3f}", "-i", media.path,
                           "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"],
                          timeout_s=DECODE_TIMEOUT_S, what="decoding audio to find silences")
        samples = np.frombuffer(proc.stdout, dtype="<i2").astype(np.float32) / 32768.0
        n = len(samples) // frame
        if n == 0:
            continue
        rms = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1))
        level = 20.0 * np.log10(rms + 1e-9)
        loud = float(np.percentile(level, LOUD_PERCENTILE))
        silent = (level < loud - SILENCE_DROP_DB) | (level < SILENCE_FLOOR_DBFS)
        found += _gaps(silent, frame / RATE, a, min_s)
    return np.asarray(found, dtype=np.float64).reshape(-1, 2)


def silences_from_words(words: Sequence[object], spans: Sequence[Window], settings: Settings) -> np.ndarray:
    """Gaps between consecutive transcribed words (inside one transcribed span) of at least
    ``snap_silence_min_s``; ``words`` have ``start_s``/``end_s`` (``detector.records.Word``)."""
    min_s = float(settings["snap_silence_min_s"])
    ordered = sorted(words, key=lambda w: w.start_s)  # type: ignore[attr-defined]
    out = []
    for prev, nxt in zip(ordered, ordered[1:]):
        a, b = float(prev.end_s), float(nxt.start_s)  # type: ignore[attr-defined]
        if b - a >= min_s and any(x <= a and b <= y for x, y in spans):
            out.append((a, b))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


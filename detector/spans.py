"""Time spans on the VOD timeline: widen, clip and merge ``(start_s, end_s)`` pairs.

Shared by every stage that works on windows — transcribing candidate windows, scanning them for
scene cuts, fetching sections of an HLS VOD, joining muted spans — so overlapping windows are
handled one way everywhere. Consumes and produces plain float pairs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

Span = tuple[float, float]


def merge_spans(spans: Iterable[Span], limit_s: float = math.inf, *, margin_s: float = 0.0) -> list[Span]:
    """``spans`` widened by ``margin_s`` on each side, clipped to ``[0, limit_s]`` (a limit ≤ 0 means
    none), sorted, with overlapping or touching ones merged; empty spans are dropped."""
    limit = limit_s if limit_s > 0 else math.inf
    merged: list[Span] = []
    for lo, hi in sorted((max(0.0, float(a) - margin_s), min(limit, float(b) + margin_s)) for a, b in spans):
        if hi <= lo:
            continue
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged

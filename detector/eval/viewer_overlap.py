"""Evaluation with weak labels: how many of our top-K clips overlap the clips viewers made themselves.

Consumes our ranked clips (start, end on the VOD timeline) and viewers' clips of the same VOD (their
VOD offset, duration and view count, from Helix); produces ``ViewerOverlap``: the share of our top K
that overlaps at least one viewer clip, the share of viewer clips (and of their views) that one of
our top K covers, and per clip which viewer clip it matched. Viewer clips are weak labels — people
clip what they like, late and unevenly — so this is a sanity figure beside the labelled dev set, not
a replacement for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    start_s: float
    end_s: float
    views: int = 0


@dataclass(frozen=True, slots=True)
class ViewerOverlap:
    k: int
    ours: int
    """How many of our clips were compared (≤ k)."""
    viewer_clips: int
    precision: float
    """Share of our top K overlapping at least one viewer clip."""
    recall: float
    """Share of viewer clips overlapped by one of our top K."""
    view_recall: float
    """Share of the viewer clips' views that those clips carry."""
    matches: tuple[int | None, ...]
    """For each of our clips, the index of the most-viewed viewer clip it overlaps (None: none)."""


def overlaps(a: Span, b: Span, min_overlap_s: float) -> bool:
    return min(a.end_s, b.end_s) - max(a.start_s, b.start_s) >= min_overlap_s


def viewer_overlap(ours: Sequence[Span], viewers: Sequence[Span], k: int, *, min_overlap_s: float = 1.0) -> ViewerOverlap:
    """Compare our first ``k`` clips (in rank order) with every viewer clip."""
    if k <= 0:
        raise ValueError("k must be positive")
    top = list(ours)[:k]
    matches: list[int | None] = []
    covered: set[int] = set()
    for clip in top:
        hits = [i for i, v in enumerate(viewers) if overlaps(clip, v, min_overlap_s)]
        covered.update(hits)
        matches.append(max(hits, key=lambda i: viewers[i].views) if hits else None)
    total_views = sum(max(v.views, 0) for v in viewers)
    return ViewerOverlap(
        k=k, ours=len(top), viewer_clips=len(viewers),
        precision=sum(m is not None for m in matches) / len(top) if top else 0.0,
        recall=len(covered) / len(viewers) if viewers else 0.0,
        view_recall=sum(max(viewers[i].views, 0) for i in covered) / total_views if total_views else 0.0,
        matches=tuple(matches),
    )

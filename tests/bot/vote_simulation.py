"""A simulated community voting on the clips of successive synthetic VODs (for the tuning tests).

Each round makes a VOD's signal tracks with planted events of several kinds (loud moments, hype
chat, emote spam, talking), runs the detector's real fusion (``detector.fusion``: align, fuse,
candidates) with the parameters in force, "posts" the top K clips, lets a community whose hidden
taste favours some signals vote on them, and re-tunes from every vote so far with
``storage.tuning.propose``. Precision@K is the share of posted clips that are events the community
likes. Deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from detector.fusion.candidates import find_candidates
from detector.fusion.score import align, fuse
from detector.params import Settings
from detector.records import SignalTrack
from storage.tuning import TuningOptions, VotedClip, effective, propose

HOP_S = 0.5
FEATURES = {"chat": ("rate", "hype", "emote", "unique"), "audio": ("rms", "flux", "voice")}
KINDS: dict[str, dict[str, float]] = {
    "loud": {"audio.rms": 5.0, "audio.flux": 3.0, "chat.rate": 2.0, "chat.emote": 3.0},
    "hype": {"chat.hype": 6.0, "chat.rate": 2.0, "chat.unique": 1.0},
    "emote": {"chat.emote": 5.0, "chat.rate": 3.0, "audio.rms": 1.5},
    "talk": {"audio.voice": 5.0, "audio.rms": 1.5, "chat.hype": 2.0},
}
TASTE = {"audio.rms": 1.0, "chat.emote": 1.0, "chat.hype": -0.6, "audio.voice": -0.3}
"""The community's hidden taste: a linear score over the event's true strengths."""


@dataclass(frozen=True, slots=True)
class Event:
    time_s: float
    strengths: dict[str, float]

    @property
    def liked(self) -> bool:
        return sum(TASTE.get(f, 0.0) * v for f, v in self.strengths.items()) > 2.0


@dataclass(frozen=True, slots=True)
class Round:
    precision: float
    default_precision: float
    params: dict[str, float]


def synthetic_tracks(rng: np.random.Generator, duration_s: float = 3600.0, events: int = 40
                     ) -> tuple[dict[str, SignalTrack], list[Event]]:
    n = int(duration_s / HOP_S)
    times = np.sort(rng.choice(np.arange(60, int(duration_s) - 60, 80), size=events, replace=False)).astype(float)
    planted: list[Event] = []
    data = {f"{t}.{f}": rng.normal(0.0, 0.3, n) for t, feats in FEATURES.items() for f in feats}
    grid = np.arange(n) * HOP_S
    for t in times:
        kind = KINDS[str(rng.choice(list(KINDS)))]
        strengths = {f: v * float(rng.uniform(0.6, 1.4)) for f, v in kind.items()}
        planted.append(Event(float(t), strengths))
        bump = np.exp(-0.5 * ((grid - t) / 4.0) ** 2)
        for f, v in strengths.items():
            data[f] += v * bump
    tracks = {t: SignalTrack(name=t, hop_s=HOP_S, values=np.zeros(n, dtype=np.float32),
                             features={f: data[f"{t}.{f}"].astype(np.float32) for f in feats})
              for t, feats in FEATURES.items()}
    return tracks, planted


def detect(tracks: dict[str, SignalTrack], params: Mapping[str, float], k: int, duration_s: float = 3600.0
           ) -> list[tuple[float, dict[str, float]]]:
    """The real fusion: (peak time, signal values at the peak) of the top ``k`` candidates."""
    settings = Settings({**params, "top_k": k})
    n = int(duration_s / HOP_S)
    aligned = align(tracks, n, {}, settings, HOP_S)
    spans = find_candidates(fuse(aligned), settings, duration_s)
    return [(s.peak_s, {name: float(aligned.matrix[i, s.peak_index]) for i, name in enumerate(aligned.names)})
            for s in spans]


def _liked(peak_s: float, events: list[Event]) -> bool:
    near = [e for e in events if abs(e.time_s - peak_s) <= 10.0]
    return bool(near) and near[0].liked


def simulate(rounds: int = 6, k: int = 8, voters: int = 12, seed: int = 7,
             options: TuningOptions | None = None) -> list[Round]:
    rng = np.random.default_rng(seed)
    voted: list[VotedClip] = []
    params: dict[str, float] = {}
    results: list[Round] = []
    for _ in range(rounds):
        tracks, events = synthetic_tracks(rng)
        posted = detect(tracks, effective(params), k)
        baseline = detect(tracks, effective({}), k)
        precision = sum(_liked(t, events) for t, _ in posted) / k
        default_precision = sum(_liked(t, events) for t, _ in baseline) / k
        results.append(Round(precision, default_precision, dict(params)))
        for peak_s, signals in posted:
            liked = _liked(peak_s, events)
            present = rng.random(voters) < 0.7
            ups = rng.random(voters) < (0.85 if liked else 0.15)
            up = int((present & ups).sum())
            voted.append(VotedClip(signals=signals, up=up, down=int(present.sum()) - up))
        proposal = propose(voted, params, options)
        if proposal is not None and proposal.changed:
            params = proposal.params
    return results

"""Vote benchmark (``highlights bench votes``): does vote tuning give a community better clips?

A simulated community with a hidden taste votes on successive synthetic VODs. Each round makes a
VOD's signal tracks with planted events of several kinds (loud moments, hype chat, emote spam,
talking), runs the detector's real fusion (``detector.fusion``: align, fuse, candidates) with the
parameters in force, "posts" the top K clips, lets the community vote on them and re-tunes from
every vote so far with ``storage.tuning.propose`` — the same math the bot's tuner calls.
Precision@K is the share of posted clips that are events the community likes; each round also
measures the defaults on the same VOD. Deterministic for a seed.

Consumes ``VoteBenchOptions``; produces a ``VoteBenchReport`` (``Round``s per seed), its table and
its JSON form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from detector.fusion.candidates import find_candidates
from detector.fusion.score import align, fuse
from detector.params import Settings
from detector.records import SignalTrack
from storage.tuning import TuningOptions, VotedClip, effective, propose

HOP_S = 0.5
FEATURES = {"chat": ("rate", "hype", "emote", "unique", "ranker"), "audio": ("rms", "flux", "voice")}
KINDS: dict[str, dict[str, float]] = {
    # chat.ranker: the learned chat score, which reads hype chat most of all (detector.signals.ranker)
    "loud": {"audio.rms": 5.0, "audio.flux": 3.0, "chat.rate": 2.0, "chat.emote": 3.0, "chat.ranker": 1.5},
    "hype": {"chat.hype": 6.0, "chat.rate": 2.0, "chat.unique": 1.0, "chat.ranker": 9.0},
    "emote": {"chat.emote": 5.0, "chat.rate": 3.0, "audio.rms": 1.5, "chat.ranker": 1.5},
    "talk": {"audio.voice": 5.0, "audio.rms": 1.5, "chat.hype": 2.0, "chat.ranker": 2.5},
}
TASTE = {"audio.rms": 1.0, "chat.emote": 1.0, "chat.hype": -0.6, "chat.ranker": -0.3, "audio.voice": -0.3}
"""The community's hidden taste: a linear score over the event's true strengths."""
PRESENT = 0.7
"""Chance that a voter sees a posted clip at all."""
AGREE = 0.85
"""Chance that a voter who sees a clip votes 👍 on a liked clip (and 👎 on a disliked one)."""


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
    """Precision@K of the clips posted with the tuned parameters in force (0..1)."""
    default_precision: float
    """Precision@K of the defaults on the same VOD (0..1)."""
    params: dict[str, float]
    """The tuned parameters in force this round ({} = the defaults)."""


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
    """``rounds`` rounds of post → vote → re-tune for one community; round 1 runs on the defaults."""
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
            present = rng.random(voters) < PRESENT
            ups = rng.random(voters) < (AGREE if liked else 1.0 - AGREE)
            up = int((present & ups).sum())
            ballots = tuple((f"voter{i}", 1 if ups[i] else -1) for i in range(voters) if present[i])
            voted.append(VotedClip(signals=signals, up=up, down=int(present.sum()) - up, voters=ballots))
        proposal = propose(voted, params, options)
        if proposal is not None and proposal.changed:
            params = proposal.params
    return results


@dataclass(frozen=True, slots=True)
class VoteBenchOptions:
    rounds: int = 6
    """VODs (rounds of post → vote → re-tune) per community."""
    seeds: tuple[int, ...] = (1, 7, 23)
    """One simulated community per seed."""
    k: int = 8
    """Clips posted per round (the K of precision@K)."""
    voters: int = 12
    """Members of each community."""


@dataclass(frozen=True, slots=True)
class VoteBenchReport:
    options: VoteBenchOptions
    runs: dict[int, list[Round]] = field(default_factory=dict)
    """Seed → its rounds, in order."""

    def means(self) -> list[tuple[float, float]]:
        """Per round: (tuned, defaults) precision@K averaged over the seeds."""
        n = len(self.runs)
        return [(sum(r[i].precision for r in self.runs.values()) / n,
                 sum(r[i].default_precision for r in self.runs.values()) / n)
                for i in range(self.options.rounds)]


def run_vote_bench(options: VoteBenchOptions, say: Callable[[str], None] = lambda _m: None) -> VoteBenchReport:
    runs: dict[int, list[Round]] = {}
    for seed in options.seeds:
        rounds = simulate(rounds=options.rounds, k=options.k, voters=options.voters, seed=seed)
        runs[seed] = rounds
        say(f"seed {seed}: precision@{options.k} {rounds[0].precision:.2f} → {rounds[-1].precision:.2f} "
            f"(defaults {rounds[-1].default_precision:.2f})")
    return VoteBenchReport(options, runs)


def _pair(tuned: float, default: float) -> str:
    return f"{tuned:.2f} / {default:.2f}"


def format_table(report: VoteBenchReport) -> str:
    o = report.options
    width = 15
    lines = [
        (f"highlights bench votes: {len(o.seeds)} simulated communities (seeds {', '.join(map(str, o.seeds))}) × "
         f"{o.rounds} rounds; {o.k} clips posted per round, {o.voters} voters ({PRESENT:.0%} see each clip)"),
        f"precision@{o.k} per round, tuned / defaults (tuned: refit from every vote so far; round 1 is the defaults)",
        "",
        "round " + "".join(f"{f'seed {s}':>{width}}" for s in o.seeds) + f"{'mean':>{width}}",
    ]
    means = report.means()
    for i, (tuned, default) in enumerate(means):
        cells = "".join(f"{_pair(r[i].precision, r[i].default_precision):>{width}}" for r in report.runs.values())
        lines.append(f"{i + 1:<6}{cells}{_pair(tuned, default):>{width}}")
    lines.append("")
    (t0, d0), (t1, d1) = means[0], means[-1]
    lines.append(f"first round mean: tuned {t0:.2f}, defaults {d0:.2f}")
    lines.append(f"last round mean:  tuned {t1:.2f}, defaults {d1:.2f} ({t1 - d1:+.2f})")
    return "\n".join(lines)


def to_json(report: VoteBenchReport) -> dict[str, Any]:
    means = report.means()
    return {
        "options": {**asdict(report.options), "seeds": list(report.options.seeds)},
        "seeds": {str(seed): [{"round": i + 1, "tuned": r.precision, "defaults": r.default_precision,
                               "params": r.params} for i, r in enumerate(rounds)]
                  for seed, rounds in report.runs.items()},
        "mean": [{"round": i + 1, "tuned": t, "defaults": d} for i, (t, d) in enumerate(means)],
        "first": {"tuned": means[0][0], "defaults": means[0][1]},
        "last": {"tuned": means[-1][0], "defaults": means[-1][1]},
    }

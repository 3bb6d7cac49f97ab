"""Fusion on hand-made tracks: alignment by lag, weighting, peaks, suppression, boundaries, lag estimation."""

from __future__ import annotations

import numpy as np

from detector.fusion.candidates import boundaries, find_candidates, local_maxima, pick_peaks
from detector.fusion.lag import estimate_chat_lag
from detector.fusion.score import align, contributions_at, fuse
from detector.params import Settings
from detector.records import SignalTrack

HOP = 0.5


def bump(n: int, centre_s: float, height: float = 5.0, width_s: float = 3.0) -> np.ndarray:
    t = np.arange(n) * HOP
    return (height * np.exp(-0.5 * ((t - centre_s) / width_s) ** 2)).astype(np.float32)


def test_local_maxima_handles_plateaus_and_edges() -> None:
    x = np.array([3, 1, 2, 2, 1, 0, 5], dtype=np.float32)
    assert local_maxima(x).tolist() == [0, 2, 6]


def test_pick_peaks_suppresses_neighbours_and_respects_threshold() -> None:
    n = 2000
    x = bump(n, 100) + bump(n, 120, 4.0) + bump(n, 300, 3.0) + bump(n, 600, 0.5)
    peaks = pick_peaks(x, HOP, threshold=1.0, min_gap_s=60, top_k=10)
    assert [p * HOP for p in peaks] == [100.0, 300.0]
    assert pick_peaks(x, HOP, threshold=1.0, min_gap_s=10, top_k=1) == [200]


def test_boundaries_hold_min_max_and_the_vod() -> None:
    s = Settings()
    x = bump(400, 100, width_s=40.0)  # a very wide hump would make a long clip
    start, end = boundaries(x, HOP, 200, s, duration_s=200)
    assert end - start <= s["max_len_s"] + 1e-6
    assert start <= 100 - s["pre_roll_s"] and end >= 100 + s["post_roll_s"]
    x = bump(400, 1, width_s=0.5)
    start, end = boundaries(x, HOP, 2, s, duration_s=200)
    assert start == 0.0 and end - start >= s["min_len_s"]
    start, end = boundaries(bump(400, 199), HOP, 398, s, duration_s=200)
    assert end == 200 and end - start >= s["min_len_s"]


def test_chat_is_shifted_back_by_the_lag_and_weighted() -> None:
    n = 1200
    chat = SignalTrack("chat", HOP, bump(n, 320), features={"hype": bump(n, 320)})
    audio = SignalTrack("audio", HOP, bump(n, 300), features={"rms": bump(n, 300)})
    s = Settings({"w_audio_flux": 0, "w_audio_voice": 0})
    aligned = align({"chat": chat, "audio": audio}, n, {"chat": 20.0}, s, HOP)
    fused = fuse(aligned)
    assert int(np.argmax(fused.values)) * HOP == 300.0
    shares = contributions_at(aligned, 600)
    assert set(shares) == {"chat.hype", "audio.rms"}
    assert abs(sum(shares.values()) - fused.values[600]) < 1e-4
    spans = find_candidates(fused, s, duration_s=n * HOP)
    assert spans[0].peak_s == 300.0


def test_lag_estimate_recovers_a_planted_lag_and_falls_back_to_the_prior() -> None:
    rng = np.random.default_rng(0)
    n = 2400
    events = [150, 420, 700, 950]
    audio = sum(bump(n, e, 6.0, 1.5) for e in events) + rng.normal(0, 0.3, n).astype(np.float32)
    chat = sum(bump(n, e + 23, 6.0, 4.0) for e in events) + rng.normal(0, 0.3, n).astype(np.float32)
    s = Settings()
    est = estimate_chat_lag(SignalTrack("chat", HOP, chat), SignalTrack("audio", HOP, audio), s)
    assert est.source == "estimated" and abs(est.lag_s - 23) <= 2
    noise = SignalTrack("audio", HOP, rng.normal(0, 1, n).astype(np.float32))
    est = estimate_chat_lag(SignalTrack("chat", HOP, chat), noise, s)
    assert est.source == "prior" and est.lag_s == s["chat_lag_prior_s"]
    assert estimate_chat_lag(SignalTrack("chat", HOP, chat), None, s).lag_s == s["chat_lag_prior_s"]

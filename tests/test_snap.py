"""Snapping clip edges to scene cuts and silences."""

from __future__ import annotations

import re

import numpy as np
import pytest

from detector.fusion.snap import (
    PEAK_MARGIN_S,
    SPEECH_LEAD_S,
    edge_windows,
    silences_from_audio,
    silences_from_words,
    snap_boundaries,
)
from detector.params import Settings
from detector.records import Candidate, Explanation, MediaInfo, Word
from detector.signals.scenes import exact_cuts
from detector.sources.media import probe
from detector.synthetic.cuts import CutVideo, Shot, make_cut_video

NO_SILENCE = np.zeros((0, 2))
SILENCES = ((6.0, 6.5), (9.0, 9.1), (15.2, 15.7), (21.0, 21.4))
"""Planted in the sound of ``talk``; the 0.1 s one is shorter than ``snap_silence_min_s``."""


def cand(start: float, end: float, peak: float, rank: int = 1) -> Candidate:
    return Candidate(rank=rank, start_s=start, end_s=end, peak_s=peak, score=1.0, signals={},
                     explanation=Explanation(summary="audio z 3.0", contributions={"audio": 1.0}))


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> CutVideo:
    """25 s, one cut at 18.0 s, speech-like sound with the planted ``SILENCES``."""
    shots = (Shot("blocks", 18.0, (170, 40, 40)), Shot("plaid", 7.0, (40, 80, 220)))
    return make_cut_video(tmp_path_factory.mktemp("snap"), shots=shots, silences=SILENCES, name="talk")


def test_start_and_end_move_to_nearby_cuts() -> None:
    (c,) = snap_boundaries([cand(10.0, 30.0, 20.0)], [8.8, 31.5], NO_SILENCE, Settings())
    assert (c.start_s, c.end_s) == (8.8, 31.5)
    assert "start snapped \u22121.2 s to a cut" in c.explanation.summary
    assert "end snapped +1.5 s to a cut" in c.explanation.summary
    assert c.explanation.summary.startswith("audio z 3.0; ")


def test_far_cuts_are_ignored() -> None:
    settings = Settings({"snap_max_s": 2.0})
    original = cand(10.0, 30.0, 20.0)
    (c,) = snap_boundaries([original], [7.5, 32.6, 0.0], NO_SILENCE, settings)
    assert c == original


def test_nearest_allowed_cut_wins() -> None:
    (c,) = snap_boundaries([cand(10.0, 30.0, 20.0)], [7.5, 9.4, 10.9, 29.0, 30.2], NO_SILENCE, Settings())
    assert (c.start_s, c.end_s) == (9.4, 30.2)


def test_length_stays_within_min_and_max() -> None:
    settings = Settings({"min_len_s": 12.0, "max_len_s": 20.0})
    # Moving the start to 12.5 and the end to 23.5 would leave 11 s: at most one edge may move.
    (c,) = snap_boundaries([cand(11.0, 24.0, 18.0)], [12.5, 23.5], NO_SILENCE, settings)
    assert 12.0 <= c.duration_s <= 20.0
    assert (c.start_s, c.end_s) in ((12.5, 24.0), (11.0, 23.5))
    # Moving both out would give 22 s > max_len: only one moves.
    (c,) = snap_boundaries([cand(11.0, 30.0, 18.0)], [10.0, 32.0], NO_SILENCE, settings)
    assert c.duration_s <= 20.0 and (c.start_s, c.end_s) != (11.0, 30.0)


def test_peak_stays_inside() -> None:
    # The only cut near the start lies past the peak; the only one near the end before it.
    (c,) = snap_boundaries([cand(10.0, 14.0, 11.0)], [11.5, 10.5], NO_SILENCE, Settings({"min_len_s": 2.0}))
    assert c.start_s <= c.peak_s - PEAK_MARGIN_S and c.end_s >= c.peak_s + PEAK_MARGIN_S
    assert (c.start_s, c.end_s) == (10.0, 14.0)


def test_a_cut_beats_a_nearer_silence() -> None:
    (c,) = snap_boundaries([cand(10.0, 30.0, 20.0)], [8.0], np.array([[9.6, 10.2]]), Settings())
    assert c.start_s == 8.0 and "to a cut" in c.explanation.summary


def test_silence_edges_land_inside_the_gap_next_to_the_speech() -> None:
    (c,) = snap_boundaries([cand(10.0, 30.0, 20.0)], [], np.array([[8.0, 8.95], [31.05, 32.0]]), Settings())
    assert c.start_s == pytest.approx(8.95 - SPEECH_LEAD_S)
    assert c.end_s == pytest.approx(31.05 + SPEECH_LEAD_S)
    assert "start snapped \u22121.2 s to a silence, end snapped +1.2 s to a silence" in c.explanation.summary


def test_edge_windows_cover_each_edge() -> None:
    windows = edge_windows([cand(10.0, 30.0, 20.0)], Settings({"snap_max_s": 2.0}))
    assert windows == [(7.0, 13.0), (27.0, 33.0)]


def test_silences_from_words() -> None:
    words = [Word(1.0, 1.4, "so"), Word(1.5, 2.0, "what"), Word(2.6, 3.0, "now"), Word(8.0, 8.3, "later")]
    gaps = silences_from_words(words, [(0.0, 5.0), (7.0, 10.0)], Settings())
    assert gaps.tolist() == [[2.0, 2.6]]


def test_silence_snapping_on_a_real_audio_file(talk: CutVideo) -> None:
    media = probe(talk.path)
    settings = Settings({"min_len_s": 5.0})
    clip = cand(5.0, 16.5, 11.0)
    silences = silences_from_audio(media, edge_windows([clip], settings), settings)
    # The windows hold the 6.0 and 15.2 gaps (the 9.0 one is outside them and too short anyway).
    assert len(silences) == 2
    for (a, b), (pa, pb) in zip(silences, (SILENCES[0], SILENCES[2])):
        assert a == pytest.approx(pa, abs=0.05) and b == pytest.approx(pb, abs=0.05)
    (c,) = snap_boundaries([clip], [], silences, settings)
    assert 6.0 < c.start_s < 6.5 and c.start_s == pytest.approx(6.5 - SPEECH_LEAD_S, abs=0.05)
    assert 15.2 < c.end_s < 15.7 and c.end_s == pytest.approx(15.2 + SPEECH_LEAD_S, abs=0.05)
    everywhere = silences_from_audio(media, [(0.0, talk.duration_s)], settings)
    assert len(everywhere) == 3  # 6.0, 15.2, 21.0; never the 0.1 s pause


def test_cuts_and_silences_together_on_a_real_file(talk: CutVideo) -> None:
    media = probe(talk.path)
    settings = Settings({"min_len_s": 5.0})
    clip = cand(5.0, 19.0, 11.0)
    windows = edge_windows([clip], settings)
    cuts = exact_cuts(media, windows, settings)
    assert cuts.tolist() == [pytest.approx(18.0, abs=talk.frame_s)]
    (c,) = snap_boundaries([clip], cuts, silences_from_audio(media, windows, settings), settings,
                           duration_s=media.duration_s)
    assert c.end_s == pytest.approx(18.0, abs=talk.frame_s) and "end snapped" in c.explanation.summary
    assert 6.0 < c.start_s < 6.5 and re.search(r"start snapped \+1\.[34] s to a silence", c.explanation.summary)


def test_no_audio_means_no_silences(talk: CutVideo) -> None:
    media = probe(talk.path)
    silent = MediaInfo(media.path, media.duration_s, False, True, width=media.width, height=media.height)
    assert silences_from_audio(silent, [(0.0, 10.0)], Settings()).shape == (0, 2)

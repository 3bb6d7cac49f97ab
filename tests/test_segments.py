"""Gameplay / talking / menu segments on a synthetic VOD with known stretches, and fusion routed by them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector.errors import Cancelled
from detector.fusion.score import align, contributions_at, fuse, weights_at
from detector.params import Settings
from detector.records import MediaInfo, SignalTrack
from detector.signals.segment_features import SegmentFeatures, with_vision
from detector.signals.segments import (
    LABELS,
    Segment,
    Segments,
    label_segments,
    segment_vod,
    uncertain_times,
    viterbi_labels,
)
from detector.sources.media import probe
from detector.synthetic.segments import SegmentedVod, make_segmented_vod

SPEECH = Path(__file__).parent / "data" / "speech" / "exclaim_en.wav"
SHORT_PLAN = (("gameplay", 30.0), ("talking", 30.0), ("menu", 24.0))


@pytest.fixture(scope="module")
def vod(tmp_path_factory: pytest.TempPathFactory) -> SegmentedVod:
    """230 s, seven stretches: gameplay / talking / menu / gameplay (facecam, commentary) / ..."""
    return make_segmented_vod(tmp_path_factory.mktemp("segments"), speech_path=SPEECH, name="seg")


PROGRESS: list[tuple[str, float, float | None]] = []


@pytest.fixture(scope="module")
def segments(vod: SegmentedVod) -> Segments:
    return segment_vod(probe(vod.path), Settings(), progress=lambda stage, done, total: PROGRESS.append((stage, done, total)))


def accuracy(segments: Segments, vod: SegmentedVod) -> float:
    seconds = np.arange(int(vod.duration_s)) + 0.5
    return float(np.mean([segments.label_at(t) == vod.label_at(t) for t in seconds]))


def test_labels_match_the_known_stretches(vod: SegmentedVod, segments: Segments) -> None:
    assert len(vod.truth) >= 6
    acc = accuracy(segments, vod)
    print(f"\nsegment accuracy: {100 * acc:.1f} % of {int(vod.duration_s)} s labelled correctly; "
          f"spans {[(s.start_s, s.end_s, s.label) for s in segments.spans]}")
    assert acc >= 0.90
    assert segments.reasons == () and segments.meta["model"] == "video+audio"
    assert segments.meta["features"]["speech_method"] == "silero-vad"
    assert {s.label for s in segments.spans} >= {"gameplay", "talking", "menu"}
    # spans tile the VOD, hold at least segment_min_s each, and never repeat a label back to back
    assert segments.spans[0].start_s == 0.0 and segments.spans[-1].end_s == pytest.approx(vod.duration_s)
    min_s = Settings()["segment_min_s"]
    for a, b in zip(segments.spans, segments.spans[1:]):
        assert a.end_s == b.start_s and a.label != b.label
    assert all(s.end_s - s.start_s >= min_s for s in segments.spans)
    assert all(0.0 <= s.confidence <= 1.0 for s in segments.spans)
    stages = {stage for stage, _, _ in PROGRESS}
    assert stages == {"segments: pictures", "segments: sound"}
    assert max(done for stage, done, _ in PROGRESS if stage == "segments: sound") == pytest.approx(vod.duration_s)


def test_track_on_the_fusion_timebase(vod: SegmentedVod, segments: Segments) -> None:
    n_bins = int(vod.duration_s / 0.5)
    track = segments.to_track(n_bins, 0.5)
    assert isinstance(track, SignalTrack) and len(track.values) == n_bins
    for t in (10.0, 60.0, 90.0, 120.0, 160.0, 190.0):
        assert LABELS[int(track.values[track.index_at(t)])] == segments.label_at(t)
    assert sum(track.features[label].sum() for label in LABELS) == n_bins
    # the pipeline may keep it among the tracks: fusion has no weight for it and ignores it
    aligned = align({"segments": track}, n_bins, {}, Settings(), 0.5)
    assert aligned.names == ()


def test_viterbi_holds_each_label_for_the_minimum_and_follows_strong_evidence() -> None:
    rng = np.random.default_rng(3)
    n, k = 300, 4
    truth = np.repeat([0, 1, 2, 0, 1], 60)
    logp = np.log(np.full((n, k), 0.1))
    logp[np.arange(n), truth] = np.log(0.7)
    flips = rng.random(n) < 0.3  # 30 % of steps point at a random wrong label
    logp[flips] = np.log(0.1)
    logp[np.flatnonzero(flips), rng.integers(0, k, flips.sum())] = np.log(0.7)
    codes = viterbi_labels(logp, min_steps=10)
    runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, codes, -1]) != 0))
    assert runs.min() >= 10
    assert np.mean(codes == truth) > 0.9
    assert viterbi_labels(logp[:5], min_steps=10).tolist() == [int(np.argmax(logp[:5].sum(0)))] * 5


def test_vision_probabilities_steer_ambiguous_steps() -> None:
    n, step = 60, 2.0
    flat = {"motion": np.full(n, 8.0, np.float32), "detail": np.full(n, 0.08, np.float32),
            "cuts": np.zeros(n, np.float32), "face": np.zeros(n, np.float32),
            "speech": np.full(n, 0.3, np.float32), "loudness_db": np.full(n, -30.0, np.float32)}
    without = label_segments(SegmentFeatures(step, n * step, flat), Settings())
    assert [s.label for s in without.spans] == ["gameplay"]
    # the vision pass samples sparsely (every 10 s here): label -> (times, probabilities)
    times = np.arange(5.0, 120.0, 10.0)
    vision = {"talking": (times, (times > 60).astype(float)), "gameplay": (times, (times < 60).astype(float)),
              "a prompt the segmenter does not know": (times, np.ones(len(times)))}
    features = with_vision(SegmentFeatures(step, n * step, flat), vision, LABELS)
    assert sorted(features.vision) == ["gameplay", "talking"]
    segs = label_segments(features, Settings())
    assert [s.label for s in segs.spans] == ["gameplay", "talking"]
    assert abs(segs.spans[1].start_s - 60.0) <= 4.0
    assert segs.meta["vision_labels"] == ["gameplay", "talking"]


def test_vision_looks_only_where_the_cheap_features_are_in_doubt(vod: SegmentedVod) -> None:
    n, step = 150, 2.0  # 300 s: clear gameplay, then 100 s the cheap features cannot decide, then clear talking
    motion = np.r_[np.full(50, 30.0), np.full(50, 8.0), np.full(50, 1.0)].astype(np.float32)
    face = np.r_[np.zeros(50), np.full(50, 0.02), np.full(50, 0.08)].astype(np.float32)
    speech = np.r_[np.zeros(50), np.full(50, 0.4), np.ones(50)].astype(np.float32)
    features = SegmentFeatures(step, n * step, {"motion": motion, "detail": np.full(n, 0.1, np.float32),
                                                "cuts": np.zeros(n, np.float32), "face": face, "speech": speech,
                                                "loudness_db": np.full(n, -30.0, np.float32)})
    times = uncertain_times(features, 30.0)
    assert len(times) >= 2 and all(100.0 <= t <= 200.0 for t in times)  # only the doubtful middle
    assert np.all(np.diff(times) > 0) and len(np.unique(times // 30.0)) == len(times)  # one per 30 s at most
    # on the synthetic VOD, the segmenter asks for far fewer frames than one every 30 s, and keeps its accuracy
    asked: list[np.ndarray] = []

    def look(at: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        asked.append(at)
        return {label: (at, np.full(len(at), 1.0 / 3)) for label in ("gameplay", "talking", "menu")}

    segs = segment_vod(probe(vod.path), Settings(), vision_at=look)
    assert len(asked) <= 1 and segs.meta["vision_frames"] == sum(len(a) for a in asked)
    assert segs.meta["vision_frames"] < vod.duration_s / Settings()["vision_sparse_every_s"]
    assert accuracy(segs, vod) >= 0.90


def _tracks(n: int) -> dict[str, SignalTrack]:
    def const(v: float) -> np.ndarray:
        return np.full(n, v, np.float32)

    return {"chat": SignalTrack("chat", 0.5, const(1.0), features={"ranker": const(1.0)}),
            "audio": SignalTrack("audio", 0.5, const(3.0), features={"rms": const(3.0)}),
            "transcript": SignalTrack("transcript", 0.5, const(2.0), features={"said": const(2.0)}),
            "vision": SignalTrack("vision", 0.5, const(4.0), features={"action": const(4.0)})}


def test_routing_changes_the_fused_score_as_each_label_says() -> None:
    s = Settings({"w_audio_flux": 0, "w_audio_voice": 0})
    n = 400  # 200 s: 50 s of each label
    segs = Segments(tuple(Segment(a, a + 50.0, label, 1.0) for a, label in
                          zip((0.0, 50.0, 100.0, 150.0), ("gameplay", "talking", "menu", "other"))), 2.0, 200.0)
    tracks = _tracks(n)
    plain_aligned = align(tracks, n, {}, s, 0.5)
    routed_aligned = align(tracks, n, {}, s, 0.5, segments=segs)
    plain, routed = fuse(plain_aligned), fuse(routed_aligned)
    values = {"chat": 1.0, "audio": 3.0, "transcript": 2.0, "vision": 4.0}
    base = {"chat": s["w_chat_ranker"], "audio": s["w_audio_rms"], "transcript": s["w_transcript_said"],
            "vision": s["w_vision_action"]}

    def expected(label: str) -> float:
        w = {t: base[t] * s[f"seg_{label}_{t}"] for t in base}
        return sum(w[t] * values[t] for t in w) / sum(w.values())

    at = {"gameplay": 40, "talking": 140, "menu": 240, "other": 340}
    assert routed.values[at["gameplay"]] == pytest.approx(expected("gameplay"), rel=1e-5)
    assert routed.values[at["talking"]] == pytest.approx(expected("talking"), rel=1e-5)
    assert routed.values[at["menu"]] == pytest.approx(plain.values[at["menu"]] * s["seg_menu_scale"], rel=1e-5)
    assert routed.values[at["other"]] == pytest.approx(plain.values[at["other"]], rel=1e-6)
    # talking leans on what is said (transcript, weight up) and less on the picture (vision, down)
    assert routed.values[at["talking"]] < plain.values[at["talking"]] < routed.values[at["gameplay"]]
    assert routed.meta["routed"] and routed.meta["segment_bins"] == {label: 100 for label in LABELS}
    for label, i in at.items():
        shares = contributions_at(routed_aligned, i)
        assert sum(shares.values()) == pytest.approx(float(routed.values[i]), rel=1e-5)
        weights = weights_at(routed_aligned, i)
        if label in ("gameplay", "talking"):
            assert weights["transcript.said"] == pytest.approx(base["transcript"] * s[f"seg_{label}_transcript"])
            assert weights["chat.ranker"] == pytest.approx(base["chat"] * s[f"seg_{label}_chat"])
            assert weights["audio.rms"] == pytest.approx(base["audio"] * s[f"seg_{label}_audio"])
            assert weights["vision.action"] == pytest.approx(base["vision"] * s[f"seg_{label}_vision"])
        else:
            assert weights == weights_at(plain_aligned, i)
    # without segments nothing changes: no per-bin weights, the same score as before
    assert plain_aligned.bin_weights is None and "routed" not in plain.meta
    assert np.allclose(plain.values, (plain_aligned.weights @ plain_aligned.matrix) / plain_aligned.weights.sum())


def test_audio_only_and_video_only_media_degrade_with_a_reason(tmp_path: Path) -> None:
    for kwargs, missing, model in (({"video": False}, "video", "audio"), ({"audio": False}, "audio", "video")):
        v = make_segmented_vod(tmp_path, SHORT_PLAN, speech_path=SPEECH, name=f"no_{missing}", **kwargs)
        segs = segment_vod(probe(v.path), Settings())
        assert segs.meta["model"] == model
        assert any(f"no {missing} features" in r for r in segs.reasons)
        assert accuracy(segs, v) >= 0.75, segs.spans
    nothing = MediaInfo(path="nothing.mp4", duration_s=60.0, has_audio=False, has_video=False)
    segs = segment_vod(nothing, Settings())
    assert [s.label for s in segs.spans] == ["other"] and segs.spans[0].end_s == 60.0
    assert len(segs.reasons) == 3 and "'other'" in segs.reasons[-1]


def test_abort_stops_the_feature_pass(vod: SegmentedVod) -> None:
    with pytest.raises(Cancelled):
        segment_vod(probe(vod.path), Settings(), abort=lambda: True)


def test_sound_fed_from_another_decode_in_odd_chunks_matches_its_own_pass(vod: SegmentedVod,
                                                                          segments: Segments) -> None:
    """The pipeline feeds the segmenter's sound features from the audio signal's decode; fed in chunks
    whose edges are off the steps they equal the segmenter's own pass, and the segmenter then decodes
    no sound itself."""
    from detector.signals.segment_sound import RATE, SoundSteps, audio_features
    from detector.sources.audio_stream import iter_audio_chunks

    media = probe(vod.path)
    step = Settings()["segment_step_s"]
    own, _meta = audio_features(media, step, media.duration_s)
    steps = SoundSteps(step, media.duration_s)
    for chunk in iter_audio_chunks(media.path, rate=RATE, chunk_s=7.3):  # chunk edges off the 2 s steps
        steps.feed(chunk)
    shared, meta = steps.result()
    assert meta["audio_s"] == pytest.approx(media.duration_s, abs=0.1)
    np.testing.assert_allclose(shared["loudness_db"], own["loudness_db"], atol=0.05)
    # the VAD scores fixed 30 s blocks whatever the chunks were: the same decisions
    np.testing.assert_allclose(shared["speech"], own["speech"], atol=1e-6)
    stages: list[str] = []
    fed = segment_vod(media, Settings(), sound=(shared, meta), progress=lambda s, d, t: stages.append(s))
    assert "segments: sound" not in stages and fed.meta["features"]["sound_shared"] is True
    assert accuracy(fed, vod) >= 0.90
    assert [s.label for s in fed.spans] == [s.label for s in segments.spans]

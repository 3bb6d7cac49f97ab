"""Transcript stage, transformers backend: Whisper through torch, for GPUs CTranslate2 cannot use (ROCm).

Consumes 16 kHz mono samples and a loaded ``WhisperForConditionalGeneration`` + ``WhisperProcessor``
(``detector.models.whisper_load.load_hf_whisper``: local files only, fp16 on the GPU); produces the same records as
the faster-whisper path — ``Word`` (start, end, text; seconds from the samples' start) and the
language — so the transcript signal does not care which backend ran. Speech is found first with
faster-whisper's Silero VAD when it is installed (else the audio is taken whole) and grouped into
windows of at most 30 s; windows are decoded in batches (halved on GPU out-of-memory) with the shared
:class:`~detector.signals.transcript.DecodeOptions` (temperature fallback, no-speech and
compression-ratio checks); word times come from the cross-attention alignment
(``return_token_timestamps``, the model's ``alignment_heads``), spread evenly over the window when the
model has none.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from detector.errors import Cancelled
from detector.models.whisper_decode import DecodeOptions
from detector.records import AbortCheck, Word

log = logging.getLogger(__name__)

RATE = 16000
WINDOW_S = 30.0
"""Whisper's input length: speech is grouped into windows no longer than this."""
GPU_BATCH = 8
CPU_BATCH = 2
UNDETERMINED = "und"
"""Language reported for a multilingual model when nothing was said (ISO 639-2 'undetermined')."""


def speech_regions(samples: np.ndarray, decode: DecodeOptions) -> list[tuple[int, int]]:
    """Sample ranges holding speech (Silero VAD from faster-whisper), or the whole audio without it."""
    if samples.size == 0:
        return []
    try:
        from faster_whisper.vad import VadOptions, get_speech_timestamps
    except ImportError:
        return [(0, int(samples.size))]
    opts = VadOptions(**decode.vad_parameters(max_speech_s=WINDOW_S - 1.0))
    return [(int(r["start"]), int(r["end"])) for r in get_speech_timestamps(samples, opts)]


def group_windows(regions: Sequence[tuple[int, int]], window_s: float = WINDOW_S) -> list[tuple[int, int]]:
    """Consecutive regions joined while the joined span stays within ``window_s``; longer regions cut."""
    limit = int(window_s * RATE)
    out: list[tuple[int, int]] = []
    for start, end in regions:
        if out and end - out[-1][0] <= limit:
            out[-1] = (out[-1][0], end)
            continue
        while end - start > limit:
            out.append((start, start + limit))
            start += limit
        if end > start:
            out.append((start, end))
    return out


def compression_ratio(text: str) -> float:
    """Bytes over zlib-compressed bytes: loops ("the the the …") compress far better than speech."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def transcribe_hf(model: Any, processor: Any, samples: np.ndarray, *, language: str | None = None,
                  beam_size: int = 1, decode: DecodeOptions | None = None, abort: AbortCheck | None = None,
                  batch_size: int | None = None) -> tuple[list[Word], str]:
    """Words of ``samples`` (times in seconds from its start, sorted) and the spoken language."""
    import torch

    decode = decode or DecodeOptions()
    gen_config = model.generation_config
    multilingual = bool(getattr(gen_config, "is_multilingual", False))
    windows = group_windows(speech_regions(samples, decode))
    size = batch_size or (GPU_BATCH if model.device.type != "cpu" else CPU_BATCH)
    words: list[Word] = []
    languages: list[str] = []
    i = 0
    while i < len(windows):
        if abort is not None and abort():
            raise Cancelled("Transcription was cancelled.")
        batch = windows[i:i + size]
        try:
            decoded = _decode_batch(model, processor, samples, batch, language, beam_size, decode, multilingual)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            if size > 1:
                size //= 2
                log.warning("GPU out of memory transcribing: retrying with batches of %d windows", size)
                continue
            from detector.errors import ModelMemoryError

            raise ModelMemoryError("Whisper ran out of GPU memory on a single window") from None
        for window_words, lang in decoded:
            words.extend(window_words)
            if lang:
                languages.append(lang)
        i += len(batch)
    if languages:
        spoken = max(set(languages), key=languages.count)
    else:
        spoken = language or ("en" if not multilingual else UNDETERMINED)
    return words, spoken


def _decode_batch(model: Any, processor: Any, samples: np.ndarray, batch: Sequence[tuple[int, int]],
                  language: str | None, beam_size: int, decode: DecodeOptions,
                  multilingual: bool) -> list[tuple[list[Word], str | None]]:
    import torch

    gen_config = model.generation_config
    timed = bool(getattr(gen_config, "alignment_heads", None))
    audio = [samples[a:b] for a, b in batch]
    feats = processor.feature_extractor(audio, sampling_rate=RATE, return_tensors="pt", return_attention_mask=True)
    kwargs: dict[str, Any] = {
        "attention_mask": feats.attention_mask.to(model.device), "return_dict_in_generate": True,
        "return_token_timestamps": timed, "num_beams": beam_size,
        # Whisper's generate counts ``max_length`` after the prompt, like ``max_new_tokens`` (which
        # would make transformers warn on every call, next to the model's own ``max_length``)
        "max_length": decode.max_new_tokens,
        "temperature": tuple(decode.temperatures), "compression_ratio_threshold": decode.compression_ratio_threshold,
        "logprob_threshold": decode.log_prob_threshold, "no_speech_threshold": decode.no_speech_threshold,
        "condition_on_prev_tokens": False}
    if multilingual:
        kwargs["task"] = "transcribe"
        if language:
            kwargs["language"] = language
    with torch.inference_mode(), _quiet("transformers.generation.utils"):
        out = model.generate(feats.input_features.to(model.device, model.dtype), **kwargs)
    sequences = out["sequences"].cpu()
    stamps = out["token_timestamps"].float().cpu() if timed and "token_timestamps" in out else None
    if stamps is not None and stamps.shape != sequences.shape:
        stamps = None
    id_to_lang = {v: k.strip("<|>") for k, v in (getattr(gen_config, "lang_to_id", None) or {}).items()}
    results = []
    for row, (a, b) in enumerate(batch):
        ids = [int(t) for t in sequences[row]]
        lang = next((id_to_lang[t] for t in ids if t in id_to_lang), None) if multilingual else "en"
        times = [float(t) for t in stamps[row]] if stamps is not None else None
        window_words = _words(processor.tokenizer, ids, times, int(gen_config.eos_token_id), (b - a) / RATE, decode)
        offset = a / RATE
        results.append(([Word(round(w.start_s + offset, 3), round(w.end_s + offset, 3), w.text)
                         for w in window_words], lang))
    return results


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence one logger below ERROR for a block: Whisper's own ``generate`` passes a generation config
    together with keyword arguments, which transformers warns about (a warning the caller cannot fix)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _words(tokenizer: Any, ids: Sequence[int], times: Sequence[float] | None, eos: int, length_s: float,
           decode: DecodeOptions) -> list[Word]:
    """Words from one window's token ids (text tokens are those before ``<|endoftext|>`` in the vocabulary);
    a word starts at a token with a leading space and ends where the next token starts."""
    text_at = [k for k, t in enumerate(ids) if t < eos]
    if not text_at:
        return []
    if decode.hallucinated(compression_ratio(tokenizer.decode([ids[k] for k in text_at])), 0.0, 0.0):
        log.debug("dropped a looping window (%d tokens)", len(text_at))
        return []
    groups: list[list[int]] = []
    for k in text_at:
        piece = tokenizer.convert_ids_to_tokens(ids[k]) or ""
        if not groups or piece.startswith("\u0120") or k != groups[-1][-1] + 1:
            groups.append([k])
        else:
            groups[-1].append(k)
    if times is None:  # no alignment heads: spread the words evenly over the window
        step = length_s / max(len(groups), 1)
        spans = [(n * step, (n + 1) * step) for n in range(len(groups))]
    else:
        spans = [(times[g[0]], times[g[-1] + 1] if g[-1] + 1 < len(times) else length_s) for g in groups]
    out: list[Word] = []
    last = 0.0
    for group, (start, end) in zip(groups, spans):
        text = tokenizer.decode([ids[k] for k in group]).strip()
        if not text:
            continue
        start = min(max(start, last), length_s)
        end = min(max(end, start), length_s)
        out.append(Word(round(start, 3), round(end, 3), text))
        last = start
    return out

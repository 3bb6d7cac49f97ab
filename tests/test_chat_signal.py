"""The chat signal, its lexicon and the learned lexicon."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detector.compute import ArrayBackend
from detector.errors import ConfigError
from detector.params import Settings
from detector.records import ChatLog, ChatMessage
from detector.signals.base import HOP_S, SignalContext, SignalInputs
from detector.signals.chat import ChatSignal, describe_window
from detector.signals.chat_learned import LabelledChat, TokenWeights, fit_token_weights, message_tokens
from detector.signals.chat_lexicon import classify


@pytest.mark.parametrize("text, reaction", [
    ("KEKW", True), ("PogChamp PogChamp", True), ("LULW that was so bad", True), ("CLIP IT", True),
    ("what????", True), ("hahahaha", True), ("ez clap", True), ("anyone know the song?", False),
    ("good morning chat", False), ("!drop", False),
])
def test_reactions_are_recognised(text: str, reaction: bool) -> None:
    assert classify(text)[0] is reaction


def test_explicit_emotes_count_once() -> None:
    assert classify("Kappa hello", ("Kappa",))[2] == 1
    assert classify("hello MyChannelEmote", ("MyChannelEmote",))[2] == 1


def chat_with_burst(burst_at: float, authors: bool = True) -> ChatLog:
    rng = np.random.default_rng(1)
    msgs = [ChatMessage(float(t), "just chatting here", f"u{i % 40}" if authors else None)
            for i, t in enumerate(np.sort(rng.uniform(0, 600, 900)))]
    msgs += [ChatMessage(burst_at + float(t), "KEKW LUL", f"b{i}" if authors else None)
             for i, t in enumerate(np.sort(rng.uniform(0, 8, 80)))]
    return ChatLog("test", "jsonl", tuple(sorted(msgs, key=lambda m: m.offset_s)))


@pytest.mark.parametrize("authors", [True, False])
def test_burst_is_the_top_of_the_chat_track(authors: bool) -> None:
    chat = chat_with_burst(300.0, authors)
    track = ChatSignal().compute(SignalInputs(duration_s=600, chat=chat),
                                 SignalContext(Settings(), ArrayBackend()))
    assert abs(int(np.argmax(track.values)) * HOP_S - 304) <= 2.0
    assert ("unique" in track.features) is authors
    assert track.values.max() > 5


def test_describe_window_samples_reactions() -> None:
    chat = chat_with_burst(300.0)
    top, sample = describe_window(chat, 298, 310)
    assert top[0][0] in ("KEKW", "LUL") and top[0][1] >= 70
    assert sample == ("b0: KEKW LUL",)  # duplicates of the same text are shown once


def labelled(chat: ChatLog, labels: list[tuple[float, float]]) -> LabelledChat:
    return LabelledChat(chat.messages, 0.0, 600.0, labels)


def test_learned_lexicon_weights_words_seen_in_labelled_moments(tmp_path: Path) -> None:
    chat = chat_with_burst(300.0)
    lex = fit_token_weights([labelled(chat, [(278.0, 292.0)])], lag_s=20.0, min_count=5)
    assert lex.weights["kekw"] > 1.0 > lex.weights["chatting"]
    scores = lex.score_messages(chat.messages)
    assert scores.max() > 1.0 and scores.min() >= 0.0
    path = tmp_path / "lex.json"
    lex.save(path)
    again = TokenWeights.load(path)
    assert again.weights == pytest.approx(lex.weights, abs=1e-4) and again.lag_s == 20.0
    track = ChatSignal().compute(SignalInputs(duration_s=600, chat=chat, chat_lexicon=again),
                                 SignalContext(Settings(), ArrayBackend()))
    assert abs(int(np.argmax(track.features["learned"])) * HOP_S - 304) <= 2.0


def test_tokens_collapse_punctuation_runs() -> None:
    assert message_tokens("WHAT???? no!!!") == {"what", "??", "no", "!!"}


@pytest.mark.parametrize("content, message", [
    ("not json", "not readable JSON"),
    (json.dumps({"weights": {}}), "is not a highlights-token-weights/1 file"),
    (json.dumps({"format": "highlights-token-weights/1", "weights": {"a": "x"}}), "finite number"),
    (json.dumps({"format": "highlights-token-weights/1", "weights": {}, "lag_s": -1}), "lag_s"),
])
def test_bad_lexicon_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "lex.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        TokenWeights.load(path)


def test_fitting_needs_labels_inside_and_outside() -> None:
    chat = chat_with_burst(300.0)
    with pytest.raises(ConfigError, match="cover none"):
        fit_token_weights([labelled(chat, [])])

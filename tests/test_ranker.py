"""The learned window ranker: per-message attributes, scale-free window features, the model file, the
shipped default, adaptation from a community's labels, and the chat signal and pipeline around it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detector.errors import ConfigError
from detector.params import Settings
from detector.pipeline import DetectRequest, detect
from detector.records import ChatLog, ChatMessage
from detector.signals.ranker.adapt import AdaptError, AdaptOptions, adapt, map_logistic
from detector.signals.ranker.features import NAMES, window_features
from detector.signals.ranker.fit import BASE_FEATURES, fit_default, sign_problems
from detector.signals.ranker.labels import VotedSpan, from_viewer_clips, from_votes, merge_spans
from detector.signals.ranker.messages import message_table
from detector.signals.ranker.model import RankerModel, default_model
from detector.signals.ranker.training import LabelledSpan, build_samples, chat_features, overlap_mask
from tests.community_chat import community_chat

LENGTH = 1800.0


def moments(seed: int, n: int = 8) -> list[float]:
    rng = np.random.default_rng(seed)
    return sorted(float(x) for x in rng.choice(np.arange(120, LENGTH - 120, 90), n, replace=False))


def hits_at_k(chat: ChatLog, truth: list[float], ranker: RankerModel | None, k: int = 5) -> int:
    result = detect(DetectRequest(chat=chat, settings=Settings({"top_k": k}), device="cpu", window=(0, LENGTH),
                                  ranker=ranker))
    return sum(any(abs((c.start_s + c.end_s) / 2 - t) < 25 for t in truth) for c in result.candidates)


def test_messages_engagement_new_chatters_and_copypasta() -> None:
    msgs = (ChatMessage(0.0, "hello", "a"), ChatMessage(1.0, "hello", "b"), ChatMessage(2.0, "spam", "a"),
            ChatMessage(12.5, "again", "a"), ChatMessage(50.0, "HELLO", "c"), ChatMessage(51.0, "what?!", None))
    table = message_table(ChatLog("t", "jsonl", msgs))
    assert table.weight.tolist() == [1, 1, 0, 1, 1, 1]  # a's second line within 10 s does not count twice
    assert table.attrs["new"].tolist() == [1, 1, 0, 0, 1, 0]
    assert table.attrs["repeat"].tolist() == [0, 1, 0, 0, 0, 0]  # "HELLO" 50 s later is no longer a repeat
    assert table.attrs["caps"][4] == 1 and table.attrs["question"][5] == 1 and table.attrs["exclaim"][5] == 1
    no_authors = message_table(ChatLog("t", "jsonl", tuple(ChatMessage(m.offset_s, m.text) for m in msgs)))
    assert no_authors.weight.tolist() == [1] * 6 and not no_authors.attrs["new"].any()


def test_features_are_relative_to_the_vods_own_chat() -> None:
    truth = moments(1)
    quiet = community_chat(LENGTH, truth, seed=1, rate=0.5, burst=20)
    feats = chat_features(quiet)
    assert feats.names == NAMES and feats.matrix.shape[0] == len(NAMES) and np.isfinite(feats.matrix).all()
    at = [int((t + 20 + 3) / feats.hop_s) for t in truth]
    for name in ("rate_now", "react_now", "caps_wide"):
        row = feats.row(name)
        assert row[at].mean() > np.percentile(row[feats.active], 90), name
    assert feats.row("length_wide")[at].max() < 0  # excited chat writes short lines
    # A log that starts an hour into the VOD: VOD-wide statistics come from where chat is, so the
    # features at the same moments are the same.
    late = ChatLog("late", "jsonl", tuple(ChatMessage(m.offset_s + 3600, m.text, m.author) for m in quiet.messages))
    shifted = window_features(message_table(late), int((LENGTH + 3700) / feats.hop_s), feats.hop_s)
    shift = int(3600 / feats.hop_s)
    for name in ("rate_now", "react_wide", "length_wide"):
        np.testing.assert_allclose(shifted.row(name)[[a + shift for a in at]], feats.row(name)[at], atol=1e-4)


def test_a_busy_chat_and_a_quiet_one_rank_the_same_moments() -> None:
    truth = moments(2)
    quiet = community_chat(LENGTH, truth, seed=2, rate=0.4, burst=15)
    busy = community_chat(LENGTH, truth, seed=2, rate=8.0, burst=300)
    assert hits_at_k(quiet, truth, None) == hits_at_k(busy, truth, None) == 5


def test_model_file_round_trip_and_validation(tmp_path: Path) -> None:
    model = default_model()
    path = tmp_path / "m.json"
    model.save(path)
    again = RankerModel.load(path)
    assert again.names == model.names and np.allclose(again.coef, model.coef) and again.intercept == pytest.approx(model.intercept)
    data = json.loads(path.read_text())
    for broken, match in (({**data, "format": "x"}, "not a highlights-ranker"),
                          ({**data, "features_version": 99}, "features version"),
                          ({**data, "features": [{"name": "team_names", "mean": 0, "scale": 1, "coef": 1}]}, "unknown"),
                          ({**data, "features": [{"name": "rate_now", "mean": 0, "scale": 0, "coef": 1}]}, "positive scale"),
                          ({**data, "lexicon": {"weights": {"gg": "lots"}}}, "finite"),
                          ({**data, "lag_s": 500}, "lag_s")):
        path.write_text(json.dumps(broken))
        with pytest.raises(ConfigError, match=match):
            RankerModel.load(path)
    with pytest.raises(ConfigError, match="does not exist"):
        RankerModel.load(tmp_path / "none.json")


def test_the_shipped_default_is_generic() -> None:
    model = default_model()
    assert model.names == BASE_FEATURES and model.lexicon is None and model.meta["kind"] == "default"
    assert not sign_problems(model)
    weights = model.weights()
    assert weights["length_wide"] < 0 < min(weights[n] for n in ("rate_now", "react_now", "caps_wide", "hype_wide",
                                                                 "gaming_spike"))
    # Nothing a community decides for itself: no lexicon, no laughter weight either way.
    assert not {"learned_wide", "laugh_wide", "laugh_spike"} & set(model.names)


def test_a_thin_chat_gives_a_verdict_not_confident_clips() -> None:
    thin = ChatLog("thin", "jsonl", tuple(ChatMessage(float(t), "KEKW", f"u{t}") for t in range(0, 1200, 30)))
    result = detect(DetectRequest(chat=thin, settings=Settings(), device="cpu"))
    assert result.candidates == ()
    assert result.meta["chat_verdict"].startswith("too little chat: 40 messages")
    assert "chat" in result.meta["unavailable_signals"]
    lowered = detect(DetectRequest(chat=thin, settings=Settings({"chat_min_messages": 10, "chat_min_per_min": 0}),
                                   device="cpu"))
    assert lowered.meta["chat_verdict"] is None and lowered.meta["chat_ranker"]["kind"] == "default"


def test_clip_edges_follow_the_reaction() -> None:
    truth = moments(3)
    chat = community_chat(LENGTH, truth, seed=3)
    result = detect(DetectRequest(chat=chat, settings=Settings({"top_k": 5}), device="cpu"))
    s = Settings()
    for c in result.candidates:
        assert s["pre_roll_s"] <= c.peak_s - c.start_s <= s["pre_max_s"] + 0.5
        assert s["post_roll_s"] <= c.end_s - c.peak_s <= s["post_max_s"] + 0.5


def test_labels_from_viewer_clips_and_votes() -> None:
    chat = community_chat(600, [100.0], seed=4)
    span = from_viewer_clips("v1", chat, [(50.0, 250.0), (700.0, 730.0), (90.0, 120.0)])
    assert span.moments == ((90.0, 120.0), (160.0, 250.0))  # long clips keep their last 90 s; outside ones drop
    voted = from_votes("v1", chat, [VotedSpan(10, 40, 3, 0), VotedSpan(200, 230, 0, 2), VotedSpan(300, 330, 1, 1)])
    assert voted.moments == ((10, 40),) and voted.misses == ((200, 230),)
    merged = merge_spans([span, voted])
    assert len(merged) == 1 and len(merged[0].moments) == 3 and merged[0].misses == ((200, 230),)
    assert overlap_mask(np.array([0.0, 55.0, 200.0]), [(60.0, 70.0)]).tolist() == [False, True, False]


def test_map_logistic_stays_at_its_prior_until_data_outweighs_it() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4000, 2))
    y = (rng.random(4000) < 1 / (1 + np.exp(-(2.0 * z[:, 1])))).astype(float)
    w = np.ones(4000)
    prior = np.array([0.5, 0.0])
    firm, _ = map_logistic(z, y, w, prior, 0.0, strength=1e7)
    assert np.allclose(firm, prior, atol=1e-3)
    loose, _ = map_logistic(z, y, w, prior, 0.0, strength=1.0)
    assert abs(loose[0]) < 0.15 and 1.7 < loose[1] < 2.3


def test_adaptation_learns_a_communitys_own_word() -> None:
    # The community reacts with its channel emote and few hand-lexicon words, and raids make chat shout
    # hype without a moment; the default ranker is fooled by some of them, the adapted one is not.
    def vod(seed: int) -> tuple[ChatLog, list[float], list[float]]:
        truth = moments(seed, 6)
        decoys = [t + 45 for t in moments(seed + 100, 6) if all(abs(t + 45 - m) > 60 for m in truth)]
        return community_chat(LENGTH, truth, seed=seed, react_share=0.0, decoys=decoys, burst=30), truth, decoys

    train = [vod(s) for s in (10, 11, 12, 13)]
    spans = [from_viewer_clips(f"v{i}", chat, [(t - 10, t + 20) for t in truth]) for i, (chat, truth, _) in enumerate(train)]
    adapted = adapt(default_model(), spans, source="viewer clips")
    assert adapted.meta["summary"] == "adapted from 24 viewer clips over 4 VODs"
    assert adapted.lexicon is not None and adapted.lexicon.weights["zoomcrew"] > 1.0
    assert adapted.lexicon.weights["raid"] < 0
    assert adapted.weights()["learned_wide"] > 0
    chat, truth, _ = vod(20)
    assert hits_at_k(chat, truth, adapted, k=6) > hits_at_k(chat, truth, None, k=6)
    with pytest.raises(AdaptError, match="too few"):
        adapt(default_model(), spans[:1], options=AdaptOptions(min_moments=10))


def test_fit_default_recovers_chat_sense(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    spans = []
    for seed in range(4):
        truth = moments(seed + 30)
        spans.append(LabelledSpan(f"g{seed}", community_chat(LENGTH, truth, seed=seed + 30), 0.0, LENGTH,
                                  [(t - 5, t + 15) for t in truth]))
    model = fit_default(spans)
    assert model.names == BASE_FEATURES and not sign_problems(model)
    samples = build_samples(spans, 20.0, names=BASE_FEATURES)
    assert samples.x.shape == (len(samples.y), len(BASE_FEATURES)) and 0 < samples.y.mean() < 0.5


def test_the_ranker_grid_is_the_signals_timebase() -> None:
    from detector.signals.base import HOP_S
    from detector.signals.ranker.features import GRID_S

    assert GRID_S == HOP_S


def test_message_kinds_split_the_reactions() -> None:
    from detector.signals.chat_lexicon import classify, classify_kinds

    # (reaction, laugh, emotes, caps, hype, shock, gaming)
    assert classify_kinds("PogChamp what a play") [4:] == (True, False, False)
    assert classify_kinds("clip it")[4:] == (True, False, False)
    assert classify_kinds("monkaW he is low")[4:] == (False, True, False)
    assert classify_kinds("gg ez")[4:] == (False, False, True)
    # A verdict of each game's own big play reads alike (LoL's penta, Dota's rampage).
    assert classify_kinds("PENTA")[4:] == classify_kinds("RAMPAGE")[4:] == (False, False, True)
    assert classify_kinds("KEKW")[1] and classify_kinds("KEKW")[4:] == (False, False, False)
    assert classify_kinds("what rank is he now") == (False, False, 0, False, False, False, False)
    for text in ("PogChamp what a play", "gg ez", "KEKW", "monkaW", "???", "what rank is he"):
        assert classify(text) == classify_kinds(text)[:4]
    table = message_table(ChatLog("t", "jsonl", (ChatMessage(0.0, "POGGERS"), ChatMessage(1.0, "gg wp"),
                                                 ChatMessage(2.0, "NotLikeThis"), ChatMessage(3.0, "hi"))))
    assert table.attrs["hype"].tolist() == [1, 0, 0, 0] and table.attrs["gaming"].tolist() == [0, 1, 0, 0]
    assert table.attrs["shock"].tolist() == [0, 0, 1, 0] and table.attrs["react"].tolist() == [1, 1, 1, 0]


def test_a_kind_spike_is_relative_to_the_kinds_own_baseline() -> None:
    # A chat where "gg" is common all along, and a quiet one where it is rare: a burst of gg reads as a
    # spike in both, and the same size of burst reads larger where gg is rare; scale does not matter.
    def chat(gg_share: float, scale: float) -> ChatLog:
        rng = np.random.default_rng(5)
        msgs = [ChatMessage(float(t), "gg" if rng.random() < gg_share else "hello there", f"u{i % 400}")
                for i, t in enumerate(np.sort(rng.uniform(0, 1200, int(1200 * scale))))]
        msgs += [ChatMessage(600.0 + j * 8.0 / (30 * scale), "gg", f"b{j}") for j in range(int(30 * scale))]
        return ChatLog("t", "jsonl", tuple(sorted(msgs, key=lambda m: m.offset_s)))

    at = int(600 / 0.5)
    spikes = {}
    for share in (0.02, 0.2):
        for scale in (1.0, 10.0):
            feats = chat_features(chat(share, scale))
            row = feats.row("gaming_spike")
            peak = float(row[at - 60: at + 60].max())  # the wide window holds the burst around here
            assert peak == row[feats.active].max() and peak > np.percentile(row[feats.active], 90) + 0.5, (share, scale)
            spikes[share, scale] = peak
    assert spikes[0.02, 1.0] > spikes[0.2, 1.0] and spikes[0.02, 10.0] > spikes[0.2, 10.0]
    assert spikes[0.02, 1.0] == pytest.approx(spikes[0.02, 10.0], abs=0.6)


@pytest.mark.parametrize("lag", [6.0, 26.0])
def test_adaptation_reads_the_communitys_lag_from_its_labels(lag: float) -> None:
    from detector.signals.ranker.label_lag import label_lag

    spans = []
    for seed in (40, 41, 42):
        truth = moments(seed)
        chat = community_chat(LENGTH, truth, seed=seed, lag_s=lag)
        spans.append(LabelledSpan(f"v{seed}", chat, 0.0, LENGTH, [(t - 5, t + 15) for t in truth]))
    found = label_lag(default_model(), spans)
    # The crowd reacts from ``lag`` to ``lag + 8`` s after the moment; labels run from 5 s before to 15 s
    # after it: the best reading sits a few seconds around the planted lag.
    assert found is not None and abs(found.lag_s - lag) <= 6 and found.auc > 0.7
    adapted = adapt(default_model(), spans)
    assert adapted.lag_s == found.lag_s and adapted.meta["lag_source"] == "labels"
    # Detection reads this community's chat at its own lag, and says where the lag came from.
    truth = moments(43)
    chat = community_chat(LENGTH, truth, seed=43, lag_s=lag)
    result = detect(DetectRequest(chat=chat, settings=Settings({"top_k": 5}), device="cpu", window=(0, LENGTH),
                                  ranker=adapted))
    assert result.meta["chat_lag_source"] == "community" and result.meta["chat_lag_s"] == found.lag_s
    assert hits_at_k(chat, truth, adapted) == 5
    # Labels that do not line up with chat at any lag give no estimate: the prior stays.
    rng = np.random.default_rng(7)
    noise = [LabelledSpan(s.key, s.chat, 0.0, LENGTH, [(t, t + 20.0) for t in rng.uniform(0, LENGTH - 20, 8)])
             for s in spans]
    assert label_lag(default_model(), noise) is None
    kept = adapt(default_model(), noise, options=AdaptOptions(min_moments=5))
    assert kept.lag_s == default_model().lag_s and kept.meta["lag_source"] == "base"


def test_adapted_model_round_trips_with_its_lag(tmp_path: Path) -> None:
    spans = [LabelledSpan(f"v{seed}", community_chat(LENGTH, moments(seed), seed=seed, lag_s=10.0), 0.0, LENGTH,
                          [(t - 5, t + 15) for t in moments(seed)]) for seed in (50, 51)]
    adapted = adapt(default_model(), spans)
    path = tmp_path / "adapted.json"
    adapted.save(path)
    again = RankerModel.load(path)
    assert again.names == adapted.names and again.lag_s == adapted.lag_s and again.meta["lag_source"] == "labels"
    assert np.allclose(again.coef, adapted.coef, atol=1e-5) and again.lexicon is not None
    # The file rounds (6 decimals, lexicon weights 4): the scores move by a hair and rank the same.
    loaded = again.logit(chat_features(spans[0].chat, again.lexicon))
    fitted = adapted.logit(chat_features(spans[0].chat, adapted.lexicon))
    np.testing.assert_allclose(loaded, fitted, atol=0.05)
    assert np.corrcoef(loaded, fitted)[0, 1] > 0.9999

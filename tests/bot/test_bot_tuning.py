"""Vote tuning math (``storage.tuning``) and the simulated community whose taste tuning must learn."""

from __future__ import annotations

import math

import pytest

from storage.tuning import TuningOptions, VotedClip, defaults, effective, fused_score, propose, weight_name
from storage.tuning_params import PARAMS_BY_NAME
from tests.bot.vote_simulation import simulate


def _clips(n: int, liked_feature: str, disliked_feature: str) -> list[VotedClip]:
    """Clips that are either strong in ``liked_feature`` (voted up) or in ``disliked_feature`` (voted down)."""
    clips = []
    for i in range(n):
        good = i % 2 == 0
        signals = {liked_feature: 4.0 if good else 0.5, disliked_feature: 0.5 if good else 4.0, "audio.flux": 1.0}
        clips.append(VotedClip(signals=signals, up=5 if good else 1, down=1 if good else 5))
    return clips


def test_no_proposal_before_the_minimum_of_votes_and_clips() -> None:
    clips = _clips(4, "audio.rms", "chat.ranker")
    assert propose(clips, options=TuningOptions(min_votes=100)) is None
    assert propose(clips[:1], options=TuningOptions(min_votes=1, min_clips=2)) is None
    assert propose([VotedClip({"audio.rms": 1.0}, 0, 0)] * 10, options=TuningOptions(min_votes=1, min_clips=1)) is None


def test_votes_move_weights_toward_liked_signals_and_stay_in_range() -> None:
    proposal = propose(_clips(12, "audio.rms", "chat.ranker"), options=TuningOptions(min_votes=10, min_clips=4))
    assert proposal is not None and proposal.changed
    p = proposal.params
    assert p["w_audio_rms"] > defaults()["w_audio_rms"] and p["w_chat_ranker"] < defaults()["w_chat_ranker"]
    for name, value in p.items():
        param = PARAMS_BY_NAME[name]
        assert param.min <= value <= param.max and math.isfinite(value)
    assert proposal.votes_used == 72 and proposal.clips_used == 12
    assert "w_audio_rms" in proposal.reason and "72 votes on 12 clips" in proposal.reason


def test_extreme_votes_stay_in_the_table_and_the_threshold_moves_a_bounded_step() -> None:
    clips = [VotedClip({"chat.emote": 50.0 if i % 2 else 0.0, "chat.ranker": 0.0 if i % 2 else 50.0},
                       up=500 if i % 2 else 0, down=0 if i % 2 else 500) for i in range(20)]
    options = TuningOptions(min_votes=10, min_clips=4, threshold_shift=0.5)
    p = propose(clips, options=options)
    assert p is not None
    assert defaults()["w_chat_emote"] < p.params["w_chat_emote"] <= PARAMS_BY_NAME["w_chat_emote"].max
    assert p.params["w_chat_ranker"] == PARAMS_BY_NAME["w_chat_ranker"].min  # a negative fit is cut to the range
    assert abs(p.params["threshold"] - defaults()["threshold"]) <= 0.5 + 1e-9


def test_a_few_uninformative_votes_keep_the_defaults() -> None:
    clips = [VotedClip({"audio.rms": float(i % 3), "chat.ranker": float((i + 1) % 3)}, up=1, down=1) for i in range(10)]
    p = propose(clips, options=TuningOptions(min_votes=10, min_clips=4, prior_votes=50.0))
    assert p is not None
    base = defaults()
    assert all(abs(v - base[k]) < 0.35 for k, v in p.params.items())


def test_no_change_is_reported_when_the_current_tuning_already_matches() -> None:
    options = TuningOptions(min_votes=10, min_clips=4)
    first = propose(_clips(12, "audio.rms", "chat.ranker"), options=options)
    assert first is not None
    again = propose(_clips(12, "audio.rms", "chat.ranker"), first.params, options)
    assert again is not None and not again.changed and again.reason.endswith("no change")


def test_a_base_from_an_admin_rollback_is_what_the_fit_is_pulled_toward() -> None:
    base = {"w_audio_rms": 3.0, "w_chat_ranker": 0.2}
    clips = [VotedClip({"audio.rms": 1.0, "chat.ranker": 1.0}, up=1, down=1) for _ in range(10)]
    p = propose(clips, options=TuningOptions(min_votes=10, min_clips=4, prior_votes=200.0), base=base)
    assert p is not None
    assert p.params["w_audio_rms"] > p.params["w_chat_ranker"] * 5


def test_effective_and_fused_score_follow_the_table() -> None:
    values = effective({"w_audio_rms": 99.0, "no_such_param": 1.0, "top_k": 3.4})
    assert values["w_audio_rms"] == 5.0 and values["top_k"] == 3.0 and "no_such_param" not in values
    assert weight_name("chat.ranker") == "w_chat_ranker"
    assert fused_score({"audio.rms": 2.0, "chat.ranker": 4.0, "unknown.x": 9.0}, defaults()) == pytest.approx(3.0)


@pytest.mark.parametrize("seed", [1, 7, 23])
def test_a_simulated_community_gets_better_clips_round_after_round(seed: int) -> None:
    rounds = simulate(rounds=6, k=6, voters=5, seed=seed)  # tuning needs 5 different voters
    first = rounds[0].precision
    assert rounds[0].params == {}  # round 1 runs on the defaults
    late = [r.precision for r in rounds[-3:]]
    late_defaults = [r.default_precision for r in rounds[-3:]]
    assert sum(late) / 3 >= first + 0.25, [r.precision for r in rounds]
    assert sum(late) / 3 >= sum(late_defaults) / 3 + 0.25, (late, late_defaults)
    assert rounds[-1].params, "tuning must have produced parameters"

"""The detector end to end on synthetic VODs with known answers, in all three modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.errors import ChatFormatError, DetectorError, MediaError
from detector.params import Settings
from detector.pipeline import DetectRequest, detect
from detector.synthetic.vod import SyntheticVod, make_vod

TOLERANCE_S = 2.0


@pytest.fixture(scope="module")
def lagged_vod(tmp_path_factory: pytest.TempPathFactory) -> SyntheticVod:
    """Six minutes of audio with four planted moments and a chat that reacts 27 s late."""
    out = tmp_path_factory.mktemp("lagged")
    return make_vod(out, minutes=6, events=[45.0, 130.0, 215.0, 290.0], chat_lag_s=27.0, video=False, seed=5)


def found(vod: SyntheticVod, result) -> list[float]:
    return [e for e in vod.events
            if any(c.start_s - TOLERANCE_S <= e <= c.end_s + TOLERANCE_S for c in result.candidates)]


def top_settings(k: int) -> Settings:
    # The sample's moments are 55 s apart: closer than the default suppression gap (60 s).
    return Settings({"top_k": k, "min_gap_s": 30})


def test_audio_and_chat_find_every_planted_moment(sample_vod: SyntheticVod) -> None:
    result = detect(DetectRequest(media=sample_vod.media_path, chat=sample_vod.chat_path,
                                  settings=top_settings(len(sample_vod.events))))
    assert found(sample_vod, result) == list(sample_vod.events)
    peaks = sorted(c.peak_s for c in result.candidates)
    for event, peak in zip(sorted(sample_vod.events), peaks):
        assert abs(peak - event) <= TOLERANCE_S + 2.0  # the burst lasts ~3 s; its peak lies inside it
    assert result.meta["mode"] == "audio+chat"
    assert abs(result.meta["chat_lag_s"] - sample_vod.chat_lag_s) <= TOLERANCE_S
    best = result.candidates[0]
    assert best.explanation.chat_sample and best.explanation.top_emotes
    assert best.explanation.audio_z and best.explanation.audio_z > 1
    assert set(best.explanation.contributions) >= {"chat.hype", "audio.rms"}
    assert [c.score for c in result.candidates] == sorted((c.score for c in result.candidates), reverse=True)


def test_planted_lag_is_recovered(lagged_vod: SyntheticVod) -> None:
    result = detect(DetectRequest(media=lagged_vod.media_path, chat=lagged_vod.chat_path,
                                  settings=top_settings(4)))
    assert result.meta["chat_lag_source"] == "estimated"
    assert abs(result.meta["chat_lag_s"] - 27.0) <= TOLERANCE_S
    assert found(lagged_vod, result) == list(lagged_vod.events)


def test_audio_only(sample_audio_only: SyntheticVod) -> None:
    result = detect(DetectRequest(media=sample_audio_only.media_path, settings=top_settings(2)))
    assert result.meta["mode"] == "audio" and result.meta["chat_lag_s"] is None
    assert found(sample_audio_only, result) == list(sample_audio_only.events)
    assert all(k.startswith("audio.") for k in result.candidates[0].signals)


def test_chat_only_uses_the_prior_lag(sample_vod: SyntheticVod) -> None:
    result = detect(DetectRequest(chat=sample_vod.chat_path, settings=top_settings(3)))
    assert result.meta["mode"] == "chat" and result.meta["chat_lag_source"] == "prior"
    assert result.meta["chat_lag_s"] == Settings()["chat_lag_prior_s"] == 12.0
    # The prior (12 s) is 6 s short of the planted 18 s lag: the clips sit a little late and still cover
    # the moments (a short prior errs on the cheap side: see detector.fusion.lag).
    assert found(sample_vod, result) == list(sample_vod.events)


def test_media_without_audio_needs_chat(media_no_audio: Path, sample_vod: SyntheticVod) -> None:
    with pytest.raises(DetectorError, match="no audio stream and no chat log"):
        detect(DetectRequest(media=media_no_audio))
    # With chat it works: the chat alone drives detection.
    result = detect(DetectRequest(media=media_no_audio, chat=sample_vod.chat_path))
    assert result.meta["mode"] == "chat"


def test_corrupt_media_and_empty_chat_fail_clearly(corrupt_media: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=str(corrupt_media.name)):
        detect(DetectRequest(media=corrupt_media))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ChatFormatError, match="no messages"):
        detect(DetectRequest(chat=empty))
    with pytest.raises(DetectorError, match="Nothing to detect"):
        detect(DetectRequest())


def test_abort_stops_between_stages(sample_vod: SyntheticVod) -> None:
    from detector.errors import Cancelled

    calls = []

    def abort() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(Cancelled):
        detect(DetectRequest(media=sample_vod.media_path, chat=sample_vod.chat_path), abort=abort)

"""What people read, as pure functions: clip titles and reasons without metric words, and a job card whose
stages are words and whose ETA is honest (never before there is a rate to go on, never below the time
progress has already stood still, and never making the whole job shorter than the time already spent)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.views.card_words import eta_seconds, failure_text, found_text, stage_words
from bot.views.clip_text import chat_lines, clip_title, details_text, has_metric, why_text
from bot.views.job_card import card_embed
from storage.records import Clip, Job, JobKind, JobStatus

NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)


def clip(**explanation: Any) -> Clip:
    return Clip(id=7, job_id=1, vod_id=None, rank=1, start_s=3723.0, end_s=3750.0, peak_s=3735.0, score=2.87,
                signals={"chat.hype": 1.3}, explanation=explanation)


def job(**fields: Any) -> Job:
    base: dict[str, Any] = dict(id=1, kind=JobKind.DETECT, status=JobStatus.RUNNING, payload={}, priority=10,
                                dedupe_key=None, attempts=1, max_attempts=3, stage=None, progress=0.0,
                                progress_message=None, error_code=None, error_message=None, requested_by="1",
                                guild_id="1", channel_id="2", cancel_requested=False, lease_owner=None,
                                lease_expires_at=None, run_after=NOW, created_at=NOW, started_at=NOW, finished_at=None)
    base.update(fields)
    return Job(**base)


THE_ISSUES_CLIP = {  # the explanation behind the title the issue quotes
    "summary": "chat ×1.3 over baseline (12.8 msg/s); Kappa ×76, LUL ×66, PogChamp ×56; audio z +4.5 "
               "(loudness z +3.8); chat lag 28 s",
    "contributions": {"chat.hype": 1.9, "audio.rms": 0.9}, "chat_lag_s": 28.0, "chat_rate_ratio": 1.3,
    "top_emotes": [["Kappa", 76], ["LUL", 66], ["PogChamp", 56]],
    "chat_sample": ["viewer1: Kappa Kappa", "viewer2: NO WAY", "viewer3: NO WAY", "viewer4: LUL"], "audio_z": 4.5,
}


def test_the_issues_clip_reads_as_words_and_keeps_its_numbers_for_details() -> None:
    c = clip(**THE_ISSUES_CLIP)
    assert clip_title(c) == "Chat: Kappa ×76"
    assert why_text(c) == "Chat sped up, 76 people posted Kappa and it got much louder on stream."
    assert chat_lines(c) == ["viewer1: Kappa Kappa", "viewer2: NO WAY", "viewer3: NO WAY"]
    details = details_text(c, total=8)
    assert details.startswith("**Why clip #1 of 8 was picked — the numbers**\nScore 2.87 (scores compare clips of "
                              "the same VOD only")
    assert "Audio loudness z-score +4.5" in details and "Chat lag 28 s" in details and "×1.3" in details


@pytest.mark.parametrize("keys", [c for n in range(0, 6) for c in itertools.combinations(
    ("quote", "top_emotes", "caption", "vision", "chat_rate_ratio", "audio_z", "segment"), n)])
def test_no_title_or_reason_shows_a_metric(keys: tuple[str, ...]) -> None:
    values: dict[str, Any] = {"quote": "no way he hit that", "top_emotes": [["KEKW", 40]], "caption": "a player wins",
                              "vision": "a crowd cheering (p 0.71)", "chat_rate_ratio": 6.2, "audio_z": 3.1,
                              "segment": "gameplay"}
    c = clip(summary=THE_ISSUES_CLIP["summary"], chat_lag_s=28.0, **{k: values[k] for k in keys})
    title, why = clip_title(c), why_text(c)
    assert title and why and not has_metric(title) and not has_metric(why), (title, why)
    assert "0.71" not in title  # a vision probability is a metric too


def test_titles_prefer_what_was_said_then_chat_then_the_picture() -> None:
    assert clip_title(clip(quote="no way he hit that", top_emotes=[["KEKW", 4]])) == "“no way he hit that”"
    assert clip_title(clip(top_emotes=[["NO WAY", 40]], caption="a player wins")) == "Chat: NO WAY ×40"
    assert clip_title(clip(vision="a crowd cheering (p 0.71)")) == "A crowd cheering"
    assert clip_title(clip()) == "A moment chat reacted to"


def test_stages_are_said_in_words() -> None:
    assert stage_words("segments: sound") == "Telling gameplay from talking (by sound)"
    assert stage_words("rendering 16:9 clip 2/8") == "Cutting clip 2 of 8"
    assert stage_words("download chat") == stage_words("signal chat") == "Reading chat"
    assert stage_words("decode audio") == "Listening for hype"
    assert stage_words("downloading sections") == stage_words("download sections") == "Downloading the clips' video"
    assert stage_words(None) == "Starting"


def test_the_eta_waits_for_a_rate_and_is_never_below_what_was_already_spent() -> None:
    assert eta_seconds(job(progress=0.9, started_at=NOW - timedelta(seconds=0.8)), NOW) is None  # too early to tell
    assert eta_seconds(job(progress=0.01, started_at=NOW - timedelta(seconds=60)), NOW) is None  # too little done
    for progress, elapsed, stalled in itertools.product((0.05, 0.3, 0.9, 0.99), (10.0, 15.0, 31.0, 600.0),
                                                         (0.0, 14.0, 31.0)):
        if stalled > elapsed:
            continue
        running = job(progress=progress, started_at=NOW - timedelta(seconds=elapsed))
        eta = eta_seconds(running, NOW, stalled)
        assert eta is not None and eta >= stalled and eta >= 1.0
        assert eta >= elapsed * (1 - progress) / progress - 1e-9  # at the rate measured so far, at least
    # The issue's case: stuck at 90 % for 31 s; the card no longer says "about 1 s".
    stuck = card_embed(job(progress=0.9, stage="segments: sound", started_at=NOW - timedelta(seconds=40)), now=NOW,
                       stalled_s=31.0)
    time_field = next(f["value"] for f in stuck.to_dict()["fields"] if f["name"] == "Time")
    assert time_field == "40 s so far · about 31 s left"


def test_a_finished_card_explains_fewer_clips_or_none_and_failures_in_words() -> None:
    asked = job(status=JobStatus.SUCCEEDED, payload={"settings": {"top_k": 3}})
    assert found_text(asked, 2, "555") == ("2 clips posted in <#555>. You asked for 3; only 2 moments stood out enough "
                                          "from the rest of the VOD (the others would have been filler).")
    assert found_text(asked, 0, None).startswith("No clips this time. Nothing in this VOD stood out")
    failed = job(status=JobStatus.FAILED, error_code="media_error", error_message="moov atom not found")
    assert "moov" not in failure_text(failed) and failure_text(failed).startswith("It stopped because the video")
    odd = job(status=JobStatus.FAILED, error_code="worker_error", error_message="KeyError: 'x'")
    assert failure_text(odd).startswith("It stopped because something went wrong on the worker")

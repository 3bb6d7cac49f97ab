"""The ``Repository`` contract, run unchanged on every backend (``backend`` fixture in conftest)."""

from __future__ import annotations

import pytest

from storage import RecordNotFound
from storage.errors import ForeignVote
from storage.records import JobKind, JobRequest
from storage.repo.port import ClipDraft
from tests.storage.harness import Backend


def drafts(*ranks: int, shift: float = 0.0) -> list[ClipDraft]:
    return [ClipDraft(rank=r, start_s=100.0 * r + shift, end_s=100.0 * r + 30 + shift, peak_s=100.0 * r + 12.5,
                      score=1.0 / r, signals={"chat": 0.5 + r / 10, "audio": 0.25},
                      explanation={"why": ["chat burst", "loud"], "lag_s": 18.0, "rank": r}) for r in ranks]


async def make_job(backend_storage, guild_id: str = "g1") -> int:
    result = await backend_storage.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload={"vod": "x"},
                                                            guild_id=guild_id))
    return result.job.id


async def test_streamers_round_trip(backend: Backend) -> None:
    repo = (await backend.connect()).repo
    made = await repo.upsert_streamer("  SomeOne ", display_name="SomeOne")
    assert (made.login, made.display_name, made.twitch_user_id) == ("someone", "SomeOne", None)
    again = await repo.upsert_streamer("someone", twitch_user_id="12345")
    assert (again.id, again.display_name, again.twitch_user_id) == (made.id, "SomeOne", "12345")
    other = await repo.upsert_streamer("another")
    assert await repo.get_streamer(made.id) == again
    assert await repo.find_streamer("SOMEONE") == again
    assert await repo.find_streamer("nobody") is None
    assert [s.login for s in await repo.list_streamers()] == ["another", "someone"]
    assert other.id != made.id
    with pytest.raises(RecordNotFound):
        await repo.get_streamer(10**9)


async def test_subscriptions_and_last_seen_vod_persist_across_connections(backend: Backend) -> None:
    first = await backend.connect()
    streamer = await first.repo.upsert_streamer("caster")
    sub = await first.repo.subscribe("g1", streamer.id, "chan1", created_by="u1")
    assert (sub.guild_id, sub.streamer_id, sub.channel_id, sub.created_by, sub.last_seen_vod, sub.enabled) == \
        ("g1", streamer.id, "chan1", "u1", None, True)
    seen = await first.repo.set_last_seen_vod(sub.id, "v2001")
    assert seen.last_seen_vod == "v2001"
    await first.close()

    second = await backend.connect()
    assert (await second.repo.get_subscription(sub.id)).last_seen_vod == "v2001"
    disabled = await second.repo.set_subscription_enabled(sub.id, False)
    assert not disabled.enabled
    moved = await second.repo.subscribe("g1", streamer.id, "chan2", created_by="u2")
    assert (moved.id, moved.channel_id, moved.enabled, moved.last_seen_vod) == (sub.id, "chan2", True, "v2001")
    other = await second.repo.subscribe("g2", streamer.id, "chan9")
    assert [s.id for s in await second.repo.list_subscriptions(streamer_id=streamer.id)] == [sub.id, other.id]
    assert [s.id for s in await second.repo.list_subscriptions(guild_id="g2")] == [other.id]
    await second.repo.set_subscription_enabled(other.id, False)
    assert [s.id for s in await second.repo.list_subscriptions(enabled_only=True)] == [sub.id]
    assert await second.repo.unsubscribe("g2", streamer.id)
    assert not await second.repo.unsubscribe("g2", streamer.id)
    with pytest.raises(RecordNotFound):
        await second.repo.get_subscription(other.id)
    with pytest.raises(RecordNotFound):
        await second.repo.subscribe("g1", 10**9, "chan")
    with pytest.raises(RecordNotFound):
        await second.repo.set_last_seen_vod(10**9, "v1")


async def test_vods_round_trip(backend: Backend) -> None:
    repo = (await backend.connect()).repo
    streamer = await repo.upsert_streamer("caster")
    vod = await repo.upsert_vod(source="https://www.twitch.tv/videos/2001", twitch_vod_id="2001",
                                streamer_id=streamer.id)
    assert (vod.twitch_vod_id, vod.streamer_id, vod.title, vod.duration_s) == ("2001", streamer.id, None, None)
    assert vod.created_at is not None and vod.created_at.tzinfo is not None
    filled = await repo.upsert_vod(source="https://twitch.tv/videos/2001", twitch_vod_id="2001", title="Finals",
                                   duration_s=3600.5)
    assert (filled.id, filled.title, filled.duration_s, filled.streamer_id) == (vod.id, "Finals", 3600.5, streamer.id)
    assert filled.source == "https://www.twitch.tv/videos/2001"
    local = await repo.upsert_vod(source="/data/vods/match.mp4", duration_s=60.0)
    assert local.twitch_vod_id is None and local.id != vod.id
    assert await repo.find_vod(source="/data/vods/match.mp4") == local
    assert await repo.find_vod(twitch_vod_id="2001") == filled
    assert await repo.get_vod(local.id) == local
    assert await repo.find_vod(twitch_vod_id="404") is None
    with pytest.raises(RecordNotFound):
        await repo.get_vod(10**9)


async def test_clips_round_trip_and_a_retried_job_keeps_posted_clips(backend: Backend) -> None:
    storage = await backend.connect()
    repo = storage.repo
    job_id = await make_job(storage)
    vod = await repo.upsert_vod(source="/v.mp4")
    saved = await repo.save_candidates(job_id, drafts(2, 1, 3), vod_id=vod.id)
    assert [c.rank for c in saved] == [1, 2, 3]
    first = saved[0]
    assert (first.job_id, first.vod_id, first.start_s, first.end_s, first.peak_s, first.score) == \
        (job_id, vod.id, 100.0, 130.0, 112.5, 1.0)
    assert first.signals == {"chat": 0.6, "audio": 0.25}
    assert first.explanation == {"why": ["chat burst", "loud"], "lag_s": 18.0, "rank": 1}
    assert (first.files, first.message_id, first.up_votes, first.down_votes) == ({}, None, 0, 0)

    await repo.set_clip_files(first.id, {"16:9": "job1/clip1.mp4"})
    with_files = await repo.set_clip_files(first.id, {"thumb": "job1/clip1.jpg"})
    assert with_files.files == {"16:9": "job1/clip1.mp4", "thumb": "job1/clip1.jpg"}
    posted = await repo.set_clip_message(first.id, message_id="m1", channel_id="c1", thread_id="t1")
    assert (posted.message_id, posted.channel_id, posted.thread_id) == ("m1", "c1", "t1")
    assert await repo.find_clip_by_message("m1") == posted
    assert await repo.find_clip_by_message("m404") is None

    # The job ran again and found two candidates: rank 1 is updated but keeps its post, rank 3 goes.
    again = await repo.save_candidates(job_id, drafts(1, 2, shift=5.0), vod_id=vod.id)
    assert [c.rank for c in again] == [1, 2]
    assert (again[0].id, again[0].start_s, again[0].files, again[0].message_id) == \
        (first.id, 105.0, with_files.files, "m1")
    assert await repo.list_clips(job_id) == again
    assert await repo.get_clip(first.id) == again[0]
    assert await repo.list_clips(await make_job(storage)) == []
    with pytest.raises(RecordNotFound):
        await repo.get_clip(10**9)
    with pytest.raises(RecordNotFound):
        await repo.save_candidates(10**9, drafts(1))
    with pytest.raises(RecordNotFound):
        await repo.set_clip_message(10**9, message_id="m", channel_id="c")


async def test_votes_one_per_user_changeable_and_counted(backend: Backend) -> None:
    bot, other = await backend.connect(), await backend.connect()
    streamer = await bot.repo.upsert_streamer("caster")
    vod = await bot.repo.upsert_vod(source="/v.mp4", streamer_id=streamer.id)
    clip, spare = await bot.repo.save_candidates(await make_job(bot, "g1"), drafts(1, 2), vod_id=vod.id)

    await bot.repo.vote(clip.id, "u1", 1, guild_id="g1")
    await other.repo.vote(clip.id, "u2", 1, guild_id="g1")
    counted = await bot.repo.vote(clip.id, "u3", -1, guild_id="g1")
    assert (counted.up_votes, counted.down_votes) == (2, 1)
    changed = await other.repo.vote(clip.id, "u1", -1, guild_id="g1")
    assert (changed.up_votes, changed.down_votes) == (1, 2)
    vote = await bot.repo.get_vote(clip.id, "u1")
    assert vote is not None and (vote.clip_id, vote.user_id, vote.value) == (clip.id, "u1", -1)
    assert vote.voted_at.tzinfo is not None
    assert sorted((v.user_id, v.value) for v in await bot.repo.list_votes(clip.id)) == \
        [("u1", -1), ("u2", 1), ("u3", -1)]
    removed = await bot.repo.remove_vote(clip.id, "u3")
    assert (removed.up_votes, removed.down_votes) == (1, 1)
    assert await bot.repo.get_vote(clip.id, "u3") is None
    assert [c.id for c in await bot.repo.list_clips(clip.job_id)] == [clip.id, spare.id]
    assert [(c.id, c.up_votes) for c in await bot.repo.list_voted_clips("g1", streamer.id)] == [(clip.id, 1)]
    assert await bot.repo.list_voted_clips("g2", streamer.id) == []
    with pytest.raises(ValueError):
        await bot.repo.vote(clip.id, "u1", 2, guild_id="g1")
    with pytest.raises(RecordNotFound):
        await bot.repo.vote(10**9, "u1", 1, guild_id="g1")


async def test_a_vote_from_another_guild_is_refused_and_not_stored(backend: Backend) -> None:
    """Issue 14, finding 6: 30 members of one guild changed another guild's threshold by voting on its clips."""
    repo = (await backend.connect()).repo
    streamer = await repo.upsert_streamer("caster")
    vod = await repo.upsert_vod(source="/v.mp4", streamer_id=streamer.id)
    (clip,) = await repo.save_candidates(await make_job(await backend.connect(), "g1"), drafts(1), vod_id=vod.id)
    with pytest.raises(ForeignVote) as refused:
        await repo.vote(clip.id, "intruder", 1, guild_id="g2")
    assert refused.value.code == "vote_wrong_guild"
    with pytest.raises(ForeignVote):
        await repo.vote(clip.id, "intruder", 1, guild_id=None)
    assert await repo.list_votes(clip.id) == [] and (await repo.get_clip(clip.id)).up_votes == 0
    assert (await repo.vote(clip.id, "member", 1, guild_id="g1")).up_votes == 1


async def test_tuning_history_and_rollback(backend: Backend) -> None:
    bot, other = await backend.connect(), await backend.connect()
    streamer = await bot.repo.upsert_streamer("caster")
    assert await bot.repo.current_tuning("g1", streamer.id) is None
    assert await bot.repo.tuning_history("g1", streamer.id) == []

    v1 = await bot.repo.new_tuning_version("g1", streamer.id, {"chat_weight": 1.0, "min_score": 0.5},
                                           reason="initial", votes_used=0, by="admin")
    v2 = await other.repo.new_tuning_version("g1", streamer.id, {"chat_weight": 1.4, "min_score": 0.6},
                                             reason="12 votes: more chat", votes_used=12)
    assert (v1.version, v2.version) == (1, 2)
    assert (v1.params, v1.reason, v1.votes_used, v1.created_by) == ({"chat_weight": 1.0, "min_score": 0.5},
                                                                     "initial", 0, "admin")
    assert (v2.votes_used, v2.created_by) == (12, None) and v2.created_at >= v1.created_at
    assert await bot.repo.current_tuning("g1", streamer.id) == v2

    back = await bot.repo.rollback_tuning("g1", streamer.id, 1, by="admin2")
    assert (back.version, back.params, back.created_by) == (3, v1.params, "admin2")
    assert "1" in back.reason and "rollback" in back.reason.lower()
    assert await other.repo.current_tuning("g1", streamer.id) == back
    assert [t.version for t in await other.repo.tuning_history("g1", streamer.id)] == [3, 2, 1]

    assert await bot.repo.current_tuning("g2", streamer.id) is None
    separate = await bot.repo.new_tuning_version("g2", streamer.id, {"chat_weight": 0.7}, reason="other guild")
    assert separate.version == 1
    with pytest.raises(RecordNotFound):
        await bot.repo.rollback_tuning("g1", streamer.id, 99)
    with pytest.raises(RecordNotFound):
        await bot.repo.new_tuning_version("g1", 10**9, {"x": 1.0}, reason="no such streamer")


async def test_adaptation_history_rollback_and_reset(backend: Backend) -> None:
    bot, other = await backend.connect(), await backend.connect()
    streamer = await bot.repo.upsert_streamer("adapted")
    assert await bot.repo.current_adaptation("g1", streamer.id) is None
    assert await bot.repo.adaptation_history("g1", streamer.id) == []
    model = {"format": "highlights-ranker/1", "features": [{"name": "rate_now", "coef": 0.2}], "lexicon": {"weights": {"gg": 1.5}},
             "meta": {"kind": "adapted", "summary": "adapted from 212 viewer clips over 9 VODs"}}
    v1 = await bot.repo.new_adaptation("g1", streamer.id, model, source="viewer clips",
                                       summary="adapted from 212 viewer clips over 9 VODs", labels_used=212, vods_used=9)
    assert (v1.version, v1.model, v1.labels_used, v1.vods_used, v1.source, v1.active) == (1, model, 212, 9, "viewer clips", True)
    # Tuning versions of the same pair are a separate history.
    await other.repo.new_tuning_version("g1", streamer.id, {"threshold": 0.7}, reason="votes")
    v2 = await other.repo.new_adaptation("g1", streamer.id, {**model, "intercept": -1.0}, source="votes",
                                         summary="adapted from 30 votes over 2 VODs", labels_used=30, vods_used=2, by="admin")
    assert v2.version == 2 and v2.created_by == "admin" and v2.created_at >= v1.created_at
    assert await bot.repo.current_adaptation("g1", streamer.id) == v2

    back = await bot.repo.rollback_adaptation("g1", streamer.id, 1, by="admin2")
    assert (back.version, back.model, back.labels_used, back.vods_used) == (3, model, 212, 9)
    assert "rollback" in back.source and "1" in back.source and back.created_by == "admin2"
    reset = await other.repo.reset_adaptation("g1", streamer.id, by="admin")
    assert (reset.version, reset.model, reset.active, reset.source) == (4, {}, False, "reset")
    assert [a.version for a in await bot.repo.adaptation_history("g1", streamer.id)] == [4, 3, 2, 1]
    assert await bot.repo.current_adaptation("g2", streamer.id) is None
    with pytest.raises(RecordNotFound):
        await bot.repo.rollback_adaptation("g1", streamer.id, 99)
    with pytest.raises(RecordNotFound):
        await bot.repo.new_adaptation("g1", 10**9, model, source="votes", summary="no such streamer")

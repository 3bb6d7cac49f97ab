"""Issue 14, finding 6: vote tuning could be steered by one person, or from another server.

One user voting on 20 clips alone created a tuning version (``w_audio_rms 1→0``, ``w_chat_hype 1→0``,
``threshold 1→0.47``); ``vote()`` never checked that the clip belonged to the voter's guild, so 30
users of one guild changed another guild's threshold. Now tuning needs ``min_voters`` different
people, no voter weighs more than ``max_votes_per_voter`` votes, and a vote counts only in the guild
whose job made the clip — checked by the repository (both backends) and answered by the bot.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.tuner import Tuner
from storage.errors import ForeignVote
from storage.factory import Storage, open_storage
from storage.records import JobKind, JobRequest
from storage.repo.port import ClipDraft
from storage.tuning import TuningOptions, VotedClip, propose
from tests.bot.harness import ALICE, BotHarness
from tests.bot.jobs import finished_job


async def clips_of_one_guild(storage: Storage, n: int, guild: str = "g1") -> tuple[int, list]:
    streamer = await storage.repo.upsert_streamer("caster")
    vod = await storage.repo.upsert_vod(source="/v.mp4", streamer_id=streamer.id)
    job = (await storage.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload={}, guild_id=guild))).job
    drafts = [ClipDraft(rank=i + 1, start_s=60.0 * i, end_s=60.0 * i + 30, peak_s=60.0 * i + 15, score=2.0,
                        signals={"audio.rms": 3.0 * (i % 2), "chat.hype": 3.0 * ((i + 1) % 2)}, explanation={})
                for i in range(n)]
    return streamer.id, await storage.repo.save_candidates(job.id, drafts, vod_id=vod.id)


async def test_one_person_voting_on_20_clips_alone_makes_no_tuning_version(backend_url: tuple[str, str]) -> None:
    async with await open_storage(backend_url[1]) as storage:
        streamer, clips = await clips_of_one_guild(storage, 20)
        for clip in clips:  # likes the quiet, chatty clips, dislikes the loud ones: would zero w_audio_rms
            await storage.repo.vote(clip.id, "lone", -1 if clip.signals["audio.rms"] else 1, guild_id="g1")
        tuner = Tuner(storage.repo, TuningOptions(), retune_every=1)
        assert await tuner.retune("g1", streamer) is None
        assert await storage.repo.tuning_history("g1", streamer) == []
        # Five different people voting the same way do tune it.
        for user in ("a", "b", "c", "d"):
            for clip in clips[:6]:
                await storage.repo.vote(clip.id, user, -1 if clip.signals["audio.rms"] else 1, guild_id="g1")
        tuned = await tuner.retune("g1", streamer)
        assert tuned is not None and tuned.params["w_audio_rms"] < tuned.params["w_chat_hype"]


def test_a_heavy_voter_weighs_no_more_than_ten_votes() -> None:
    clips = []
    for i in range(200):
        loud = i % 2 == 0
        ballots = [("heavy", 1 if loud else -1)]  # one account votes on every clip
        if i < 8:
            ballots += [(m, -1 if loud else 1) for m in ("m1", "m2", "m3", "m4", "m5")]  # the community
        clips.append(VotedClip({"audio.rms": 3.0 * loud, "chat.hype": 3.0 * (not loud)},
                               up=sum(v > 0 for _, v in ballots), down=sum(v < 0 for _, v in ballots),
                               voters=tuple(ballots)))
    capped = propose(clips, options=TuningOptions())
    uncapped = propose(clips, options=TuningOptions(max_votes_per_voter=1e9))
    assert capped is not None and uncapped is not None
    assert uncapped.params["w_audio_rms"] > uncapped.params["w_chat_hype"], "without the cap the attack works"
    assert capped.params["w_chat_hype"] > capped.params["w_audio_rms"], "with it the community's taste wins"
    assert "after capping heavy voters" in capped.reason


async def test_votes_from_another_guild_are_refused_and_never_tune_it(backend_url: tuple[str, str]) -> None:
    async with await open_storage(backend_url[1]) as storage:
        streamer, clips = await clips_of_one_guild(storage, 8, guild="g1")
        for n in range(30):
            for clip in clips:
                with pytest.raises(ForeignVote):
                    await storage.repo.vote(clip.id, f"outsider{n}", -1, guild_id="g2")
        for clip in clips:
            assert await storage.repo.list_votes(clip.id) == []
        assert await Tuner(storage.repo, TuningOptions(), retune_every=1).retune("g1", streamer) is None


async def posted(h: BotHarness, job_id: int) -> list:
    """The job's clips once the poster has posted them all (read through the repository)."""
    async def all_posted() -> list | None:
        clips = await h.storage.repo.list_clips(job_id)
        return clips if clips and all(c.message_id for c in clips) else None

    found: list = await h.double.wait_for(all_posted, what=f"the clips of job {job_id} posted")
    return found


async def test_the_bot_tells_a_voter_from_another_server_that_the_vote_does_not_count(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = await BotHarness.start(tmp_path, monkeypatch)
    try:
        # A clip of another guild's job whose vote buttons a member of this guild can click: the button's
        # custom_id names any clip id (``hl:vote:<clip>:<dir>``).
        job = await finished_job(h.storage, h.config.artifacts.root, clips=1, guild_id=999999999999999999)
        clip = (await posted(h, job.id))[0]
        message = h.double.messages[int(clip.message_id or 0)]
        token = h.click(message, f"hl:vote:{clip.id}:up", user=ALICE)
        reply = await h.ephemeral_followup(token)
        assert reply["content"] == "This clip was made for another server, so votes from here do not count."
        assert await h.storage.repo.list_votes(clip.id) == []
    finally:
        await h.close()

"""Posting finished jobs (thread, files within the upload limit, links, reel, exactly once) and voting.

The real bot against the REST double; jobs and clips are made through the real storage ports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.views.clip_post import clip_id_of
from bot.views.clip_text import has_metric
from highlights.doubles.discord import CHANNEL_ID, EPHEMERAL, GUILD_ID
from storage.records import Clip, Job
from tests.bot.harness import ADMIN, ALICE, BOB, BotHarness, voters
from tests.bot.jobs import VOD_ID, finished_job

pytestmark = pytest.mark.timeout(300)  # a guard against hangs, not a speed limit: shared machines are slow
MIB = 1024 * 1024


async def posted(h: BotHarness, job: Job) -> list[Clip]:
    """The job's clips once every one has its message (and the job's posting is marked done)."""
    async def check() -> list[Clip] | None:
        clips = await h.storage.repo.list_clips(job.id)
        done = (await h.bot.state.post(job.id)).done
        return clips if done and all(c.message_id for c in clips) else None

    found: list[Clip] = await h.double.wait_for(check, what=f"the clips of job {job.id} posted")
    return found


def readable(message: dict[str, Any], *, twitch: bool = True) -> None:
    """What every clip post must give a reader: who it is from, a title without metric words, and (for a Twitch
    VOD) a link button to watch it there."""
    embed = message["embeds"][0]
    assert embed["author"]["name"] and not has_metric(embed["title"]), embed
    links = [b for row in message["components"] for b in row["components"] if b["style"] == 5]
    if twitch:
        assert len(links) == 1 and links[0]["label"].startswith("Watch at ") and links[0]["url"] == embed["url"]


def thread_posts(h: BotHarness, thread_id: str) -> list[Any]:
    return h.double.find("POST", f"/channels/{thread_id}/messages")


def labels(message: dict[str, Any]) -> list[str]:
    """The Keep and Skip counts shown on a clip's buttons ("Keep · 3" → "3")."""
    return [str(c.get("label")).rsplit(" · ", 1)[-1] for row in message["components"] for c in row["components"]
            if str(c.get("custom_id") or "").startswith("hl:vote:")]


async def test_a_finished_job_is_posted_in_one_thread_with_files_links_and_buttons(h: BotHarness) -> None:
    job = await finished_job(h.storage, h.config.artifacts.root, clips=3, reel_bytes=4096,
                             files=[{"16:9": 2 * MIB, "thumb": 1000}, {"16:9": 12 * MIB, "9:16": 3 * MIB},
                                    {"16:9": 12 * MIB, "thumb": 2000}])
    clips = await posted(h, job)
    threads = h.double.threads()
    assert len(threads) == 1
    thread = threads[0]
    assert thread["parent_id"] == str(CHANNEL_ID) and thread["name"] == f"Highlights · Twitch VOD {VOD_ID}"
    assert all(c.thread_id == thread["id"] and c.channel_id == str(CHANNEL_ID) for c in clips)
    posts = thread_posts(h, thread["id"])
    assert len(posts) == 4  # three clips, then the reel
    first, second, third, reel = posts
    embed = first.body["embeds"][0]
    assert embed["title"] == "Chat: KEKW ×12"  # what chat said most: no metric in sight
    assert embed["url"] == f"https://www.twitch.tv/videos/{VOD_ID}?t=1h02m03s"
    assert embed["description"].split("\n") == [
        "**#1 of 3** · 27 s · at 1:02:03",
        "**Why it's here:** Chat went 3 times faster than usual, 12 people posted KEKW and it got louder on stream.",
        "> KEKW",
        "Requested by <@1>",
    ]
    assert not has_metric(embed["title"]) and not has_metric(embed["description"])
    assert embed["footer"]["text"].endswith(f"clip {clips[0].id} · job {job.id}") and not embed.get("fields")
    assert [(f["filename"], f["size"]) for f in first.files] == [(f"clip-{clips[0].id}.mp4", 2 * MIB)]
    assert "image" not in embed  # the video is attached: no picture needed
    votes, more = first.body["components"]
    assert [b["custom_id"] for b in votes["components"]] == [f"hl:vote:{clips[0].id}:up", f"hl:vote:{clips[0].id}:down",
                                                             f"hl:details:{clips[0].id}"]
    assert [b["label"] for b in votes["components"]] == ["Keep · 0", "Skip · 0", "Details"]
    assert {b["style"] for b in votes["components"]} == {2}  # all grey: none looks chosen already
    assert [b["label"] for b in more["components"]] == ["+10 s before", "+10 s after", "Vertical 9:16",
                                                        "Watch at 1:02:03 on Twitch"]
    assert [b.get("custom_id") for b in more["components"]] == [f"hl:recut:{clips[0].id}:10:0:h",
                                                                 f"hl:recut:{clips[0].id}:0:10:h",
                                                                 f"hl:recut:{clips[0].id}:0:0:v", None]
    assert more["components"][3]["style"] == 5 and more["components"][3]["url"] == embed["url"]
    assert [f["size"] for f in second.files] == [3 * MIB]  # 16:9 is over 10 MiB: the smaller render
    assert [f["filename"] for f in third.files] == [f"thumb-{clips[2].id}.jpg"]  # no video fits: the picture
    third_embed = third.body["embeds"][0]
    assert third_embed["image"]["url"] == f"attachment://thumb-{clips[2].id}.jpg"
    assert ("📎 The video (12.0 MiB) is over this server's upload limit (10 MiB). Watch it on Twitch with the button "
            "below.") in third_embed["description"]
    for clip in clips:
        readable(h.double.messages[int(clip.message_id or 0)])
    assert embed["author"] == {"name": f"Twitch VOD {VOD_ID}", "url": f"https://www.twitch.tv/videos/{VOD_ID}"}
    assert reel.body["embeds"][0]["footer"]["text"] == f"reel of job {job.id}"
    assert reel.body["embeds"][0]["title"] == "All of this VOD's clips in one video"
    assert [f["filename"] for f in reel.files] == [f"reel-{job.id}.mp4"]


async def test_a_post_names_the_streamer_the_vod_and_who_asked(h: BotHarness) -> None:
    await h.storage.repo.upsert_streamer("somestreamer", display_name="SomeStreamer")
    job = await finished_job(h.storage, h.config.artifacts.root, clips=2, streamer="somestreamer",
                             vod_title="Finals night")
    clips = await posted(h, job)
    assert h.double.threads()[0]["name"] == "Highlights · “Finals night” · SomeStreamer"
    for clip in clips:
        readable(h.double.messages[int(clip.message_id or 0)])
        embed = h.double.messages[int(clip.message_id or 0)]["embeds"][0]
        assert embed["author"] == {"name": "SomeStreamer", "url": "https://www.twitch.tv/somestreamer"}
        assert f"**#{clip.rank} of 2** · 27 s · at " in embed["description"]
        assert " of “Finals night”" in embed["description"] and "timestamp" in embed
        watch = h.double.messages[int(clip.message_id or 0)]["components"][1]["components"][-1]
        assert watch["style"] == 5 and watch["label"].startswith("Watch at ") and "?t=" in watch["url"]


async def test_the_readme_example_post(h: BotHarness) -> None:
    """The clip post the README shows, word for word."""
    from storage.repo.port import ClipDraft
    from tests.bot.jobs import WORKER, claim

    streamer = await h.storage.repo.upsert_streamer("somestreamer", display_name="SomeStreamer")
    await h.answer(h.slash("highlights", vod=VOD_ID, top=3, streamer="somestreamer"))
    job = await claim(h.storage)
    vod = await h.storage.repo.upsert_vod(source=f"https://www.twitch.tv/videos/{VOD_ID}", twitch_vod_id=VOD_ID,
                                          streamer_id=streamer.id)
    said = {"summary": "chat ×4.1 over baseline (12.8 msg/s); PogChamp ×56, LUL ×41; audio z +4.5; chat lag 28 s",
            "contributions": {"chat.hype": 1.9, "audio.rms": 0.9}, "chat_lag_s": 28.0, "chat_rate_ratio": 4.1,
            "top_emotes": [["PogChamp", 56], ["LUL", 41]], "audio_z": 4.5, "segment": "gameplay",
            "quote": "no way he hit that",
            "chat_sample": ["frostninja: NO WAY", "pixelcat: CLIP IT", "megabean: PogChamp PogChamp"]}
    drafts = [ClipDraft(rank=i + 1, start_s=3723.0 + 400 * i, end_s=3750.0 + 400 * i, peak_s=3735.0 + 400 * i,
                        score=2.87 - i, signals={"chat.hype": 1.3}, explanation=said) for i in range(2)]
    stored = await h.storage.repo.save_candidates(job.id, drafts, vod_id=vod.id)
    assert await h.storage.queue.complete(job.id, WORKER, {"clips": [c.id for c in stored], "candidates": 2})
    clip = (await posted(h, job))[0]
    message = h.double.messages[int(clip.message_id or 0)]
    embed = message["embeds"][0]
    assert embed["author"] == {"name": "SomeStreamer", "url": "https://www.twitch.tv/somestreamer"}
    assert embed["title"] == "“no way he hit that”"
    assert embed["url"] == f"https://www.twitch.tv/videos/{VOD_ID}?t=1h02m03s"
    assert embed["description"].split("\n") == [
        "**#1 of 2** · 27 s · at 1:02:03",
        "**Why it's here:** Chat went 4 times faster than usual, 56 people posted PogChamp and it got much louder "
        "on stream during gameplay.",
        "> frostninja: NO WAY", "> pixelcat: CLIP IT", "> megabean: PogChamp PogChamp",
        f"Requested by <@{ALICE.id}>"]
    assert embed["footer"]["text"] == f"👍 Keep / 👎 Skip teach the bot what this server likes · clip {clip.id} · job 1"
    assert [[b["label"] for b in row["components"]] for row in message["components"]] == [
        ["Keep · 0", "Skip · 0", "Details"], ["+10 s before", "+10 s after", "Vertical 9:16", "Watch at 1:02:03 on Twitch"]]


async def test_details_answer_privately_with_the_numbers(h: BotHarness) -> None:
    job = await finished_job(h.storage, h.config.artifacts.root, clips=2)
    clip = (await posted(h, job))[0]
    token = h.click(h.double.messages[int(clip.message_id or 0)], f"hl:details:{clip.id}", user=BOB)
    text = await h.answer(token)
    assert h.double.callback(token).body == {"type": 5, "data": {"flags": EPHEMERAL}}  # type: ignore[union-attr]
    assert text.startswith("**Why clip #1 of 2 was picked — the numbers**\nScore 4.50")
    assert "Chat pace ×3.0 over its local baseline." in text and "Audio loudness z-score +2.0" in text
    assert "Chat lag 18 s" in text and "Top emotes: KEKW ×12, LUL ×4" in text


async def test_a_boosted_server_gets_the_bigger_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = await BotHarness.start(tmp_path, monkeypatch, premium_tier=2)  # 50 MiB uploads
    try:
        job = await finished_job(h.storage, h.config.artifacts.root, clips=1, files=[{"16:9": 12 * MIB, "9:16": MIB}])
        clips = await posted(h, job)
        post = thread_posts(h, clips[0].thread_id or "")[0]
        assert [f["size"] for f in post.files] == [12 * MIB]
    finally:
        await h.close()


async def test_local_vods_and_clips_without_renders_are_posted_without_a_link(h: BotHarness) -> None:
    job = await finished_job(h.storage, h.config.artifacts.root, clips=2, twitch_id=None)
    clips = await posted(h, job)
    message = h.double.messages[int(clips[0].message_id or 0)]
    embed = message["embeds"][0]
    assert "url" not in embed and embed["author"] == {"name": "local.mp4"}
    readable(message, twitch=False)
    assert embed["description"].startswith("**#1 of 2** · 27 s · at 1:02:03 in local.mp4\n")
    assert all(b["style"] != 5 for row in message["components"] for b in row["components"])  # no public link


async def test_clips_go_to_the_channel_chosen_with_setup(h: BotHarness) -> None:
    from bot.state import GuildSettings
    from highlights.doubles.discord import OTHER_CHANNEL_ID

    await h.bot.state.set_guild(str(GUILD_ID), GuildSettings(clip_channel_id=str(OTHER_CHANNEL_ID)))
    job = await finished_job(h.storage, h.config.artifacts.root, clips=1)
    await posted(h, job)
    assert h.double.threads()[0]["parent_id"] == str(OTHER_CHANNEL_ID)


async def test_a_restart_never_posts_twice_even_without_the_state_file(h: BotHarness) -> None:
    job = await finished_job(h.storage, h.config.artifacts.root, clips=2, reel_bytes=100)
    await posted(h, job)
    assert len(h.double.find("POST", "/messages")) == 3
    await h.restart()
    await h.bot.poster.run_once()  # a whole pass over the finished jobs, after the restart
    h.config.state_path.unlink()
    await h.restart()
    await h.bot.poster.run_once()
    assert len(h.double.find("POST", "/messages")) == 3 and len(h.double.threads()) == 1


class Crash(Exception):
    """Stands for the bot process dying."""


class CrashAfterSend:
    """The repository, except that recording a clip's message fails once: a crash between send and record."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.crashed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def set_clip_message(self, clip_id: int, **kwargs: Any) -> Clip:
        if not self.crashed:
            self.crashed = True
            raise Crash("the bot died right after Discord accepted the message")
        return await self.inner.set_clip_message(clip_id, **kwargs)


async def test_a_crash_between_sending_and_recording_does_not_post_twice_or_lose_a_clip(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = await BotHarness.start(tmp_path, monkeypatch)
    try:
        await h.bot.poster.stop()  # posting only when the test says so
        job = await finished_job(h.storage, h.config.artifacts.root, clips=3)
        h.bot.poster.repo = CrashAfterSend(h.storage.repo)  # type: ignore[assignment]
        with pytest.raises(Crash):
            await h.bot.poster.post_job(job)
        thread_id = h.double.threads()[0]["id"]
        assert len(thread_posts(h, thread_id)) == 1
        assert all(c.message_id is None for c in await h.storage.repo.list_clips(job.id))
        h.bot.poster.repo = h.storage.repo
        h.double.inject(f"POST /channels/{thread_id}/messages", 403, 50013)  # and then Discord refuses one post
        with pytest.raises(discord.Forbidden):
            await h.bot.poster.post_job(job)
        clips = await h.storage.repo.list_clips(job.id)
        assert [bool(c.message_id) for c in clips] == [True, False, False]
        await h.bot.poster.post_job(job)
        clips = await h.storage.repo.list_clips(job.id)
        sent = [r for r in thread_posts(h, thread_id) if r.body]
        ok = [m for m in h.double.channel_messages(int(thread_id))]
        assert len(ok) == 3 and len(sent) == 4  # one refused, none twice
        assert sorted(clip_id_of(m["embeds"]) for m in ok) == sorted(c.id for c in clips)  # type: ignore[type-var]
        assert {c.message_id for c in clips} == {m["id"] for m in ok}
        assert len(h.double.threads()) == 1
    finally:
        await h.close()


async def test_votes_toggle_change_and_explain_themselves(h: BotHarness) -> None:
    job = await finished_job(h.storage, h.config.artifacts.root, clips=1, streamer="somestreamer")
    clip = (await posted(h, job))[0]
    message = h.double.messages[int(clip.message_id or 0)]
    up, down = f"hl:vote:{clip.id}:up", f"hl:vote:{clip.id}:down"

    token = h.click(message, up, user=ALICE)
    await h.double.wait_for(lambda: labels(h.double.messages[int(message["id"])]) == ["1", "0"], what="1 up")
    callback = h.double.callback(token)
    assert callback is not None and callback.body == {"type": 6}
    assert callback.at - h.double.interactions[token].fed_at < 3.0
    thanks = (await h.ephemeral_followup(token))["content"]
    assert thanks == ("Thanks — counted as 👍 Keep. Votes in this server tune which moments the bot picks from "
                      "**somestreamer**'s next VODs. Press Keep again to take your vote back.")
    shown = h.double.messages[int(message["id"])]
    assert [b["label"] for b in shown["components"][0]["components"]] == ["Keep · 1", "Skip · 0", "Details"]
    assert shown["components"][1] == message["components"][1]  # the re-cut row and the Watch link stay as they were

    again = h.click(message, up, user=ALICE)  # the same button again: the vote is taken back
    assert (await h.ephemeral_followup(again))["content"] == "Your 👍 Keep vote is taken back."
    await h.double.wait_for(lambda: labels(h.double.messages[int(message["id"])]) == ["0", "0"], what="taken back")
    assert await h.storage.repo.get_vote(clip.id, str(ALICE.id)) is None

    first = h.click(message, down, user=ALICE)
    await h.double.wait_for(lambda: labels(h.double.messages[int(message["id"])]) == ["0", "1"], what="1 down")
    assert (await h.ephemeral_followup(first))["content"].startswith("Thanks — counted as 👎 Skip.")
    changed = h.click(message, up, user=ALICE)
    await h.double.wait_for(lambda: labels(h.double.messages[int(message["id"])]) == ["1", "0"], what="changed")
    assert (await h.ephemeral_followup(changed))["content"] == "Changed your vote to 👍 Keep."
    h.click(message, up, user=BOB)
    await h.double.wait_for(lambda: labels(h.double.messages[int(message["id"])]) == ["2", "0"], what="two voters")
    stored = await h.storage.repo.get_clip(clip.id)
    assert (stored.up_votes, stored.down_votes) == (2, 0)


async def test_vote_buttons_keep_working_after_a_restart(h: BotHarness) -> None:
    job = await finished_job(h.storage, h.config.artifacts.root, clips=1)
    clip = (await posted(h, job))[0]
    await h.restart()
    message = h.double.messages[int(clip.message_id or 0)]
    h.click(message, f"hl:vote:{clip.id}:down", user=BOB)
    await h.double.wait_for(lambda: labels(h.double.messages[int(message["id"])]) == ["0", "1"])


async def test_a_vote_on_a_clip_that_is_gone_gets_a_short_answer(h: BotHarness) -> None:
    job = await finished_job(h.storage, h.config.artifacts.root, clips=1)
    clip = (await posted(h, job))[0]
    message = json.loads(json.dumps(h.double.messages[int(clip.message_id or 0)]))
    for button in message["components"][0]["components"]:  # as if the clip's row had been deleted since
        button["custom_id"] = button["custom_id"].replace(f":{clip.id}:", ":987654:")
    token = h.click(message, "hl:vote:987654:up")
    assert (await h.ephemeral_followup(token))["content"].startswith("This clip is no longer in the database")


async def test_votes_tune_the_streamer_after_the_minimum_and_cards_say_so(h: BotHarness) -> None:
    signals = [{"chat.ranker": 4.0, "audio.rms": 0.5}, {"chat.ranker": 2.0, "audio.rms": 2.0},
               {"chat.ranker": 0.5, "audio.rms": 4.0}]
    job = await finished_job(h.storage, h.config.artifacts.root, clips=3, streamer="somestreamer", signals=signals)
    clips = await posted(h, job)
    streamer = await h.storage.repo.find_streamer("somestreamer")
    assert streamer is not None
    for i, voter in enumerate(voters(3)):
        for clip, direction in ((clips[2], "up"), (clips[0], "down")):
            message = h.double.messages[int(clip.message_id or 0)]
            h.click(message, f"hl:vote:{clip.id}:{direction}", user=voter)
            await h.double.wait_for(lambda m=message, n=i + 1, d=direction: labels(h.double.messages[int(m["id"])])
                                    [0 if d == "up" else 1] == str(n))
    await h.idle()  # every click handled to its end (the last one kicks the tuner after updating the counts)
    await h.bot.tuner.wait_idle()
    tuning = await h.storage.repo.current_tuning(str(GUILD_ID), streamer.id)
    assert tuning is not None and tuning.created_by is None and tuning.votes_used == 6
    assert tuning.reason.startswith("6 votes on 2 clips (3 up, 3 down): ")
    assert tuning.params["w_audio_rms"] > 1.0 > tuning.params["w_chat_ranker"]
    token = h.slash("highlights", vod="2099999999", streamer="somestreamer")
    await h.answer(token)
    card = await h.double.wait_for(lambda: [m for m in h.double.messages.values() if m["embeds"]
                                            and "2099999999" in m["embeds"][0].get("title", "")])
    await h.double.wait_for(lambda: any(f["value"] == "tuned from 6 votes" for f in
                                        h.double.messages[int(card[0]["id"])]["embeds"][0]["fields"]),
                            what="the card's tuning line")
    assert card[0]["flags"] & EPHEMERAL == 0

    # An admin's reset is a new start: the votes before it no longer count.
    assert "default settings again (version 2)" in await h.answer(
        h.slash("tuning", sub="reset", user=ADMIN, streamer="somestreamer"))
    late = voters(4)[3]
    h.click(h.double.messages[int(clips[1].message_id or 0)], f"hl:vote:{clips[1].id}:up", user=late)
    await h.double.wait_for(lambda: labels(h.double.messages[int(clips[1].message_id or 0)])[0] == "1")
    await h.idle()
    await h.bot.tuner.wait_idle()
    current = await h.storage.repo.current_tuning(str(GUILD_ID), streamer.id)
    assert current is not None and current.version == 2 and current.params == {}
    assert await h.bot.tuner.retune(str(GUILD_ID), streamer.id) is None  # 1 vote since the reset: too few

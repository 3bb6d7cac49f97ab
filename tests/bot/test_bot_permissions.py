"""Permissions a moderator can fix, and Discord's refusals as the bot meets them in a server.

/setup names exactly what the bot lacks in the clip channel; /highlights refuses at once, privately,
when the clips could not be posted; a post Discord refuses (50013) is shown on the job card with what
to fix and retries stop, without holding up other jobs, until /setup resumes it; a card edit Discord
refuses stops after a few tries and the requester is told; an expired interaction token (50027), a
rate limit (429) and a file Discord finds too large (413) are handled; a card sent just before a crash
is found again after the restart. The real bot against the strict Discord double.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.cards import CARD_EDIT_TRIES
from bot.poster import REFUSED_TRIES, TOO_LARGE
from bot.state import CardRef
from highlights.doubles import discord_permissions as perm
from highlights.doubles.discord import CHANNEL_ID, EPHEMERAL, OTHER_CHANNEL_ID
from storage.records import JobStatus
from tests.bot.harness import ADMIN, BotHarness
from tests.bot.jobs import WORKER, claim, finish, finished_job

pytestmark = pytest.mark.timeout(300)  # a guard against hangs, not a speed limit: shared machines are slow
VOD = "https://www.twitch.tv/videos/2012345678"
MIB = 1024 * 1024
FAST = {"post_retry_s": 0.02, "post_poll_s": 0.05}
"""Posting retried within a fraction of a second, so the bounded retries run out during the test."""


@pytest.fixture
async def h(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.start(tmp_path, monkeypatch, **FAST)
    try:
        yield harness
    finally:
        await harness.close()


def fields(message: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message["embeds"][0].get("fields", [])}


def card_of(h: BotHarness, token: str) -> dict[str, Any] | None:
    info = h.double.interactions.get(token)
    for mid in sorted(info.followups if info else ()):
        if h.double.messages[mid]["embeds"]:
            return h.double.messages[mid]
    return None


async def card(h: BotHarness, token: str) -> dict[str, Any]:
    found: dict[str, Any] = await h.double.wait_for(lambda: card_of(h, token), what="the job card")
    return found


def setup(h: BotHarness, **options: Any) -> str:
    resolved = None
    if "clip_channel" in options:
        cid = options["clip_channel"]
        resolved = {"channels": {str(cid): {"id": str(cid), "type": 0, "name": "clips", "permissions": "0"}}}
        options["clip_channel"] = str(cid)
    return h.slash("setup", user=ADMIN, resolved=resolved, **options)


async def test_setup_names_exactly_what_is_missing_in_the_clip_channel(h: BotHarness) -> None:
    h.set_bot_overwrite(OTHER_CHANNEL_ID, deny=perm.ATTACH_FILES)
    text = await h.answer(setup(h, clip_channel=OTHER_CHANNEL_ID))
    assert f"In <#{OTHER_CHANNEL_ID}> I am missing **Attach Files**. A moderator can grant them" in text
    h.set_bot_overwrite(OTHER_CHANNEL_ID, deny=perm.ATTACH_FILES | perm.READ_MESSAGE_HISTORY | perm.CREATE_PUBLIC_THREADS)
    text = await h.answer(setup(h))
    assert "missing **Attach Files**, **Read Message History**, **Create Public Threads**." in text
    h.set_bot_overwrite(OTHER_CHANNEL_ID, deny=perm.VIEW_CHANNEL)
    assert "missing **View Channel**, **Send Messages**, **Embed Links**" in await h.answer(setup(h))
    h.set_bot_overwrite(OTHER_CHANNEL_ID)
    assert f"✅ I can post clips in <#{OTHER_CHANNEL_ID}>." in await h.answer(setup(h))


async def test_setup_without_a_clip_channel_checks_the_channel_it_is_run_in(h: BotHarness) -> None:
    h.set_bot_overwrite(CHANNEL_ID, deny=perm.SEND_MESSAGES_IN_THREADS)
    text = await h.answer(setup(h, jobs_at_once=3))
    assert text.startswith("Saved.") and f"In <#{CHANNEL_ID}> I am missing **Send Messages in Threads**." in text
    assert "(checked here; each request's own channel is checked when it is made)" in text


async def test_highlights_refuses_at_once_privately_when_the_clips_could_not_be_posted(h: BotHarness) -> None:
    h.set_bot_overwrite(CHANNEL_ID, deny=perm.ATTACH_FILES)
    token = h.slash("highlights", vod=VOD)
    answer = await h.answer(token)
    assert answer.startswith(f"In <#{CHANNEL_ID}> I am missing **Attach Files**.") and "nothing was queued" in answer
    callback = h.double.callback(token)
    assert callback is not None and callback.body is not None and callback.body["type"] == 4  # at once, no deferral
    assert callback.body["data"]["flags"] == EPHEMERAL
    assert await h.storage.queue.list_jobs() == []
    # the clips go to the clip channel: it is that channel that counts, not the one the request came from
    h.set_bot_overwrite(CHANNEL_ID)
    h.set_bot_overwrite(OTHER_CHANNEL_ID, deny=perm.CREATE_PUBLIC_THREADS)
    await h.answer(setup(h, clip_channel=OTHER_CHANNEL_ID))
    answer = await h.answer(h.slash("highlights", vod=VOD))
    assert answer.startswith(f"In <#{OTHER_CHANNEL_ID}> I am missing **Create Public Threads**.")
    assert await h.storage.queue.list_jobs() == []


async def test_a_post_refused_with_50013_shows_on_the_card_and_retries_stop_until_setup(h: BotHarness) -> None:
    token = h.slash("highlights", vod=VOD)
    await h.answer(token)
    card_id = int((await card(h, token))["id"])
    h.set_bot_overwrite(CHANNEL_ID, deny=perm.ATTACH_FILES)  # a moderator takes Attach Files away meanwhile
    job = await finish(h.storage, h.config.artifacts.root, await claim(h.storage), clips=2,
                       files=[{"16:9": MIB}, {"16:9": MIB}])

    def warning() -> str | None:
        return fields(h.double.messages[card_id]).get("⚠️ Not posted")

    text = await h.double.wait_for(warning, what="the card saying why the clips are not posted")
    assert text == (f"Discord refused to post the clips. In <#{CHANNEL_ID}> I am missing **Attach Files**. A moderator "
                    "can grant them to my role in the channel's settings (Permissions), then run /setup to check.")
    assert fields(h.double.messages[card_id])["Status"] == "done"
    refused = h.double.find("POST", "/messages", ok=False)
    assert len(refused) == REFUSED_TRIES and all(r.status == 403 for r in refused)
    await h.bot.poster.run_once()  # a whole pass later: posting this job has stopped
    assert len(h.double.find("POST", "/messages", ok=False)) == REFUSED_TRIES
    assert (await h.bot.state.post(job.id)).stopped
    assert "⚠️ Discord refused to post the clips" in await h.answer(h.slash("jobs"))

    h.set_bot_overwrite(CHANNEL_ID)  # fixed; /setup checks and resumes
    resumed = await h.answer(setup(h))
    assert f"✅ I can post clips in <#{CHANNEL_ID}>" in resumed and "the clips of 1 job(s)" in resumed

    async def all_posted() -> bool:
        return all(c.message_id for c in await h.storage.repo.list_clips(job.id))

    await h.double.wait_for(all_posted, what="the clips posted after /setup")
    await h.double.wait_for(lambda: "⚠️ Not posted" not in fields(h.double.messages[card_id]),
                            what="the card without its warning")


async def test_refused_posts_of_one_job_never_hold_up_another(h: BotHarness) -> None:
    h.set_bot_overwrite(CHANNEL_ID, deny=perm.EMBED_LINKS)
    blocked = await finished_job(h.storage, h.config.artifacts.root, clips=2)
    fine = await finished_job(h.storage, h.config.artifacts.root, clips=2, channel_id=OTHER_CHANNEL_ID)

    async def other_posted() -> bool:
        return all(c.message_id for c in await h.storage.repo.list_clips(fine.id))

    await h.double.wait_for(other_posted, what="the other job's clips")

    async def stopped() -> bool:
        return (await h.bot.state.post(blocked.id)).stopped

    await h.double.wait_for(stopped, what="the refused job's posting stopped")
    assert not any(c.message_id for c in await h.storage.repo.list_clips(blocked.id))


async def test_a_card_edit_discord_refuses_stops_and_the_requester_is_told(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    h = await BotHarness.start(tmp_path, monkeypatch, webhook_edit_max_age_s=0.0, **FAST)  # cards edited via channels
    try:
        token = h.slash("highlights", vod=VOD)
        await h.answer(token)
        await card(h, token)
        other = h.slash("highlights", vod="2099999999", channel_id=OTHER_CHANNEL_ID)
        await h.answer(other)
        other_id = int((await card(h, other))["id"])
        h.set_bot_overwrite(CHANNEL_ID, deny=perm.VIEW_CHANNEL)  # the bot can no longer see the first card
        first, second = await claim(h.storage), await claim(h.storage)
        for job in (first, second):
            await h.storage.queue.progress(job.id, WORKER, stage="signal chat", fraction=0.5)
        told = await h.ephemeral_followup(token)
        assert "I am missing **View Channel**" in told["content"] and "/jobs shows how job #1 goes" in told["content"]
        edits = h.double.find("PATCH", f"/channels/{CHANNEL_ID}/messages/")
        assert len(edits) == CARD_EDIT_TRIES and {r.status for r in edits} == {403}
        await h.double.wait_for(lambda: fields(h.double.messages[other_id]).get("Stage") == "signal chat",
                                what="the other card still updated")
        await h.storage.queue.progress(first.id, WORKER, stage="render", fraction=0.8)
        await h.double.wait_for(lambda: h.bot.cards.tracked == 1, what="the refused card no longer tracked")
        assert len(h.double.find("PATCH", f"/channels/{CHANNEL_ID}/messages/")) == CARD_EDIT_TRIES
        assert "I am missing **View Channel**" in await h.answer(h.slash("jobs", channel_id=OTHER_CHANNEL_ID))
    finally:
        await h.close()


async def test_a_card_edit_with_an_expired_token_goes_through_the_channel(h: BotHarness) -> None:
    token = h.slash("highlights", vod=VOD)
    await h.answer(token)
    card_id = int((await card(h, token))["id"])
    h.double.age(token, 15 * 60)  # Discord's clock says the token expired, ours not yet
    job = await claim(h.storage)
    await h.storage.queue.progress(job.id, WORKER, stage="signal chat", fraction=0.5)
    await h.double.wait_for(lambda: fields(h.double.messages[card_id]).get("Stage") == "signal chat",
                            what="the card edited through the channel")
    webhook_edits = [r for r in h.double.find("PATCH", "/webhooks/") if r.path.endswith(f"/messages/{card_id}")]
    assert [r.status for r in webhook_edits] == [401]
    assert [r.status for r in h.double.find("PATCH", f"/channels/{CHANNEL_ID}/messages/{card_id}")] == [200]


async def test_a_file_discord_finds_too_large_is_posted_without_it(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    h = await BotHarness.start(tmp_path, monkeypatch, premium_tier=2, **FAST)  # the bot's cache: 50 MiB uploads
    try:
        h.double.premium_tier = 0  # the server lost its boosts; the bot has not heard yet
        job = await finished_job(h.storage, h.config.artifacts.root, clips=1, files=[{"16:9": 12 * MIB}])

        async def posted() -> bool:
            return all(c.message_id for c in await h.storage.repo.list_clips(job.id))

        await h.double.wait_for(posted, what="the clip posted")
        sent = h.double.find("POST", "/messages")
        assert [r.status for r in sent] == [413, 200] and sent[1].files == []
        note = next(f["value"] for f in sent[1].body["embeds"][0]["fields"] if f["name"] == "Video")  # type: ignore[index]
        assert note == TOO_LARGE
    finally:
        await h.close()


async def test_rate_limited_posts_are_sent_once_after_retry_after(h: BotHarness) -> None:
    h.double.rate_limit("POST /channels/", retry_after=0.1, times=2)
    job = await finished_job(h.storage, h.config.artifacts.root, clips=2)

    async def posted() -> bool:
        return (await h.bot.state.post(job.id)).done

    await h.double.wait_for(posted, what="the clips posted")
    statuses = [r.status for r in h.double.find("POST", "/channels/")]
    assert statuses.count(429) == 2 and statuses.count(200) == 3  # the thread and two clips, each once


async def test_long_names_are_cut_to_what_discord_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    media = tmp_path / "media"
    media.mkdir()
    name = "a-very-long-recording-name-" + "x" * 215 + ".mp4"
    (media / name).write_bytes(b"x")
    h = await BotHarness.start(tmp_path, monkeypatch, media_root=media, **FAST)
    try:
        token = h.slash("highlights", vod=name)
        await h.answer(token)
        title = (await card(h, token))["embeds"][0]["title"]
        assert len(title) == 256 and title.endswith("…")
        job = await finish(h.storage, h.config.artifacts.root, await claim(h.storage), clips=1)

        async def posted() -> bool:
            return (await h.bot.state.post(job.id)).done

        await h.double.wait_for(posted, what="the clip posted")
        assert len(h.double.threads()[0]["name"]) <= 100
        assert all(r.status == 200 for r in h.double.find("POST", "/channels/"))
    finally:
        await h.close()


async def test_a_card_sent_just_before_a_crash_is_found_again_after_the_restart(h: BotHarness) -> None:
    saved = h.bot.state.replace_card

    async def die(old: CardRef, new: CardRef) -> None:  # the process ends after Discord took the card
        h.bot.state.replace_card = saved  # type: ignore[method-assign]
        raise asyncio.CancelledError

    h.bot.state.replace_card = die  # type: ignore[method-assign]
    token = h.slash("highlights", vod=VOD)
    await h.answer(token)
    card_id = int((await card(h, token))["id"])
    await h.restart()
    assert [c.message_id for c in await h.bot.state.cards()] in ([""], [str(card_id)])
    job = await claim(h.storage)
    await h.storage.queue.progress(job.id, WORKER, stage="signal chat", fraction=0.5)
    await h.double.wait_for(lambda: fields(h.double.messages[card_id]).get("Stage") == "signal chat",
                            what="the recovered card following its job")
    assert [c.message_id for c in await h.bot.state.cards()] == [str(card_id)]
    await h.storage.queue.complete(job.id, WORKER, {"clips": [], "candidates": 0})
    await h.double.wait_for(lambda: fields(h.double.messages[card_id])["Status"] == "done")
    assert (await h.storage.queue.get(job.id)).status is JobStatus.SUCCEEDED


async def test_a_card_that_was_never_sent_is_forgotten_at_start(h: BotHarness) -> None:
    await h.bot.state.add_card(CardRef(job_id=7, message_id="", channel_id=str(CHANNEL_ID)))
    await h.restart()

    async def forgotten() -> bool:
        return await h.bot.state.cards() == []

    await h.double.wait_for(forgotten, what="the unsent card forgotten")

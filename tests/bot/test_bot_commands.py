"""Slash commands through the real discord.py client against the REST double: what the bot sends back.

/highlights (deferral within the deadline, the job it enqueues, the card and its edits, joining a
job, bad input), /cancel and the card's cancel button (who may), limits and roles, /jobs,
/autoclip with autocomplete, /setup, /tuning, /help.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from highlights.doubles.discord import CHANNEL_ID, EPHEMERAL, GUILD_ID, OTHER_CHANNEL_ID
from storage.records import JobKind, JobRequest, JobStatus
from tests.bot.harness import ADMIN, ALICE, BOB, ROLE_ID, BotHarness, User
from tests.bot.jobs import WORKER, claim

pytestmark = pytest.mark.timeout(300)  # a guard against hangs, not a speed limit: shared machines are slow
VOD = "https://www.twitch.tv/videos/2012345678"


def card_of(h: BotHarness, token: str) -> dict[str, Any] | None:
    """The public job card the bot sent as a follow-up of ``token`` (None until it was sent)."""
    info = h.double.interactions.get(token)
    for mid in sorted(info.followups if info else ()):
        message = h.double.messages[mid]
        if message["embeds"] and str(message["embeds"][0].get("title", "")).startswith("Highlights ·"):
            return message
    return None


async def card(h: BotHarness, token: str) -> dict[str, Any]:
    found: dict[str, Any] = await h.double.wait_for(lambda: card_of(h, token), what=f"the job card of {token}")
    return found


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components") or [] for c in row["components"]]


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


async def test_commands_are_registered_at_start_up(h: BotHarness) -> None:
    put = h.double.find("PUT", "/commands")
    assert len(put) == 1
    names = {c["name"] for c in h.double.commands}
    assert names == {"highlights", "cancel", "jobs", "autoclip", "tuning", "setup", "help"}
    highlights = next(c for c in h.double.commands if c["name"] == "highlights")
    assert [o["name"] for o in highlights["options"]] == ["vod", "top", "layout", "captions", "streamer"]
    assert next(o for o in highlights["options"] if o["name"] == "streamer")["autocomplete"] is True


async def test_highlights_defers_at_once_enqueues_and_shows_a_card(h: BotHarness) -> None:
    token = h.slash("highlights", vod=VOD, top=5, layout="9:16", captions=True)
    answer = await h.answer(token)
    assert answer == "Queued job #1 for Twitch VOD 2012345678. Its card below shows how it goes."
    mine = [r for r in h.double.requests if token in r.path]
    assert mine[0].path.endswith("/callback") and mine[0].body == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert mine[0].at - h.double.interactions[token].fed_at < 3.0  # Discord's deadline for the first answer
    card_msg = await card(h, token)
    assert not card_msg["flags"] & EPHEMERAL  # everyone sees the card
    embed = card_msg["embeds"][0]
    assert embed["title"] == "Highlights · Twitch VOD 2012345678"
    assert fields(embed) == {"Status": "Waiting its turn (#1 in line)"}
    assert embed["footer"]["text"] == "job 1 · only the requester or an admin can cancel"
    assert custom_ids(card_msg) == ["hl:cancel:1"]
    job = await h.storage.queue.get(1)
    assert job.kind is JobKind.DETECT and job.requested_by == str(ALICE.id) and job.channel_id == str(CHANNEL_ID)
    assert job.dedupe_key == f"detect:{job.guild_id}:twitch:2012345678"
    assert job.payload == {"media": None, "chat": None, "settings": {"top_k": 5},
                           "vod": {"twitch_vod_id": "2012345678", "source": VOD, "streamer_id": None},
                           "render": {"layout": "9:16", "captions": True}, "transcript": True, "hybrid": True}


async def test_the_same_vod_again_joins_the_running_job(h: BotHarness) -> None:
    first = h.slash("highlights", vod=VOD)
    await h.answer(first)
    second = h.slash("highlights", vod="2012345678", user=BOB)
    assert "already being processed here (job #1); you joined it" in await h.answer(second)
    assert len(await h.storage.queue.list_jobs()) == 1
    await card(h, second)


@pytest.mark.parametrize("vod, says", [
    ("https://evil.example/videos/2012345678", "Only Twitch VOD links"),
    ("http://10.0.0.7/videos/2012345678", "private or numeric"),
    ("12ab", "not a Twitch VOD id"),
    ("https://www.twitch.tv/somestreamer", "a channel"),
])
async def test_bad_references_get_a_short_private_answer_and_nothing_else(h: BotHarness, vod: str, says: str) -> None:
    token = h.slash("highlights", vod=vod)
    answer = await h.answer(token)
    assert says in answer
    callback = h.double.callback(token)
    assert callback is not None and callback.body is not None
    assert callback.body["type"] == 4 and callback.body["data"]["flags"] == EPHEMERAL
    await h.idle()
    assert [r.path for r in h.double.requests if token in r.path] == [callback.path]
    assert await h.storage.queue.list_jobs() == []


async def test_outside_a_server_commands_are_refused(h: BotHarness) -> None:
    token = h.slash("highlights", vod=VOD, guild=False)
    assert "only inside a server" in await h.answer(token)
    assert await h.storage.queue.list_jobs() == []


async def test_the_card_follows_the_job_and_is_edited_at_most_once_per_interval(h: BotHarness) -> None:
    token = h.slash("highlights", vod=VOD)
    await h.answer(token)
    card_id = (await card(h, token))["id"]
    job = await claim(h.storage)
    for step in range(1, 21):  # a chatty worker: 20 progress writes, 50 ms apart (pacing the worker, not waiting)
        await h.storage.queue.progress(job.id, WORKER, stage="decode audio", fraction=step / 25)
        await asyncio.sleep(0.05)
    await h.double.wait_for(lambda: "Listening for hype" in str(h.double.messages[int(card_id)]["embeds"]),
                            what="a running card")
    running = h.double.messages[int(card_id)]["embeds"][0]
    assert fields(running)["Status"] == "Listening for hype"  # the worker's "decode audio", in words
    assert "%" in fields(running)["Progress"] and " so far · " in fields(running)["Time"]
    assert await h.storage.queue.complete(job.id, WORKER, {"clips": [], "candidates": 0})
    await h.double.wait_for(lambda: fields(h.double.messages[int(card_id)]["embeds"][0])["Status"] == "Done",
                            what="the final card")
    assert fields(h.double.messages[int(card_id)]["embeds"][0])["Clips"].startswith("No clips this time. Nothing in")
    assert h.double.messages[int(card_id)]["components"] == []  # no cancel button on a finished job
    edits = [r.at for r in h.double.requests if r.method == "PATCH" and r.path.endswith(f"/messages/{card_id}")]
    assert len(edits) >= 2  # running, then done: far fewer than the 21 changes
    gaps = [b - a for a, b in zip(edits, edits[1:])]
    assert min(gaps) >= h.config.card_edit_interval_s, gaps  # each edit is sent after the last one's answer + interval
    assert all("/webhooks/" in r.path for r in h.double.requests if r.method == "PATCH" and card_id in r.path)


async def test_cards_older_than_the_interaction_token_are_edited_through_the_channel(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = await BotHarness.start(tmp_path, monkeypatch, webhook_edit_max_age_s=0.0)
    try:
        token = h.slash("highlights", vod=VOD)
        await h.answer(token)
        card_id = (await card(h, token))["id"]
        job = await claim(h.storage)
        await h.storage.queue.progress(job.id, WORKER, stage="signal chat", fraction=0.5)
        await h.double.wait_for(lambda: h.double.find("PATCH", f"/channels/{CHANNEL_ID}/messages/{card_id}"),
                                what="a channel edit of the card")
    finally:
        await h.close()


async def test_only_the_requester_or_an_admin_can_cancel(h: BotHarness) -> None:
    token = h.slash("highlights", vod=VOD)
    await h.answer(token)
    card_msg = await card(h, token)
    denied = h.slash("cancel", user=BOB, job=1)
    assert "Only the person who requested job #1 or a server admin" in await h.answer(denied)
    click = h.click(card_msg, "hl:cancel:1", user=BOB)
    assert "Only the person who requested job #1" in await h.answer(click)
    assert (await h.storage.queue.get(1)).status is JobStatus.QUEUED
    assert "There is no job #999" in await h.answer(h.slash("cancel", job=999))
    assert await h.answer(h.slash("cancel", job=1)) == "Cancelled job #1."
    await h.double.wait_for(lambda: fields(h.double.messages[int(card_msg["id"])]["embeds"][0])["Status"]
                            .startswith("Cancelled"))
    assert "already cancelled" in await h.answer(h.slash("cancel", job=1))
    second = h.slash("highlights", vod="2099999999", user=BOB)
    await h.answer(second)
    await claim(h.storage)  # running now: a cancel is a request the worker sees
    assert "Cancel requested" in await h.answer(h.slash("cancel", user=ADMIN, job=2))
    assert (await h.storage.queue.get(2)).cancel_requested


async def test_the_card_button_cancels_for_its_requester(h: BotHarness) -> None:
    token = h.slash("highlights", vod=VOD)
    await h.answer(token)
    click = h.click(await card(h, token), "hl:cancel:1")
    assert await h.answer(click) == "Cancelled job #1."
    assert h.double.callback(click).body == {"type": 5, "data": {"flags": EPHEMERAL}}  # type: ignore[union-attr]


async def test_rate_limit_and_queue_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = await BotHarness.start(tmp_path, monkeypatch, requests_per_hour=2, active_jobs_per_user=5)
    try:
        for vod in ("2000000001", "2000000002"):
            assert "Queued job" in await h.answer(h.slash("highlights", vod=vod))
        limited = h.slash("highlights", vod="2000000003")
        assert "limit of 2 requests per hour" in await h.answer(limited)
        assert h.double.callback(limited).body["type"] == 4  # type: ignore[union-attr]  # answered before any I/O
        assert "Queued job" in await h.answer(h.slash("highlights", vod="2000000003", user=ADMIN))  # admins: no limit
        assert (await h.answer(h.slash("setup", user=ADMIN, requests_per_hour=10, jobs_at_once=2))).startswith("Saved.")
        assert "Queued job" in await h.answer(h.slash("highlights", vod="2000000004", user=BOB))
        quota = h.slash("highlights", vod="2000000005")
        assert "You already have 2 job(s) waiting or running (#2, #1); the limit here is 2" in await h.answer(quota)
        assert len(await h.storage.queue.list_jobs()) == 4
    finally:
        await h.close()


async def test_setup_limits_requests_to_roles_and_is_for_admins(h: BotHarness) -> None:
    assert "Only server admins" in await h.answer(h.slash("setup", user=BOB, jobs_at_once=9))
    resolved = {"roles": {str(ROLE_ID): {"id": str(ROLE_ID), "name": "requesters", "permissions": "0", "position": 1,
                                         "color": 0, "hoist": False, "managed": False, "mentionable": False}},
                "channels": {str(OTHER_CHANNEL_ID): {"id": str(OTHER_CHANNEL_ID), "type": 0, "name": "clips",
                                                     "permissions": "0"}}}
    saved = await h.answer(h.slash("setup", user=ADMIN, resolved=resolved, allow_role=str(ROLE_ID),
                                   clip_channel=str(OTHER_CHANNEL_ID)))
    assert saved.startswith("Saved.") and f"<@&{ROLE_ID}>" in saved and f"<#{OTHER_CHANNEL_ID}>" in saved
    assert "Only members with one of these roles" in await h.answer(h.slash("highlights", vod=VOD, user=BOB))
    member = User(1400000000000000077, "carol", roles=(ROLE_ID,))
    assert "Queued job" in await h.answer(h.slash("highlights", vod=VOD, user=member))
    reopened = await h.answer(h.slash("setup", user=ADMIN, everyone=True))
    assert "Who may request: everyone" in reopened


async def test_jobs_lists_what_waits_runs_and_finished(h: BotHarness) -> None:
    assert "Nothing is waiting or running" in await h.answer(h.slash("jobs"))
    for vod in ("2000000001", "2000000002", "2000000003"):
        await h.answer(h.slash("highlights", vod=vod, user=ADMIN))
    job = await claim(h.storage)
    await h.storage.queue.progress(job.id, WORKER, stage="signal audio", fraction=0.4)
    await h.storage.queue.cancel(3)
    text = await h.answer(h.slash("jobs"))
    assert "#1 Twitch VOD 2000000001: running 40%: Listening for hype" in text
    assert "#2 Twitch VOD 2000000002: queued (#1 in line)" in text
    assert "Recently finished" in text and "#3 Twitch VOD 2000000003: cancelled" in text


async def test_autoclip_subscriptions_with_autocomplete(h: BotHarness) -> None:
    assert "Only server admins" in await h.answer(h.slash("autoclip", sub="add", user=BOB, streamer="somestreamer"))
    assert "not a Twitch login" in await h.answer(h.slash("autoclip", sub="add", user=ADMIN, streamer="no way!"))
    added = await h.answer(h.slash("autoclip", sub="add", user=ADMIN, streamer="SomeStreamer"))
    assert added == f"New VODs of **somestreamer** will be processed and their clips posted in <#{CHANNEL_ID}>."
    await h.answer(h.slash("autoclip", sub="add", user=ADMIN, streamer="otherone"))
    subs = await h.storage.repo.list_subscriptions(guild_id=str(GUILD_ID))
    assert len(subs) == 2 and {s.channel_id for s in subs} == {str(CHANNEL_ID)}
    assert "**somestreamer** →" in await h.answer(h.slash("autoclip", sub="list", user=BOB))
    token = h.autocomplete("autoclip", "streamer", "some", sub="remove")
    callback = await h.double.wait_for(lambda: h.double.callback(token), what="autocomplete answer")
    assert callback.body == {"type": 8, "data": {"choices": [{"name": "somestreamer", "value": "somestreamer"}]}}
    token = h.autocomplete("highlights", "streamer", "")
    callback = await h.double.wait_for(lambda: h.double.callback(token))
    assert [c["value"] for c in callback.body["data"]["choices"]] == ["otherone", "somestreamer"]
    assert "Stopped processing" in await h.answer(h.slash("autoclip", sub="remove", user=ADMIN, streamer="somestreamer"))
    assert "not subscribed" in await h.answer(h.slash("autoclip", sub="remove", user=ADMIN, streamer="somestreamer"))


async def test_tuning_show_reset_and_rollback(h: BotHarness) -> None:
    repo = h.storage.repo
    streamer = await repo.upsert_streamer("somestreamer")
    guild = str(GUILD_ID)
    assert "No streamer **nobody**" in await h.answer(h.slash("tuning", sub="show", streamer="nobody"))
    assert "is not tuned yet" in await h.answer(h.slash("tuning", sub="show", streamer="somestreamer"))
    await repo.new_tuning_version(guild, streamer.id, {"w_audio_rms": 1.8, "threshold": 1.2},
                                  reason="30 votes on 9 clips: w_audio_rms 1→1.8", votes_used=30)
    shown = await h.answer(h.slash("tuning", sub="show", streamer="somestreamer"))
    assert "version 1, tuned from 30 votes" in shown and "threshold 0.5→1.2" in shown and "w_audio_rms 1→1.8" in shown
    assert "Only server admins" in await h.answer(h.slash("tuning", sub="reset", streamer="somestreamer"))
    reset = await h.answer(h.slash("tuning", sub="reset", user=ADMIN, streamer="somestreamer"))
    assert "default settings again (version 2)" in reset
    assert (await repo.current_tuning(guild, streamer.id)).params == {}  # type: ignore[union-attr]
    back = await h.answer(h.slash("tuning", sub="rollback", user=ADMIN, streamer="somestreamer", version=1))
    assert "back to the settings of version 1 (now version 3)" in back
    assert (await repo.current_tuning(guild, streamer.id)).params == {"w_audio_rms": 1.8, "threshold": 1.2}  # type: ignore[union-attr]
    assert "has no tuning version 99" in await h.answer(
        h.slash("tuning", sub="rollback", user=ADMIN, streamer="somestreamer", version=99))


async def test_local_files_in_the_media_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "stream.mp4").write_bytes(b"x")
    (media / "stream.jsonl").write_text("{}\n")
    h = await BotHarness.start(tmp_path, monkeypatch, media_root=media)
    try:
        assert "outside the folder" in await h.answer(h.slash("highlights", vod="../bot.db"))
        assert "Queued job #1 for stream.mp4" in await h.answer(h.slash("highlights", vod="stream.mp4",
                                                                        streamer="somestreamer"))
        job = await h.storage.queue.get(1)
        assert job.payload["media"] == str((media / "stream.mp4").resolve())
        assert job.payload["chat"] == str((media / "stream.jsonl").resolve())
        streamer = await h.storage.repo.find_streamer("somestreamer")
        assert streamer is not None and job.payload["vod"]["streamer_id"] == streamer.id
    finally:
        await h.close()


async def test_help(h: BotHarness) -> None:
    text = await h.answer(h.slash("help"))
    assert text.startswith("**Highlights bot**") and "/highlights" in text
    assert h.double.callback(h.tokens[-1]).body["data"]["flags"] == EPHEMERAL  # type: ignore[union-attr]


async def test_a_queued_job_from_elsewhere_is_not_visible_to_cancel(h: BotHarness) -> None:
    other = await h.storage.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload={"media": "/x.mp4"}, guild_id="42"))
    assert f"There is no job #{other.job.id} in this server" in await h.answer(h.slash("cancel", user=ADMIN,
                                                                                      job=other.job.id))


async def test_a_failed_job_shows_its_error_on_the_card(h: BotHarness) -> None:
    token = h.slash("highlights", vod=VOD)
    await h.answer(token)
    card_id = int((await card(h, token))["id"])
    job = await claim(h.storage)
    await h.storage.queue.fail(job.id, WORKER, code="media_error", message="moov atom not found", retryable=False)
    await h.double.wait_for(lambda: fields(h.double.messages[card_id]["embeds"][0])["Status"] == "Failed")
    said = fields(h.double.messages[card_id]["embeds"][0])["What went wrong"]
    assert said == ("It stopped because the video or audio could not be read (the file may be damaged or incomplete). "
                    "What to try: try another copy of the VOD, or ask an admin to check the file.")
    assert "moov" not in said and "media_error" not in said
    assert h.double.messages[card_id]["components"] == []
    assert h.double.threads() == []  # nothing to post


async def test_cards_keep_following_their_job_after_a_restart(h: BotHarness) -> None:
    token = h.slash("highlights", vod=VOD)
    await h.answer(token)
    card_id = (await card(h, token))["id"]
    await h.restart()
    job = await claim(h.storage)
    await h.storage.queue.progress(job.id, WORKER, stage="signal chat", fraction=0.5)
    await h.double.wait_for(lambda: fields(h.double.messages[int(card_id)]["embeds"][0]).get("Status") == "Reading chat",
                            what="the restarted bot editing the card")
    edits = [r.path for r in h.double.requests if r.method == "PATCH" and r.path.endswith(f"/messages/{card_id}")]
    assert edits and all(p == f"/channels/{CHANNEL_ID}/messages/{card_id}" for p in edits)  # no token after a restart

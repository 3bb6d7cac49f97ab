"""The bot with Twitch's API: /highlights checks VODs and resolves channels, /autoclip add checks logins,
and clip posts show the segment, the caption and muted (DMCA) parts.

The real bot against the Discord REST double, and the real Helix facade (twitchAPI, aiohttp) against the
local Helix double (``tests.helix_double``): nothing leaves 127.0.0.1. Assertions are on what the bot
sends to Discord (deferral, ephemeral flags, texts, embeds) and on the jobs it queues.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.errors import BadVodReference
from bot.vodref import parse_vod
from highlights.doubles.discord import CHANNEL_ID, EPHEMERAL, GUILD_ID
from storage.factory import Storage
from storage.records import Job, JobKind, JobRequest
from storage.repo.port import ClipDraft
from storage.twitch import HelixSettings
from tests.bot.harness import ADMIN, BOB, BotHarness
from tests.bot.jobs import WORKER, claim, explanation
from tests.helix_double import HelixDouble

pytestmark = pytest.mark.timeout(300)  # a guard against hangs, not a speed limit: shared machines are slow
LOGIN = "somestreamer"


@pytest.fixture
def twitch() -> Iterator[HelixDouble]:
    with HelixDouble() as double:
        double.add_user(LOGIN, display_name="SomeStreamer")
        yield double


def settings(double: HelixDouble) -> HelixSettings:
    return HelixSettings.from_env(double.env(), attempts=2, backoff_s=0.01, timeout_s=3.0, max_wait_s=0.5)


def twitch_down() -> HelixSettings:
    """Helix and its token endpoint on a port where nothing listens: every request is refused.

    (An outage by refused connections rather than 5xx answers: see the report on ``storage.twitch.client``,
    which does not release a 5xx response before raising, so aiohttp logs "Unclosed connection".)"""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"TWITCH_CLIENT_ID": "id", "TWITCH_CLIENT_SECRET": "secret",
           "HIGHLIGHTS_HELIX_URL": f"http://127.0.0.1:{port}/helix", "HIGHLIGHTS_TWITCH_AUTH_URL": f"http://127.0.0.1:{port}/oauth2"}
    return HelixSettings.from_env(env, attempts=2, backoff_s=0.01, timeout_s=3.0)


@pytest.fixture
async def h(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, twitch: HelixDouble) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.start(tmp_path, monkeypatch, twitch=settings(twitch))
    try:
        yield harness
    finally:
        await harness.close()


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


def has_embeds(body: Any) -> bool:
    return isinstance(body, dict) and bool(body.get("embeds"))


def cards(h: BotHarness) -> list[dict[str, Any]]:
    return [m for m in h.double.messages.values()
            if m["embeds"] and m["embeds"][0].get("title", "").startswith("Highlights ·") and m.get("type") == 20]


async def queued(h: BotHarness, token: str) -> str:
    """The answer to ``token``, once its job card was sent too (so nothing is in flight when the test ends)."""
    answer = await h.answer(token)
    await h.double.wait_for(lambda: [r for r in h.double.requests if r.method == "POST"
                                     and r.path.endswith(f"/{token}") and has_embeds(r.body)],
                            what=f"the card of {token}")
    return answer


async def refused_after_deferring(h: BotHarness, token: str) -> str:
    """The answer to ``token``, checking it was deferred (privately) first, privately answered, and no card sent."""
    answer = await h.answer(token)
    callback = h.double.callback(token)
    assert callback is not None and callback.body == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert callback.at - h.double.interactions[token].fed_at < 3.0
    original = h.double.original(token)
    assert original is not None and original["flags"] & EPHEMERAL
    await h.idle()
    assert not [r for r in h.double.requests if r.path.endswith(f"/{token}") and has_embeds(r.body)]
    assert cards(h) == []
    return answer


# -- what counts as a channel (bot.vodref, no network) -----------------------------------------------------
@pytest.mark.parametrize("typed, vod_id, channel", [
    ("https://www.twitch.tv/SomeStreamer", None, "somestreamer"),
    ("twitch.tv/somestreamer/videos", None, "somestreamer"),
    ("somestreamer", None, "somestreamer"),
    ("summit1g", None, "summit1g"),
    ("@12ab", None, "12ab"),  # @: a channel whatever its shape
    ("v2012345678", "2012345678", None),
    ("https://www.twitch.tv/videos/2012345678", "2012345678", None),
])
def test_channels_are_read_only_where_allowed(typed: str, vod_id: str | None, channel: str | None) -> None:
    ref = parse_vod(typed, None, allow_channel=True)
    assert (ref.twitch_vod_id, ref.channel) == (vod_id, channel)
    if channel is not None:
        with pytest.raises(BadVodReference):  # the default stays "VODs only"
            parse_vod(typed, None)


@pytest.mark.parametrize("typed, says", [
    ("12ab", "not a Twitch VOD id"),  # a digit first: a mistyped id, not a channel
    ("v12345", "not a Twitch VOD id"),
    ("@no way", "not a Twitch login"),
    ("https://www.twitch.tv/directory", "not a VOD"),
    ("https://evil.example/somestreamer", "Only Twitch VOD links"),
])
def test_what_is_not_a_channel(typed: str, says: str) -> None:
    with pytest.raises(BadVodReference, match=says):
        parse_vod(typed, None, allow_channel=True)


def test_a_file_in_the_media_folder_wins_over_a_channel_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "stream.mp4").write_bytes(b"x")
    (tmp_path / "clipsfolder").mkdir()
    (tmp_path / "stream").symlink_to(tmp_path / "stream.mp4")
    assert parse_vod("stream", tmp_path, allow_channel=True).media == (tmp_path / "stream.mp4").resolve()
    assert parse_vod("@stream", tmp_path, allow_channel=True).channel == "stream"
    assert parse_vod("clipsfolder", tmp_path, allow_channel=True).channel == "clipsfolder"  # a folder is no file
    assert parse_vod("stream.mp4", tmp_path, allow_channel=True).media == (tmp_path / "stream.mp4").resolve()
    assert parse_vod("otherone", tmp_path, allow_channel=True).channel == "otherone"


# -- /highlights with a VOD --------------------------------------------------------------------------------
async def test_a_vod_that_does_not_exist_is_refused_after_deferring(h: BotHarness, twitch: HelixDouble) -> None:
    answer = await refused_after_deferring(h, h.slash("highlights", vod="https://www.twitch.tv/videos/2099999999"))
    assert answer.startswith("That VOD does not exist or was deleted (Twitch has no VOD 2099999999")
    assert len(answer) < 300
    assert twitch.hits["/helix/videos"] >= 1
    assert await h.storage.queue.list_jobs() == []


async def test_a_vod_still_being_recorded_is_refused(h: BotHarness, twitch: HelixDouble) -> None:
    _, vod = twitch.go_live(LOGIN)
    assert vod is not None
    answer = await refused_after_deferring(h, h.slash("highlights", vod=vod["id"]))
    assert answer == f"Twitch VOD {vod['id']} is still live; ask again after the stream ends."
    assert await h.storage.queue.list_jobs() == []
    twitch.end_live(LOGIN)
    assert "Queued job #1" in await queued(h, h.slash("highlights", vod=vod["id"]))


async def test_a_checked_vod_is_queued_with_its_title_and_owner(h: BotHarness, twitch: HelixDouble) -> None:
    vod = twitch.add_vod(LOGIN, title="Ranked grind [day 3]")
    token = h.slash("highlights", vod=f"https://www.twitch.tv/videos/{vod['id']}")
    assert await h.answer(token) == f"Queued job #1 for Twitch VOD {vod['id']}. Its card below shows how it goes."
    job = await h.storage.queue.get(1)
    streamer = await h.storage.repo.find_streamer(LOGIN)
    assert streamer is not None and streamer.twitch_user_id == twitch.users[LOGIN]["id"]
    assert job.payload["vod"] == {"twitch_vod_id": vod["id"], "source": f"https://www.twitch.tv/videos/{vod['id']}",
                                  "streamer_id": streamer.id, "title": "Ranked grind [day 3]", "channel": LOGIN}
    card = await h.double.wait_for(lambda: cards(h)[-1] if cards(h) else None, what="the job card")
    shown = fields(card["embeds"][0])["VOD"]
    assert "“Ranked grind \\[day 3\\]” by somestreamer" in shown and "newest" not in shown


# -- /highlights with a channel ----------------------------------------------------------------------------
async def test_a_channel_queues_its_newest_finished_vod_and_the_card_says_which(h: BotHarness,
                                                                                 twitch: HelixDouble) -> None:
    now = datetime.now(UTC)
    twitch.add_vod(LOGIN, created_at=now - timedelta(days=2), title="older one")
    newest = twitch.add_vod(LOGIN, created_at=now - timedelta(hours=5), duration_s=3 * 3600, title="Finals night")
    twitch.add_vod(LOGIN, created_at=now - timedelta(hours=1), duration_s=60, title="a highlight", type="highlight")
    token = h.slash("highlights", vod=f"https://www.twitch.tv/{LOGIN}", top=3)
    answer = await h.answer(token)
    assert answer == (f"Queued job #1 for the newest VOD of **SomeStreamer** (Twitch VOD {newest['id']}: "
                      "“Finals night”). Its card below shows how it goes.")
    job = await h.storage.queue.get(1)
    assert job.kind is JobKind.DETECT and job.dedupe_key == f"detect:{GUILD_ID}:twitch:{newest['id']}"
    assert job.payload["vod"]["twitch_vod_id"] == newest["id"] and job.payload["vod"]["newest_of"] == LOGIN
    assert job.payload["settings"] == {"top_k": 3}
    streamer = await h.storage.repo.find_streamer(LOGIN)
    assert streamer is not None and job.payload["vod"]["streamer_id"] == streamer.id
    assert (streamer.display_name, streamer.twitch_user_id) == ("SomeStreamer", twitch.users[LOGIN]["id"])
    card = await h.double.wait_for(lambda: cards(h)[-1] if cards(h) else None, what="the job card")
    assert not card["flags"] & EPHEMERAL
    assert card["embeds"][0]["title"] == f"Highlights · Twitch VOD {newest['id']}"
    shown = fields(card["embeds"][0])["VOD"]
    assert shown == (f"“Finals night” by {LOGIN}\nthe newest VOD of {LOGIN}\n"
                     f"https://www.twitch.tv/videos/{newest['id']}")
    again = await queued(h, h.slash("highlights", vod="@SomeStreamer", user=BOB))  # the same VOD: joined
    assert again.startswith(f"The newest VOD of **SomeStreamer** (Twitch VOD {newest['id']}") and "you joined it" in again
    assert len(await h.storage.queue.list_jobs()) == 1


async def test_a_bare_login_is_a_channel(h: BotHarness, twitch: HelixDouble) -> None:
    twitch.add_user("summit1g")
    vod = twitch.add_vod("summit1g", title="morning")
    assert f"(Twitch VOD {vod['id']}: “morning”)" in await queued(h, h.slash("highlights", vod="summit1g"))


@pytest.mark.parametrize("setup, says", [
    ("live", "is live now: their newest VOD ({vod}) is still live; ask again after the stream ends"),
    ("no vods", "**SomeStreamer** has no past broadcasts on Twitch"),
    ("no channel", "There is no Twitch channel **nobodyhere**. Check the spelling"),
])
async def test_channels_without_a_finished_vod_are_refused(h: BotHarness, twitch: HelixDouble, setup: str,
                                                            says: str) -> None:
    vod_id = ""
    if setup == "live":
        twitch.add_vod(LOGIN, title="yesterday")
        _, vod = twitch.go_live(LOGIN)
        vod_id = vod["id"] if vod else ""
    login = "nobodyhere" if setup == "no channel" else LOGIN
    answer = await refused_after_deferring(h, h.slash("highlights", vod=f"twitch.tv/{login}"))
    assert says.format(vod=vod_id) in answer
    assert await h.storage.queue.list_jobs() == []


async def test_a_bare_word_naming_a_media_file_is_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           twitch: HelixDouble) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / LOGIN).write_bytes(b"x")  # a file named like the channel (no suffix)
    h = await BotHarness.start(tmp_path, monkeypatch, twitch=settings(twitch), media_root=media)
    try:
        assert "is neither a video/audio file nor a chat log" in await h.answer(h.slash("highlights", vod=LOGIN))
        assert twitch.hits["/helix/users"] == 0  # the file won: Twitch was not asked
        assert "There is no Twitch channel **nobodyhere** (and the media folder has no file of that name)" in \
            await h.answer(h.slash("highlights", vod="nobodyhere"))
        vod = twitch.add_vod(LOGIN)
        assert f"Twitch VOD {vod['id']}" in await queued(h, h.slash("highlights", vod=f"@{LOGIN}"))  # @: the channel
    finally:
        await h.close()


# -- outages and missing credentials -----------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["refused", "slow", "wrong secret"])
async def test_when_twitch_fails_the_vod_is_still_queued_with_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, twitch: HelixDouble, caplog: pytest.LogCaptureFixture,
        fault: str) -> None:
    options: dict[str, Any] = {"twitch": settings(twitch)}
    if fault == "refused":
        options["twitch"] = twitch_down()
    elif fault == "slow":
        twitch.fail("/helix/videos", 200, times=None, delay_s=1.5)
        options["twitch_check_s"] = 0.3
    else:
        options["twitch"] = HelixSettings.from_env({**twitch.env(), "TWITCH_CLIENT_SECRET": "wrong"}, backoff_s=0.01)
    h = await BotHarness.start(tmp_path, monkeypatch, **options)
    try:
        caplog.set_level(logging.WARNING, logger="bot.twitch_checks")
        token = h.slash("highlights", vod="2012345678")
        assert await queued(h, token) == "Queued job #1 for Twitch VOD 2012345678. Its card below shows how it goes."
        assert h.double.callback(token).body == {"type": 5, "data": {"flags": EPHEMERAL}}  # type: ignore[union-attr]
        job = await h.storage.queue.get(1)
        assert job.payload["vod"] == {"twitch_vod_id": "2012345678", "source": "https://www.twitch.tv/videos/2012345678",
                                      "streamer_id": None}  # unchecked: nothing Twitch would have told
        warnings = [r.getMessage() for r in caplog.records if r.name == "bot.twitch_checks"]
        assert len(warnings) == 1 and warnings[0].startswith("Twitch check of VOD 2012345678 failed (")
        assert warnings[0].endswith("; queueing it unchecked")
        assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "bot.twitch_checks")
    finally:
        await h.close()


async def test_a_channel_during_an_outage_asks_for_the_vods_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    h = await BotHarness.start(tmp_path, monkeypatch, twitch=twitch_down())
    try:
        caplog.set_level(logging.WARNING, logger="bot.twitch_checks")
        answer = await refused_after_deferring(h, h.slash("highlights", vod=LOGIN))
        assert answer.startswith(f"Twitch is not answering right now, so the newest VOD of **{LOGIN}** cannot be "
                                 "found. Give the VOD's link instead")
        assert any("Twitch check of channel somestreamer failed" in r.getMessage() for r in caplog.records)
    finally:
        await h.close()


async def test_without_credentials_vods_are_not_checked_and_channels_need_a_link(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, twitch: HelixDouble) -> None:
    h = await BotHarness.start(tmp_path, monkeypatch)  # BotConfig.twitch is None
    try:
        assert not h.bot.twitch.enabled
        assert "Queued job #1 for Twitch VOD 2099999999" in await queued(h, h.slash("highlights", vod="2099999999"))
        for typed in (f"https://www.twitch.tv/{LOGIN}", LOGIN, f"@{LOGIN}"):
            token = h.slash("highlights", vod=typed)
            answer = await h.answer(token)
            assert answer.startswith(f"`{LOGIN}` is a channel; finding its newest VOD needs Twitch API access")
            assert "Give the VOD's link" in answer
            callback = h.double.callback(token)
            assert callback is not None and isinstance(callback.body, dict)  # answered at once, before any I/O
            assert callback.body["type"] == 4 and callback.body["data"]["flags"] == EPHEMERAL
        added = await h.answer(h.slash("autoclip", sub="add", user=ADMIN, streamer="anyone_at_all"))
        assert added.startswith("New VODs of **anyone_at_all** will be processed") and "not checked" not in added
        assert sum(twitch.hits.values()) == 0  # Twitch was never asked
        assert len(await h.storage.queue.list_jobs()) == 1
    finally:
        await h.close()


# -- /autoclip add -----------------------------------------------------------------------------------------
async def test_autoclip_add_checks_the_login_and_stores_the_twitch_user(h: BotHarness, twitch: HelixDouble) -> None:
    unknown = h.slash("autoclip", sub="add", user=ADMIN, streamer="nobodyhere")
    answer = await refused_after_deferring(h, unknown)
    assert answer.startswith("There is no Twitch channel **nobodyhere**")
    assert await h.storage.repo.find_streamer("nobodyhere") is None
    assert await h.storage.repo.list_subscriptions(guild_id=str(GUILD_ID)) == []
    added = await h.answer(h.slash("autoclip", sub="add", user=ADMIN, streamer="SomeStreamer"))
    assert added == f"New VODs of **SomeStreamer** will be processed and their clips posted in <#{CHANNEL_ID}>."
    streamer = await h.storage.repo.find_streamer(LOGIN)
    assert streamer is not None
    assert (streamer.twitch_user_id, streamer.display_name) == (twitch.users[LOGIN]["id"], "SomeStreamer")
    subs = await h.storage.repo.list_subscriptions(guild_id=str(GUILD_ID))
    assert [s.streamer_id for s in subs] == [streamer.id]


async def test_autoclip_add_during_an_outage_subscribes_unchecked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    h = await BotHarness.start(tmp_path, monkeypatch, twitch=twitch_down())
    try:
        caplog.set_level(logging.WARNING, logger="bot.twitch_checks")
        added = await h.answer(h.slash("autoclip", sub="add", user=ADMIN, streamer=LOGIN))
        assert added.startswith(f"New VODs of **{LOGIN}** will be processed")
        assert "the login is not checked yet; the first poll checks it" in added
        streamer = await h.storage.repo.find_streamer(LOGIN)
        assert streamer is not None and streamer.twitch_user_id is None
        assert len(await h.storage.repo.list_subscriptions(guild_id=str(GUILD_ID))) == 1
        assert any("accepting it unchecked" in r.getMessage() for r in caplog.records)
    finally:
        await h.close()


# -- clip posts --------------------------------------------------------------------------------------------
async def finished_with(storage: Storage, explanations: list[dict[str, Any]]) -> Job:
    """A succeeded DETECT job of a Twitch VOD whose clips carry ``explanations``."""
    source = "https://www.twitch.tv/videos/2012345678"
    payload = {"media": None, "chat": None, "settings": {}, "render": {"layout": "16:9", "captions": False},
               "vod": {"twitch_vod_id": "2012345678", "source": source, "streamer_id": None}}
    await storage.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload=payload, requested_by="1",
                                           guild_id=str(GUILD_ID), channel_id=str(CHANNEL_ID)))
    job = await claim(storage)
    vod = await storage.repo.upsert_vod(source=source, twitch_vod_id="2012345678")
    drafts = [ClipDraft(rank=i + 1, start_s=600.0 + 60 * i, end_s=630.0 + 60 * i, peak_s=615.0 + 60 * i,
                        score=3.0 - i, signals={"chat.hype": 2.0}, explanation=e) for i, e in enumerate(explanations)]
    stored = await storage.repo.save_candidates(job.id, drafts, vod_id=vod.id)
    assert await storage.queue.complete(job.id, WORKER, {"clips": [c.id for c in stored], "candidates": len(stored)})
    return await storage.queue.get(job.id)


async def posted_embeds(h: BotHarness, count: int) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]] | None:
        posts = [r.body["embeds"][0] for r in h.double.requests if r.method == "POST" and "/channels/" in r.path
                 and r.path.endswith("/messages") and isinstance(r.body, dict) and r.body.get("embeds")]
        return posts if len(posts) >= count else None
    return await h.double.wait_for(found, what=f"{count} clip posts")


def embed_size(embed: dict[str, Any]) -> int:
    """Characters Discord counts against an embed's 6000 limit."""
    return (len(embed.get("title", "")) + len(embed.get("description", "")) + len(embed["footer"]["text"])
            + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", [])))


async def test_clip_posts_show_segment_caption_and_muted_parts(h: BotHarness) -> None:
    gameplay = {**explanation(0), "segment": "gameplay", "caption": "a player *clutches* a 1v3 round",
                "muted_s": 12.4}
    talking = {**explanation(1), "segment": "talking", "muted_s": 0.0}
    plain = explanation(2)
    await finished_with(h.storage, [gameplay, talking, plain])
    first, second, third = await posted_embeds(h, 3)
    assert fields(first)["Segment"] == "🎮 gameplay"
    assert first["description"] == ("*a player \\*clutches\\* a 1v3 round*\n"
                                    "⚠️ 12 s of this clip are muted on Twitch (DMCA)")
    assert fields(second)["Segment"] == "🗣️ talking"
    assert "description" not in second  # no caption, nothing muted
    assert "Segment" not in fields(third) and "description" not in third
    assert first["url"] == "https://www.twitch.tv/videos/2012345678?t=0h10m00s"


async def test_clip_posts_stay_within_discords_embed_limits(h: BotHarness) -> None:
    huge = {**explanation(0), "summary": "S" * 400, "quote": "Q" * 500, "transcript": "T" * 3000,
            "vision": "V" * 3000, "caption": "C " * 3000, "segment": "x" * 500, "muted_s": 1e6,
            "top_emotes": [["E" * 200, 1]] * 10}
    await finished_with(h.storage, [huge])
    (embed,) = await posted_embeds(h, 1)
    assert len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
    assert all(len(f["value"]) <= 1024 and len(f["name"]) <= 256 for f in embed["fields"])
    assert embed_size(embed) <= 6000 and len(embed["fields"]) <= 25
    assert embed["description"].endswith("⚠️ 1000000 s of this clip are muted on Twitch (DMCA)")

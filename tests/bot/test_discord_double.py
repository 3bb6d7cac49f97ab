"""The Discord double refuses what Discord refuses, as discord.py sees it: the same exception, status and code.

Each test sends, through the real discord.py client of a logged-in bot, one request Discord's
documentation says is refused, and checks the ``HTTPException`` subclass, HTTP status and JSON error
code discord.py raises, next to an accepted request just inside the limit. A double that accepted these
would hide the bot's bugs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.http import Route

from highlights.doubles import discord_permissions as perm
from highlights.doubles.discord import APP_ID, CHANNEL_ID, EPHEMERAL
from tests.bot.harness import BotHarness

pytestmark = pytest.mark.timeout(60)
MIB = 1024 * 1024


@pytest.fixture
async def h(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.start(tmp_path, monkeypatch, sync_commands=False)
    await harness.bot.cards.stop()  # only the requests of the test itself
    await harness.bot.poster.stop()
    try:
        yield harness
    finally:
        await harness.close()


async def post(h: BotHarness, body: dict[str, Any], channel_id: int = CHANNEL_ID) -> Any:
    return await h.bot.http.request(Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id), json=body)


async def refused(coro: Any) -> discord.HTTPException:
    with pytest.raises(discord.HTTPException) as caught:
        await coro
    return caught.value


def channel(h: BotHarness) -> discord.TextChannel:
    found = h.bot.get_channel(CHANNEL_ID)
    assert isinstance(found, discord.TextChannel)
    return found


@pytest.mark.parametrize("body, where", [
    ({"content": "x" * 2001}, "content"),
    ({"embeds": [{"title": "t"} for _ in range(11)]}, "embeds"),
    ({"embeds": [{"title": "t" * 257}]}, "title"),
    ({"embeds": [{"description": "d" * 4097}]}, "description"),
    ({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, "fields"),
    ({"embeds": [{"fields": [{"name": "n" * 257, "value": "v"}]}]}, "name"),
    ({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}, "value"),
    ({"embeds": [{"fields": [{"name": "n", "value": " "}]}]}, "value"),
    ({"embeds": [{"footer": {"text": "f" * 2049}}]}, "footer"),
    ({"embeds": [{"author": {"name": "a" * 257}}]}, "author"),
    ({"embeds": [{"fields": [{"name": "n", "value": "v" * 1000}] * 7}]}, "embeds"),
    ({"embeds": [{"title": "t", "url": "not a url"}]}, "url"),
    ({"components": [{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": f"b{i}", "label": "x"}]}
                     for i in range(6)]}, "components"),
    ({"components": [{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": f"b{i}", "label": "x"}
                                                for i in range(6)]}]}, "components"),
    ({"components": [{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "c" * 101}]}]}, "custom_id"),
    ({"components": [{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "same"},
                                                {"type": 2, "style": 2, "custom_id": "same"}]}]}, "custom_id"),
    ({"components": [{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "a", "label": "l" * 81}]}]},
     "label"),
])
async def test_bodies_over_discords_limits_are_an_invalid_form_body(h: BotHarness, body: dict[str, Any], where: str
                                                                    ) -> None:
    exc = await refused(post(h, body))
    assert (exc.status, exc.code) == (400, 50035)
    assert where in exc.text  # discord.py flattens the ``errors`` object into "In embeds.0.title: …"


async def test_the_same_bodies_just_inside_the_limits_are_accepted(h: BotHarness) -> None:
    embed = {"title": "t" * 256, "description": "d" * 1000, "footer": {"text": "f" * 100},
             "fields": [{"name": "n" * 10, "value": "v" * 1024}] * 4}
    rows = [{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": f"{r}-{i}-".ljust(100, "c"), "label": "l" * 80}
                                       for i in range(5)]} for r in range(5)]
    await post(h, {"content": "x" * 2000, "embeds": [embed], "components": rows})
    await post(h, {"embeds": [{"title": "t"} for _ in range(10)]})


async def test_an_empty_message_is_refused(h: BotHarness) -> None:
    exc = await refused(post(h, {"content": "   "}))
    assert (exc.status, exc.code) == (400, 50006)


async def test_uploads_over_the_boost_tiers_limit_are_413_40005(h: BotHarness, tmp_path: Path) -> None:
    big = tmp_path / "big.mp4"
    with big.open("wb") as f:
        f.truncate(10 * MIB + 1)
    exc = await refused(channel(h).send(file=discord.File(big)))
    assert (exc.status, exc.code) == (413, 40005)
    h.guild_create(premium_tier=2)  # the server reached boost tier 2: 50 MiB
    await channel(h).send(file=discord.File(big))


async def test_missing_permissions_are_403_with_discords_codes(h: BotHarness, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00" * 100)
    h.set_bot_overwrite(CHANNEL_ID, deny=perm.ATTACH_FILES)
    exc = await refused(channel(h).send(file=discord.File(clip)))
    assert isinstance(exc, discord.Forbidden) and exc.code == 50013
    await channel(h).send("text still works")
    h.set_bot_overwrite(CHANNEL_ID, deny=perm.EMBED_LINKS)
    exc = await refused(channel(h).send(embed=discord.Embed(title="card")))
    assert isinstance(exc, discord.Forbidden) and exc.code == 50013
    h.set_bot_overwrite(CHANNEL_ID, deny=perm.CREATE_PUBLIC_THREADS)
    exc = await refused(channel(h).create_thread(name="clips", type=discord.ChannelType.public_thread))
    assert isinstance(exc, discord.Forbidden) and exc.code == 50013
    h.set_bot_overwrite(CHANNEL_ID, deny=perm.SEND_MESSAGES_IN_THREADS)
    thread = await channel(h).create_thread(name="clips", type=discord.ChannelType.public_thread)
    exc = await refused(thread.send("in the thread"))
    assert isinstance(exc, discord.Forbidden) and exc.code == 50013
    h.set_bot_overwrite(CHANNEL_ID, deny=perm.VIEW_CHANNEL)
    exc = await refused(channel(h).send("hello"))
    assert isinstance(exc, discord.Forbidden) and exc.code == 50001


async def test_history_without_read_message_history_is_empty(h: BotHarness) -> None:
    await channel(h).send("one")
    assert [m.content async for m in channel(h).history(limit=10)] == ["one"]
    h.set_bot_overwrite(CHANNEL_ID, deny=perm.READ_MESSAGE_HISTORY)
    assert [m async for m in channel(h).history(limit=10)] == []


async def test_threads_need_a_name_of_1_to_100_characters_and_a_known_archive_duration(h: BotHarness) -> None:
    route = Route("POST", "/channels/{channel_id}/threads", channel_id=CHANNEL_ID)
    exc = await refused(h.bot.http.request(route, json={"name": "n" * 101, "type": 11}))
    assert (exc.status, exc.code) == (400, 50035)
    exc = await refused(h.bot.http.request(route, json={"name": "n", "type": 11, "auto_archive_duration": 30}))
    assert (exc.status, exc.code) == (400, 50035)
    await channel(h).create_thread(name="n" * 100, type=discord.ChannelType.public_thread)


async def test_editing_unknown_or_someone_elses_messages(h: BotHarness) -> None:
    message = await channel(h).send("mine")
    theirs = h.double._new_message(CHANNEL_ID, {"content": "theirs"}, [])
    theirs["author"] = {"id": "1400000000000000001", "username": "alice", "discriminator": "0"}
    exc = await refused(channel(h).get_partial_message(int(theirs["id"])).edit(content="changed"))
    assert isinstance(exc, discord.Forbidden) and exc.code == 50005
    exc = await refused(channel(h).get_partial_message(message.id + 10**6).edit(content="x"))
    assert isinstance(exc, discord.NotFound) and exc.code == 10008
    exc = await refused(h.bot.get_partial_messageable(999).send("nowhere"))
    assert isinstance(exc, discord.NotFound) and exc.code == 10003


def interaction(h: BotHarness) -> tuple[str, Route]:
    token = "tok-rules"
    h.double.register({"id": str(h.double.snowflake()), "token": token, "channel_id": str(CHANNEL_ID)})
    iid = h.double.interactions[token].id
    return token, Route("POST", "/interactions/{interaction_id}/{token}/callback", interaction_id=iid, token=token)


async def test_an_interaction_is_answered_once_within_3_seconds(h: BotHarness) -> None:
    token, route = interaction(h)
    await h.bot.http.request(route, json={"type": 5, "data": {"flags": EPHEMERAL}})
    exc = await refused(h.bot.http.request(route, json={"type": 5}))
    assert (exc.status, exc.code) == (400, 40060)
    late = "tok-late"
    h.double.register({"id": str(h.double.snowflake()), "token": late, "channel_id": str(CHANNEL_ID)})
    h.double.age(late, 3.5)
    late_route = Route("POST", "/interactions/{interaction_id}/{token}/callback",
                       interaction_id=h.double.interactions[late].id, token=late)
    exc = await refused(h.bot.http.request(late_route, json={"type": 5}))
    assert isinstance(exc, discord.NotFound) and exc.code == 10062


async def test_interaction_webhooks_need_an_answer_first_and_expire_after_15_minutes(h: BotHarness) -> None:
    token, route = interaction(h)
    webhook = discord.Webhook.partial(APP_ID, token, client=h.bot)
    exc = await refused(webhook.send("too early", wait=True))
    assert isinstance(exc, discord.NotFound) and exc.code == 10015
    await h.bot.http.request(route, json={"type": 5})
    await webhook.send("replaces the thinking message", wait=True)
    await webhook.send("a follow-up", wait=True)
    h.double.age(token, 15 * 60)
    exc = await refused(webhook.send("too late", wait=True))
    assert (exc.status, exc.code) == (401, 50027)


async def test_rate_limits_are_429_with_retry_after_and_discord_py_waits_them_out(h: BotHarness) -> None:
    h.double.rate_limit("POST /channels/", retry_after=0.2)
    message = await channel(h).send("after the wait")
    sent = h.double.find("POST", f"/channels/{CHANNEL_ID}/messages")
    assert [r.status for r in sent] == [429, 200] and sent[1].at - sent[0].at >= 0.2
    assert h.double.messages[message.id]["content"] == "after the wait"


@pytest.mark.parametrize("bad, where", [
    ({"name": "Highlights", "description": "d"}, "name"),
    ({"name": "has space", "description": "d"}, "name"),
    ({"name": "x" * 33, "description": "d"}, "name"),
    ({"name": "ok", "description": "d" * 101}, "description"),
    ({"name": "ok", "description": "d", "options": [{"type": 3, "name": "a", "description": "d"},
                                                    {"type": 3, "name": "b", "description": "d", "required": True}]},
     "required"),
    ({"name": "ok", "description": "d", "options": [{"type": 3, "name": f"o{i}", "description": "d"}
                                                    for i in range(26)]}, "options"),
    ({"name": "ok", "description": "d", "options": [{"type": 3, "name": "o", "description": "d",
                                                     "choices": [{"name": str(i), "value": str(i)} for i in range(26)]}]},
     "choices"),
])
async def test_commands_discord_would_not_register(h: BotHarness, bad: dict[str, Any], where: str) -> None:
    route = Route("PUT", "/applications/{application_id}/commands", application_id=APP_ID)
    exc = await refused(h.bot.http.request(route, json=[bad]))
    assert (exc.status, exc.code) == (400, 50035) and where in exc.text
    await h.bot.http.request(route, json=[{"name": "ok", "description": "d"}])


async def test_a_wrong_token_is_401(h: BotHarness) -> None:
    h.bot.http.token = "someone-elses-token"
    exc = await refused(channel(h).send("x"))
    assert exc.status == 401

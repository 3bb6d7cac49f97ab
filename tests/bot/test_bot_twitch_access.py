"""The bot and Twitch's stricter sides: subscriber-only VODs refused while the user waits, and a chat replay
Twitch refuses shown on the job card from ``/highlights <twitch url>`` to posted clips.

The real bot against the Discord REST double; Helix against ``tests.helix_double``; GQL, usher and the VOD
CDN against the strict Twitch double (``highlights.doubles.twitch``); the real worker on real SQLite for the
end-to-end run. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.views.job_card import card_embed
from detector.worker import Worker, WorkerOptions
from highlights.doubles.twitch import SUBSCRIBER_TOKEN, TwitchDouble
from highlights.doubles.twitch_vods import NORMAL, FakeVod, build_hls_vod, make_comments
from storage.queue.timeouts import KindTimeouts
from storage.records import Job, JobKind, JobStatus
from storage.twitch import HelixSettings
from storage.twitch.vod_access import VodAccessSettings
from tests.bot.harness import BotHarness
from tests.helix_double import HelixDouble

pytestmark = pytest.mark.timeout(900)  # a real detector run: a hang guard, not a speed limit
LOGIN = "somestreamer"
NOTE = "chat replay refused by Twitch: failed integrity check; these clips come from audio only"


@pytest.fixture
def helix() -> Iterator[HelixDouble]:
    with HelixDouble() as double:
        double.add_user(LOGIN, display_name="SomeStreamer")
        yield double


def helix_settings(double: HelixDouble) -> HelixSettings:
    return HelixSettings.from_env(double.env(), attempts=2, backoff_s=0.01, timeout_s=3.0, max_wait_s=0.5)


def master_only(root: Path) -> Path:
    """An HLS folder with just a master playlist: the bot's check never reads further."""
    root.mkdir()
    (root / "master.m3u8").write_text('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=160x90,'
                                      'CODECS="avc1.42c00a,mp4a.40.2"\nchunked/index-dvr.m3u8\n'
                                      '#EXT-X-STREAM-INF:BANDWIDTH=160000,CODECS="mp4a.40.2"\naudio_only/index-dvr.m3u8\n')
    return root


async def test_a_subscriber_only_vod_is_refused_while_the_user_waits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      helix: HelixDouble) -> None:
    locked, public = helix.add_vod(LOGIN, title="subs only"), helix.add_vod(LOGIN, title="for everyone")
    catalogue = {locked["id"]: FakeVod(locked["id"], subscribers=frozenset({"7001"})), public["id"]: FakeVod(public["id"])}
    with TwitchDouble(master_only(tmp_path / "site"), catalogue) as twitch:
        access = VodAccessSettings.from_env(twitch.env())
        h = await BotHarness.start(tmp_path, monkeypatch, twitch=helix_settings(helix), twitch_access=access)
        try:
            answer = await h.answer(h.slash("highlights", vod=f"https://www.twitch.tv/videos/{locked['id']}"))
            assert answer.startswith(f"Twitch VOD {locked['id']} is for the channel's subscribers only, and this bot "
                                     "has no Twitch account to watch it with")
            assert "HIGHLIGHTS_TWITCH_OAUTH_TOKEN" in answer and len(answer) < 300
            assert await h.storage.queue.list_jobs() == []
            token = twitch.operations("PlaybackAccessToken")[0]
            assert token["operationName"] == "PlaybackAccessToken_Template" and not token["_auth"]
            assert "Queued job #1" in await h.answer(h.slash("highlights", vod=public["id"]))
            await h.restart(twitch_access=VodAccessSettings.from_env(
                {**twitch.env(), "HIGHLIGHTS_TWITCH_OAUTH_TOKEN": SUBSCRIBER_TOKEN}))
            assert "Queued job #2" in await h.answer(h.slash("highlights", vod=locked["id"]))
            assert twitch.operations("PlaybackAccessToken")[-1]["_auth"] == f"OAuth {SUBSCRIBER_TOKEN}"
        finally:
            await h.close()


def finished(job_id: int, result: dict[str, Any], now: datetime) -> Job:
    return Job(id=job_id, kind=JobKind.DETECT, status=JobStatus.SUCCEEDED, payload={"vod": {"twitch_vod_id": NORMAL}},
               priority=0, dedupe_key=None, attempts=1, max_attempts=3, stage=None, progress=1.0,
               progress_message=None, error_code=None, error_message=None, requested_by=None, guild_id=None,
               channel_id=None, cancel_requested=False, lease_owner=None, lease_expires_at=None, run_after=now,
               created_at=now, started_at=now, finished_at=now, result=result)


def test_the_job_card_shows_the_workers_notes() -> None:
    now = datetime.now(UTC)
    fields = {f.name: f.value for f in card_embed(finished(7, {"clips": [1, 2], "notes": [NOTE]}, now), now=now).fields}
    assert fields["Note"] == f"⚠️ {NOTE}"
    assert "Note" not in {f.name for f in card_embed(finished(8, {"clips": []}, now), now=now).fields}


async def test_a_refused_chat_replay_is_on_the_card_of_a_twitch_link_turned_into_posted_clips(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    root = build_hls_vod(tmp_path / "vod", minutes=1.5)
    catalogue = {NORMAL: FakeVod(NORMAL, length_s=90, comments=make_comments(600, 90))}
    with TwitchDouble(root, catalogue) as twitch:
        for name, value in twitch.env(fast=True).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("HIGHLIGHTS_TWITCH_CLIENT_ID_CHAT", "kimne78kx3ncx6brgo4mv6wki5h1ko")  # the web id: refused
        h = await BotHarness.start(tmp_path, monkeypatch, post_poll_s=0.2)
        try:
            assert "Queued job #1" in await h.answer(h.slash("highlights", vod=f"https://www.twitch.tv/videos/{NORMAL}",
                                                             top=2))
            timeouts = {kind: KindTimeouts(lease_s=120.0, heartbeat_s=0.5, max_runtime_s=1800.0, max_attempts=2,
                                           backoff_base_s=0.2, backoff_max_s=1.0) for kind in JobKind}  # busy machines
            await Worker(h.storage.queue, h.storage.repo, h.config.artifacts,
                         WorkerOptions(worker_id="e2e-refused", once=True, timeouts=timeouts)).run()
            done = await h.storage.queue.get(1)
            assert done.status is JobStatus.SUCCEEDED, done.error_message
            assert done.result["notes"] == [NOTE]
            meta = json.loads((h.config.artifacts.root / done.result["artifacts"]["json"]).read_text())["meta"]
            assert meta["notes"] == [NOTE] and meta["twitch"]["chat"] == "refused"

            def card_with_note() -> dict[str, Any] | None:
                for message in h.double.messages.values():
                    for embed in message.get("embeds") or []:
                        if any(f["name"] == "Note" and NOTE in f["value"] for f in embed.get("fields", [])):
                            return embed
                return None

            card = await h.double.wait_for(card_with_note, what="the job card with the chat note")
            assert card["title"] == f"Highlights · Twitch VOD {NORMAL}"

            async def posted() -> bool:
                clips = await h.storage.repo.list_clips(1)
                return bool(clips) and all(c.message_id for c in clips)

            await h.double.wait_for(posted, timeout=120.0, what="every clip posted")
        finally:
            await h.close()

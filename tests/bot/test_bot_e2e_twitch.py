"""End to end with a Twitch VOD: /highlights <twitch link> → the queue → the real worker fetching the VOD's
audio and chat replay from a local Twitch double (GQL + usher + HLS) → detection with the hybrid stages →
the clips' sections downloaded and rendered → clips posted to the Discord double with their VOD deep links and
files. Without Helix credentials the bot skips the existence check, as in production."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from detector.worker import Worker, WorkerOptions
from highlights.doubles.twitch import TwitchDouble
from highlights.doubles.twitch_vods import NORMAL, FakeVod, build_hls_vod, make_comments
from storage.queue.timeouts import KindTimeouts
from storage.records import JobKind, JobStatus
from tests.bot.harness import BotHarness

pytestmark = pytest.mark.timeout(900)  # a real detector run: a hang guard, not a speed limit
SHORT = {kind: KindTimeouts(lease_s=120.0, heartbeat_s=0.5, max_runtime_s=1800.0, max_attempts=2,
                            backoff_base_s=0.2, backoff_max_s=1.0) for kind in JobKind}
"""Leases long enough that a busy machine stalling the heartbeat never makes the test's one worker lose its job."""
LENGTH_S = 120


@pytest.fixture(scope="module")
def hls_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hls_vod(tmp_path_factory.mktemp("bot-twitch-vod"), minutes=LENGTH_S / 60)


async def test_a_twitch_link_becomes_posted_clips_with_deep_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  hls_root: Path) -> None:
    for name in ("TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    catalogue = {NORMAL: FakeVod(NORMAL, length_s=LENGTH_S, comments=make_comments(1200, LENGTH_S))}
    with TwitchDouble(hls_root, catalogue) as twitch:
        for name, value in twitch.env().items():
            monkeypatch.setenv(name, value)
        h = await BotHarness.start(tmp_path, monkeypatch, post_poll_s=0.2)
        try:
            token = h.slash("highlights", vod=f"https://www.twitch.tv/videos/{NORMAL}?t=0h01m00s", top=2)
            assert "Queued job #1" in await h.answer(token)
            job = await h.storage.queue.get(1)
            assert job.payload["vod"]["twitch_vod_id"] == NORMAL and job.payload["media"] is None
            worker = Worker(h.storage.queue, h.storage.repo, h.config.artifacts,
                            WorkerOptions(worker_id="e2e-twitch", once=True, timeouts=SHORT))
            await worker.run()
            done = await h.storage.queue.get(1)
            assert done.status is JobStatus.SUCCEEDED, done.error_message
            assert twitch.hits.get("gql:VideoCommentsByOffsetOrCursor", 0) >= 1
            clips = await h.storage.repo.list_clips(1)
            assert 1 <= len(clips) <= 2 and all(c.files.get("16:9") for c in clips)
            meta = json.loads((h.config.artifacts.root / done.result["artifacts"]["json"]).read_text())["meta"]
            assert meta["twitch"]["vod_id"] == NORMAL and meta["chat_messages"] > 1000
            # The bot asks for the hybrid stages: the segmenter ran on the small whole-VOD rendition (this
            # double has a single, tiny video rendition; sections-only fetching is tested in test_worker_twitch).
            assert meta["segments"] is not None and "fetch_overview" in meta["timings"]

            async def all_posted() -> list[Any] | None:
                found = await h.storage.repo.list_clips(1)
                return found if all(c.message_id for c in found) else None

            clips = await h.double.wait_for(all_posted, timeout=120.0, what="every clip posted")
            posts = h.double.find("POST", f"/channels/{clips[0].thread_id}/messages")
            text = json.dumps([p.body for p in posts])
            assert f"https://www.twitch.tv/videos/{NORMAL}?t=" in text
            assert any(p.files for p in posts)  # the rendered clip is uploaded with its post
        finally:
            await h.close()

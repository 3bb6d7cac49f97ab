"""End to end on one machine: /highlights → the queue → the real worker and detector on a synthetic VOD →
the job card → clips posted to the Discord double → votes → a tuning version → the next job runs with it.

Also the bot's entry point (``bot.app.main``) without a token, and the worker's tuning merge.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.app import main, run
from bot.config import BotConfig
from detector.job_payload import merge_tuning
from detector.synthetic.vod import SyntheticVod
from detector.worker import Worker, WorkerOptions
from highlights.doubles.discord import GUILD_ID, DiscordDouble
from storage.clock import utcnow
from storage.queue.timeouts import KindTimeouts
from storage.records import JobKind, JobStatus, Tuning
from tests.bot.harness import BotHarness, voters

pytestmark = pytest.mark.timeout(900)  # two real detector runs: a hang guard, not a speed limit
SHORT = {kind: KindTimeouts(lease_s=120.0, heartbeat_s=0.5, max_runtime_s=1800.0, max_attempts=2,
                            backoff_base_s=0.2, backoff_max_s=1.0) for kind in JobKind}
"""Leases long enough that a busy machine stalling the heartbeat never makes the test's one worker lose its job."""


def fields(message: dict) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message["embeds"][0].get("fields", [])}


async def run_worker(h: BotHarness) -> None:
    worker = Worker(h.storage.queue, h.storage.repo, h.config.artifacts,
                    WorkerOptions(worker_id="e2e-worker", once=True, timeouts=SHORT))
    await worker.run()


async def test_request_detect_post_vote_and_tune_the_next_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              sample_vod: SyntheticVod) -> None:
    assert sample_vod.media_path is not None
    media_root = sample_vod.media_path.parent
    h = await BotHarness.start(tmp_path, monkeypatch, media_root=media_root, post_poll_s=0.2)
    try:
        token = h.slash("highlights", vod=sample_vod.media_path.name, top=3, streamer="somestreamer")
        assert await h.answer(token) == "Queued job #1 for sample.mp4. Its card below shows how it goes."
        job = await h.storage.queue.get(1)
        assert job.payload["chat"] == str(sample_vod.chat_path.resolve())  # type: ignore[union-attr]
        await run_worker(h)
        assert (await h.storage.queue.get(1)).status is JobStatus.SUCCEEDED
        clips = await h.storage.repo.list_clips(1)
        assert 1 <= len(clips) <= 3
        await h.double.wait_for(lambda: len(h.double.find("POST", "/messages")) >= len(clips), what="clip posts")
        card = next(m for m in h.double.messages.values() if m["embeds"] and m["embeds"][0]["title"] ==
                    "Highlights · sample.mp4")
        await h.double.wait_for(lambda: fields(h.double.messages[int(card["id"])])["Status"] == "done")
        assert fields(h.double.messages[int(card["id"])])["Clips"] == f"{len(clips)} found, posting below"
        async def all_posted() -> list[Any] | None:
            found = await h.storage.repo.list_clips(1)
            return found if all(c.message_id for c in found) else None

        clips = await h.double.wait_for(all_posted, what="every clip recorded as posted")
        posts = h.double.find("POST", f"/channels/{clips[0].thread_id}/messages")
        assert [p.body["embeds"][0]["footer"]["text"].split(" · ")[0] for p in posts] == [f"clip {c.id}" for c in clips]
        assert "in sample.mp4" in json.dumps(posts[0].body["embeds"][0])

        # The community likes the best clip and not the last one; enough votes tune the streamer.
        liked, disliked = clips[0], clips[-1] if len(clips) > 1 else clips[0]
        assert liked.id != disliked.id, "the synthetic VOD gives several clips"
        for voter in voters(3):
            for clip, direction in ((liked, "up"), (disliked, "down")):
                h.click(h.double.messages[int(clip.message_id or 0)], f"hl:vote:{clip.id}:{direction}", user=voter)
        await h.double.wait_for(lambda: h.double.messages[int(disliked.message_id or 0)]["components"][0]
                                ["components"][1]["label"] == "3", what="all votes counted")
        streamer = await h.storage.repo.find_streamer("somestreamer")
        assert streamer is not None

        async def tuned() -> Tuning | None:  # the retune after the last vote may still be on its way to the tuner
            await h.bot.tuner.wait_idle()
            found = await h.storage.repo.current_tuning(str(GUILD_ID), streamer.id)
            return found if found is not None and found.votes_used == 6 else None

        tuning = await h.double.wait_for(tuned, what="a tuning from 6 votes")
        assert tuning is not None and tuning.votes_used == 6 and tuning.params

        # The next job of this streamer runs with the tuned parameters.
        second = h.slash("highlights", vod=sample_vod.media_path.name, top=3, streamer="somestreamer")
        assert "Queued job #2" in await h.answer(second)
        await run_worker(h)
        done = await h.storage.queue.get(2)
        assert done.status is JobStatus.SUCCEEDED and done.result is not None
        assert done.result["tuning"] == {"version": tuning.version, "votes_used": 6}
        meta = json.loads((h.config.artifacts.root / done.result["artifacts"]["json"]).read_text())["meta"]
        for name, value in tuning.params.items():
            if name != "top_k":
                assert meta["params"][name] == pytest.approx(value), name
        assert meta["params"]["top_k"] == 3  # the request's own setting wins over tuning
        card2 = next(m for m in h.double.messages.values() if m["embeds"] and "job 2" in
                     m["embeds"][0].get("footer", {}).get("text", ""))
        await h.double.wait_for(lambda: fields(h.double.messages[int(card2["id"])]).get("Tuning") ==
                                "tuned from 6 votes", what="the second card's tuning line")
    finally:
        await h.close()


def test_main_without_a_token_says_the_bot_is_not_started(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        assert main(f"sqlite:///{tmp_path / 'x.db'}", env={}) == 0
    assert "Discord bot not started: DISCORD_TOKEN is not set" in caplog.text


def test_highlights_run_says_the_bot_is_not_started_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "HIGHLIGHTS_STORAGE_URL")}
    done = subprocess.run([sys.executable, "-m", "highlights", "run", "--only", "bot", "--storage",
                           f"sqlite:///{tmp_path / 'run.db'}", "--artifacts", str(tmp_path / "art")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Discord bot not started: DISCORD_TOKEN is not set" in done.stderr


@pytest.mark.allow_error_logs
async def test_a_token_discord_rejects_stops_the_bot_with_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    double = DiscordDouble()
    monkeypatch.setattr(discord.http.Route, "BASE", await double.start())  # it knows only its own token
    url = f"sqlite:///{tmp_path / 'x.db'}"
    try:
        assert await run(url, BotConfig.from_env(url, {"DISCORD_TOKEN": "not-a-token"})) == 2
    finally:
        await double.close()
    assert "Discord rejected the bot token in DISCORD_TOKEN" in caplog.text


@pytest.mark.allow_error_logs
def test_main_with_a_bad_media_folder_fails_clearly(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    env = {"DISCORD_TOKEN": "x", "HIGHLIGHTS_BOT_MEDIA_DIR": str(tmp_path / "missing")}
    assert main(f"sqlite:///{tmp_path / 'x.db'}", env=env) == 2
    assert "is not a folder" in caplog.text


def test_merge_tuning_puts_tuned_values_under_the_jobs_own_settings() -> None:
    tuning = Tuning(guild_id="1", streamer_id=1, version=3, params={"w_audio_rms": 2.0, "threshold": 1.5, "gone": 1.0},
                    reason="r", votes_used=9, created_at=utcnow())
    payload = {"media": "/x.mp4", "settings": {"threshold": 0.5}}
    merged = merge_tuning(payload, tuning)
    assert merged["settings"] == {"w_audio_rms": 2.0, "threshold": 0.5}
    assert payload["settings"] == {"threshold": 0.5}  # the job itself is not changed
    assert merge_tuning(payload, None) is payload


@pytest.mark.allow_error_logs
async def test_storage_that_cannot_be_opened_stops_the_bot_with_a_clear_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = BotConfig.from_env(f"sqlite:///{tmp_path / 'x.db'}", {"DISCORD_TOKEN": "x"})
    assert await run("mysql://nowhere/db", config) == 2
    assert "Discord bot not started: the storage cannot be opened" in caplog.text

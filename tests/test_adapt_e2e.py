"""End to end, a community teaching the ranker: viewers' clips on the Helix double and chat replays on the
Twitch GQL double → the scheduler's refresh queues an ADAPT job → a real worker fits and stores the
guild × streamer's adaptation → the next DETECT job of that streamer uses it → its job card says so.
Also ``highlights adapt`` from files, with its stored history, rollback and reset."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.views.job_card import card_embed
from detector.worker import Worker, WorkerOptions
from highlights.doubles.twitch import TwitchDouble
from highlights.doubles.twitch_vods import FakeVod
from storage.adapt_refresh import RefreshOptions, refresh_due
from storage.artifacts import ArtifactStore
from storage.factory import open_storage
from storage.records import JobKind, JobRequest, JobStatus
from storage.url import sqlite_url
from tests.community_chat import community_chat, gql_nodes, write_jsonl
from tests.helix_double import HelixDouble

LENGTH = 1200.0


def moments(seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return sorted(float(x) for x in rng.choice(np.arange(100, LENGTH - 100, 80), 6, replace=False))


def community_vod(seed: int):  # type: ignore[no-untyped-def]
    truth = moments(seed)
    decoys = [t + 40 for t in moments(seed + 50) if all(abs(t + 40 - m) > 60 for m in truth)]
    return community_chat(LENGTH, truth, seed=seed, react_share=0.0, decoys=decoys, burst=30), truth


async def test_viewer_clips_adapt_the_ranker_and_the_next_job_says_so(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    helix = HelixDouble().start()
    catalogue: dict[str, FakeVod] = {}
    helix.add_user("zoomer")
    start = datetime.now(UTC) - timedelta(days=4)
    for k in range(3):
        video = helix.add_vod("zoomer", duration_s=LENGTH, created_at=start + timedelta(days=k), title=f"stream {k}")
        chat, truth = community_vod(k)
        for t in truth:
            helix.add_clip(video["id"], offset_s=t - 12, duration_s=30.0, views=10 + k)
        catalogue[video["id"]] = FakeVod(video["id"], length_s=int(LENGTH), comments=gql_nodes(chat))
    helix.add_vod("zoomer", duration_s=LENGTH, created_at=start + timedelta(days=3))  # no clips: no chat fetched
    try:
        with TwitchDouble(tmp_path / "hls", catalogue) as twitch:
            for name, value in {**helix.env(), **twitch.env()}.items():
                monkeypatch.setenv(name, value)
            artifacts = ArtifactStore.for_storage(None, tmp_path / "artifacts")
            async with await open_storage(sqlite_url(tmp_path / "db.sqlite")) as st:
                streamer = await st.repo.upsert_streamer("zoomer")
                await st.repo.subscribe("g1", streamer.id, "c1")
                queued = await refresh_due(st.repo, st.queue, RefreshOptions(vods=5))
                assert [r.job.kind for r in queued] == [JobKind.ADAPT]
                worker = Worker(st.queue, st.repo, artifacts, WorkerOptions(worker_id="w1", once=True, idle_s=0.05))
                await worker.run()

                adapt_job = await st.queue.get(queued[0].job.id)
                assert adapt_job.status is JobStatus.SUCCEEDED, adapt_job.error_message
                summary = "adapted from 18 viewer clips over 3 VODs"
                assert adapt_job.result is not None and adapt_job.result["summary"] == summary
                assert twitch.hits["gql:VideoCommentsByOffsetOrCursor"] > 0
                stored = await st.repo.current_adaptation("g1", streamer.id)
                assert stored is not None and stored.summary == summary and (stored.labels_used, stored.vods_used) == (18, 3)
                assert stored.model["lexicon"]["weights"]["zoomcrew"] > 1.0
                assert await st.repo.current_adaptation("g2", streamer.id) is None

                # The streamer's next VOD: a DETECT job of this guild runs with the adapted ranker.
                chat, truth = community_vod(9)
                write_jsonl(chat, tmp_path / "next.jsonl")
                detect = await st.queue.enqueue(JobRequest(kind=JobKind.DETECT, guild_id="g1", payload={
                    "chat": str(tmp_path / "next.jsonl"), "settings": {"top_k": 6},
                    "vod": {"streamer_id": streamer.id, "title": "stream 4"}}))
                other_guild = await st.queue.enqueue(JobRequest(kind=JobKind.DETECT, guild_id="g2", payload={
                    "chat": str(tmp_path / "next.jsonl"), "settings": {"top_k": 6},
                    "vod": {"streamer_id": streamer.id, "title": "stream 4"}}))
                await worker.run()
                done = await st.queue.get(detect.job.id)
                assert done.status is JobStatus.SUCCEEDED and done.result is not None, done.error_message
                assert done.result["adaptation"] == {"version": stored.version, "summary": summary, "labels": 18, "vods": 3}
                meta = json.loads((artifacts.root / done.result["artifacts"]["json"]).read_text())["meta"]
                assert meta["chat_ranker"]["kind"] == "adapted" and meta["chat_ranker"]["summary"] == summary
                plain = await st.queue.get(other_guild.job.id)
                assert plain.result is not None and plain.result["adaptation"] is None

                fields = {f.name: f.value for f in card_embed(done, now=datetime.now(UTC)).fields}
                assert fields["Chat ranker"] == summary
                assert "Chat ranker" not in {f.name for f in card_embed(plain, now=datetime.now(UTC)).fields}
    finally:
        helix.stop()


def test_adapt_command_fits_stores_and_rolls_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from storage.twitch.viewer_clips import ViewerClipLabel, ViewerClipLabels, save_viewer_clips
    from tests.test_cli import run_cli

    args: list[str | Path] = []
    for k in range(3):
        chat, truth = community_vod(20 + k)
        write_jsonl(chat, tmp_path / f"c{k}.jsonl")
        save_viewer_clips(tmp_path / f"v{k}.json", ViewerClipLabels(f"9{k}", tuple(
            ViewerClipLabel(offset_s=t - 12, duration_s=30.0, views=3) for t in truth)))
        args += ["--chat", tmp_path / f"c{k}.jsonl", "--viewer-clips", tmp_path / f"v{k}.json"]
    db = f"sqlite:///{tmp_path / 'h.db'}"
    pair = ["--storage", db, "--guild", "g1", "--streamer", "Zoomer"]
    assert run_cli("adapt", *args, "--out", tmp_path / "adapted.json", *pair) == 0
    out = capsys.readouterr().out
    assert "adapted from 18 viewer clips over 3 VODs" in out and "stored as version 1" in out
    assert json.loads((tmp_path / "adapted.json").read_text())["meta"]["kind"] == "adapted"
    assert run_cli("detect", "--chat", tmp_path / "c0.jsonl", "--ranker", tmp_path / "adapted.json", "--quiet",
                   "--json", tmp_path / "o.json") == 0
    assert json.loads((tmp_path / "o.json").read_text())["meta"]["chat_ranker"]["kind"] == "adapted"
    assert run_cli("adapt", *pair, "--reset") == 0
    assert run_cli("adapt", *pair, "--rollback", "1") == 0
    assert run_cli("adapt", *pair, "--show") == 0
    shown = capsys.readouterr().out
    assert "v3" in shown and "v2" in shown and "rolled back to version 1" in shown and "default ranker" in shown
    assert run_cli("adapt", "--chat", tmp_path / "c0.jsonl", "--out", tmp_path / "x.json") == 2  # no clips file
    assert "one --viewer-clips per --chat" in capsys.readouterr().err

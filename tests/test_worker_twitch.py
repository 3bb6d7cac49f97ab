"""A DETECT job that names only a Twitch VOD, end to end against the strict local Twitch double.

The real worker on real SQLite: our metadata query → yt-dlp's Twitch extractor (token, usher) → the
chat replay and the audio-only rendition are downloaded into the job's folder, the detector runs on
them, muted spans flag the clips they touch, and rendering downloads only the sections its clips
need. A VOD that is gone or subscriber-only fails for good with its reason, at the job's start; a
Twitch outage (chat's included) fails retryably; a chat replay Twitch refuses leaves an audio-only
result whose meta and queue result say "chat replay refused by Twitch: <reason>; these clips come
from audio only".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from detector.sources.twitch.endpoints import WEB_CLIENT_ID
from detector.sources.twitch.playlist import parse_media_playlist
from detector.worker import Worker, WorkerOptions
from highlights.doubles.twitch import TwitchDouble
from highlights.doubles.twitch_vods import DELETED, MUTED, NORMAL, SUB_ONLY, FakeVod, build_hls_vod, make_comments
from storage.artifacts import ArtifactStore
from storage.factory import open_storage
from storage.records import JobKind, JobRequest, JobStatus
from storage.url import sqlite_url

pytestmark = pytest.mark.timeout(180)

LENGTH_S = 120


@pytest.fixture(scope="module")
def hls_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-minute VOD with planted loud events, as Twitch's renditions (``chunked`` and ``audio_only``)."""
    return build_hls_vod(tmp_path_factory.mktemp("twitch-vod"), minutes=LENGTH_S / 60, width=320, height=180, fps=15,
                         seed=3)


@pytest.fixture
def twitch(hls_root: Path, monkeypatch: pytest.MonkeyPatch):
    catalogue = {
        NORMAL: FakeVod(NORMAL, length_s=LENGTH_S, comments=make_comments(1500, LENGTH_S)),
        MUTED: FakeVod(MUTED, length_s=LENGTH_S, muted=[(0, LENGTH_S // 2)]),
        DELETED: FakeVod(DELETED, deleted=True),
        SUB_ONLY: FakeVod(SUB_ONLY, length_s=LENGTH_S, subscribers=frozenset({"7001"})),
    }
    with TwitchDouble(hls_root, catalogue) as double:
        for name, value in double.env(fast=True).items():
            monkeypatch.setenv(name, value)
        yield double


async def run_job(tmp_path: Path, payload: dict[str, Any]) -> tuple[Any, list[Any], Path]:
    url = sqlite_url(tmp_path / "queue.db")
    artifacts = ArtifactStore.for_storage(None, tmp_path / "artifacts")
    async with await open_storage(url) as st:
        enq = await st.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload=payload, max_attempts=2))
        worker = Worker(st.queue, st.repo, artifacts, WorkerOptions(worker_id="w1", once=True, idle_s=0.05))
        await worker.run()
        job = await st.queue.get(enq.job.id)
        clips = await st.repo.list_clips(job.id)
    return job, clips, artifacts.job_dir(job.id)


def payload(vod_id: str, **extra: Any) -> dict[str, Any]:
    return {"vod": {"twitch_vod_id": vod_id, "title": "Synthetic stream"}, "settings": {"top_k": 3}, **extra}


async def test_a_twitch_only_job_downloads_audio_and_chat_then_detects(twitch: TwitchDouble, tmp_path: Path) -> None:
    job, clips, folder = await run_job(tmp_path, payload(NORMAL))
    assert job.status is JobStatus.SUCCEEDED, job.error_message
    assert clips and all(c.vod_id is not None for c in clips)
    assert twitch.segments("chunked", NORMAL) == set()  # detection never needs a picture
    result = json.loads((folder / "result.json").read_text())
    facts = result["meta"]["twitch"]
    assert facts["vod_id"] == NORMAL and facts["chat"] == "replay" and facts["muted"] == []
    assert facts["chat_refused"] is None and result["meta"]["notes"] == [] and "notes" not in job.result
    assert result["meta"]["chat_messages"] > 1000 and "audio" in result["meta"]["mode"]
    assert (folder / "source" / "chat.json").is_file()  # kept for reuse
    assert not (folder / "source" / "audio.m4a").exists()  # downloads are removed once the job is done


async def test_muted_spans_flag_the_clips_that_touch_them(twitch: TwitchDouble, tmp_path: Path) -> None:
    job, clips, _ = await run_job(tmp_path, payload(MUTED))
    assert job.status is JobStatus.SUCCEEDED, job.error_message
    for clip in clips:
        inside = max(0.0, min(clip.end_s, LENGTH_S // 2) - clip.start_s)
        assert clip.explanation.get("muted_s", 0.0) == pytest.approx(inside, abs=0.11)
    assert any(c.explanation.get("muted_s") for c in clips) or all(c.start_s >= LENGTH_S // 2 for c in clips)


async def test_a_deleted_vod_fails_for_good_with_its_reason(twitch: TwitchDouble, tmp_path: Path) -> None:
    job, clips, _ = await run_job(tmp_path, payload(DELETED))
    assert job.status is JobStatus.FAILED and job.error_code == "vod_unavailable" and job.attempts == 1
    assert "deleted" in (job.error_message or "").lower() and clips == []


async def test_a_subscriber_only_vod_without_a_token_fails_for_good_at_the_start(twitch: TwitchDouble,
                                                                                tmp_path: Path) -> None:
    job, clips, _ = await run_job(tmp_path, payload(SUB_ONLY))
    assert job.status is JobStatus.FAILED and job.error_code == "vod_subscriber_only" and job.attempts == 1
    assert "subscribers only" in (job.error_message or "") and "HIGHLIGHTS_TWITCH_OAUTH_TOKEN" in (job.error_message or "")
    assert clips == [] and not any(p.endswith(".ts") for p in twitch.hits)


@pytest.mark.parametrize("down", ["gql:PlaybackAccessToken", "gql:VideoCommentsByOffsetOrCursor"])
async def test_a_twitch_outage_is_retried_later(twitch: TwitchDouble, tmp_path: Path, down: str) -> None:
    twitch.always[down] = "500"
    job, _, _ = await run_job(tmp_path, payload(NORMAL))
    assert job.error_code == "download_error" and job.status in (JobStatus.QUEUED, JobStatus.FAILED)
    assert job.status is JobStatus.QUEUED or job.attempts == 2  # retryable: queued again (or out of attempts)


@pytest.mark.parametrize("refusal", ["integrity", "retired"])
async def test_a_refused_chat_replay_leaves_audio_only_clips_that_say_why(twitch: TwitchDouble, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        refusal: str) -> None:
    if refusal == "integrity":  # a chat client id Twitch checks the integrity of
        monkeypatch.setenv("HIGHLIGHTS_TWITCH_CLIENT_ID_CHAT", WEB_CLIENT_ID)
        reason = "failed integrity check"
    else:
        twitch.retire("VideoCommentsByOffsetOrCursor")
        reason = "PersistedQueryNotFound"
    job, clips, folder = await run_job(tmp_path, payload(NORMAL))
    assert job.status is JobStatus.SUCCEEDED, job.error_message
    note = f"chat replay refused by Twitch: {reason}; these clips come from audio only"
    meta = json.loads((folder / "result.json").read_text())["meta"]
    assert meta["notes"] == [note] and job.result["notes"] == [note]
    assert meta["twitch"]["chat"] == "refused" and meta["twitch"]["chat_refused"] == reason
    assert meta["mode"] == "audio" and meta.get("chat_messages") in (None, 0)
    assert not (folder / "source" / "chat.json").exists() and clips


async def test_rendering_downloads_only_the_sections_its_clips_need(twitch: TwitchDouble, hls_root: Path,
                                                                  tmp_path: Path) -> None:
    from detector.sources.media import probe

    job, clips, folder = await run_job(tmp_path, payload(NORMAL, settings={"top_k": 3, "max_len_s": 15, "min_len_s": 8},
                                                          render={"layout": "16:9", "top": 1, "reel": False}))
    assert job.status is JobStatus.SUCCEEDED, job.error_message
    rendered = [c for c in clips if c.files.get("16:9")]
    assert len(rendered) == 1 and rendered[0].rank == 1
    clip = rendered[0]
    out = probe(folder.parents[1] / clip.files["16:9"])
    assert out.has_video and out.duration_s == pytest.approx(clip.end_s - clip.start_s, abs=0.25)
    fetched = twitch.segments("chunked", NORMAL)
    every = {p.name for p in (hls_root / "chunked").glob("*.ts")}
    assert fetched and fetched < every  # only the stretch around the one clip, never the whole VOD
    playlist = parse_media_playlist((hls_root / "chunked" / "index-dvr.m3u8").read_text(), "http://x/c/index-dvr.m3u8")
    needed = {s.uri.rsplit("/", 1)[1] for s in playlist.segments
              if s.end_s > clip.start_s - 10.0 and s.start_s < clip.end_s + 10.0}  # 10 s margins
    assert fetched == needed
    assert not list((folder / "source").glob("*.mp4"))  # sections removed once the clips exist


async def test_hybrid_jobs_fetch_the_candidates_picture_for_vision_and_cuts(twitch: TwitchDouble, hls_root: Path,
                                                                          tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.vision_fixtures import build_tiny_clip

    models = tmp_path / "models"
    build_tiny_clip(models / "clip-vit-base-patch32")
    monkeypatch.setenv("HIGHLIGHTS_MODELS_DIR", str(models))
    settings = {"top_k": 2, "vision_candidates": 2, "vision_frames_per_window": 2, "max_len_s": 15, "min_len_s": 8}
    job, clips, folder = await run_job(tmp_path, payload(NORMAL, settings=settings, hybrid={"profile": "cpu"}))
    assert job.status is JobStatus.SUCCEEDED, job.error_message
    meta = json.loads((folder / "result.json").read_text())["meta"]
    assert "vision" not in meta["unavailable_signals"] and meta["vision"] is not None
    assert "segments" not in meta["unavailable_signals"] and meta["segments"]["spans"]  # from the 160p overview
    assert meta["scenes"]["cuts"]["sections"] >= 1 and {"fetch_video", "fetch_overview"} <= set(meta["timings"])
    assert any(c.explanation.get("vision") for c in clips)
    assert all(c.explanation.get("segment") for c in clips)

"""Rendering a queued job's clips from its render spec (the worker's path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detector.errors import ConfigError
from detector.params import Settings
from detector.pipeline import DetectRequest, detect
from detector.render.job_render import RenderSpec, render_job
from detector.sources.media import probe
from detector.synthetic.vod import SyntheticVod


def test_spec_validation() -> None:
    assert RenderSpec.from_payload({}) == RenderSpec()
    spec = RenderSpec.from_payload({"layouts": ["16:9", "9:16", "16:9"], "top": 2, "size_mib": 8, "reel": True})
    assert spec.layouts == ("16:9", "9:16") and spec.top == 2 and spec.reel
    for bad, message in (({"layouts": ["4:3"]}, "render.layouts"), ({"top": 0}, "render.top"),
                         ({"top": True}, "render.top"), ({"size_mib": -1}, "render.size_mib"),
                         ({"reel": "yes"}, "render.reel")):
        with pytest.raises(ConfigError, match=message):
            RenderSpec.from_payload(bad)


def test_render_job_writes_each_layout_and_a_thumbnail(sample_vod: SyntheticVod, tmp_path: Path) -> None:
    result = detect(DetectRequest(media=sample_vod.media_path, chat=sample_vod.chat_path,
                                  settings=Settings({"top_k": 3, "min_gap_s": 30, "max_len_s": 12, "min_len_s": 6})))
    spec = RenderSpec(layouts=("16:9", "9:16"), top=2, size_mib=2)
    renders = render_job(result.candidates, sample_vod.media_path, tmp_path / "job", spec)
    assert sorted(renders.files) == [1, 2]
    for files in renders.files.values():
        assert set(files) >= {"16:9", "9:16", "thumb"}
        wide, tall = probe(files["16:9"]), probe(files["9:16"])
        assert wide.width > wide.height and tall.height > tall.width
        assert files["16:9"].stat().st_size <= 2 * 1024 * 1024
        assert files["16:9"].parent.name == "16x9" and files["9:16"].parent.name == "9x16"
    assert renders.reel is None


async def test_worker_renders_the_clips_a_job_asks_for(sample_vod: SyntheticVod, tmp_path: Path) -> None:
    from detector.worker import Worker, WorkerOptions
    from storage.artifacts import ArtifactStore
    from storage.factory import open_storage
    from storage.records import JobKind, JobRequest, JobStatus
    from storage.url import sqlite_url

    artifacts = ArtifactStore.for_storage(None, tmp_path / "artifacts")
    payload = {"media": str(sample_vod.media_path), "chat": str(sample_vod.chat_path),
               "settings": {"top_k": 3, "min_gap_s": 30, "max_len_s": 10, "min_len_s": 6},
               "render": {"layout": "9:16", "top": 2, "size_mib": 2, "captions": True}}
    async with await open_storage(sqlite_url(tmp_path / "h.db")) as st:
        job = (await st.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload=payload))).job
        assert await Worker(st.queue, st.repo, artifacts, WorkerOptions(worker_id="w", once=True)).run() == 1
        done = await st.queue.get(job.id)
        assert done.status is JobStatus.SUCCEEDED, done.error_message
        assert done.result["rendered"] == 2
        assert any("captions" in w for w in done.result["render_warnings"])
        clips = await st.repo.list_clips(job.id)
    with_files = [c for c in clips if c.files]
    assert [c.rank for c in with_files] == [1, 2]
    for clip in with_files:
        video = artifacts.resolve(clip.files["9:16"])
        assert video.is_file() and probe(video).height > probe(video).width
        assert artifacts.resolve(clip.files["thumb"]).is_file()


def test_payload_transcript_options() -> None:
    from detector.job_payload import transcript_from_payload

    assert transcript_from_payload({}) is None
    assert transcript_from_payload({"render": {"captions": True}}) is not None  # captions need words
    opts = transcript_from_payload({"transcript": {"language": "es", "keywords": ["gol"], "full": True}})
    assert opts is not None and opts.language == "es" and opts.keywords == ("gol",) and opts.full_transcript
    for bad in ({"transcript": "yes"}, {"transcript": {"language": "spanish!"}}, {"transcript": {"nope": 1}},
                {"transcript": {"keywords": "gol"}}):
        with pytest.raises(ConfigError):
            transcript_from_payload(bad)


async def test_a_job_asking_for_captions_burns_in_the_transcript(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    from detector.worker import Worker, WorkerOptions
    from storage.artifacts import ArtifactStore
    from storage.factory import open_storage
    from storage.records import JobKind, JobRequest, JobStatus
    from storage.url import sqlite_url

    speech = Path(__file__).parent / "data" / "speech" / "exclaim_en.wav"
    clip_src = tmp_path / "speech.mp4"  # a video with the speech, so there is a picture to caption
    from detector.ffmpeg import run_ffmpeg

    run_ffmpeg(["-f", "lavfi", "-i", "color=c=gray:s=320x180:r=10:d=16", "-i", str(speech), "-shortest",
                "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(clip_src)])
    artifacts = ArtifactStore.for_storage(None, tmp_path / "artifacts")
    payload = {"media": str(clip_src), "settings": {"top_k": 1},
               "render": {"layout": "16:9", "top": 1, "size_mib": 2, "captions": True}}
    async with await open_storage(sqlite_url(tmp_path / "h.db")) as st:
        job = (await st.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload=payload))).job
        assert await Worker(st.queue, st.repo, artifacts, WorkerOptions(worker_id="w", once=True)).run() == 1
        done = await st.queue.get(job.id)
        assert done.status is JobStatus.SUCCEEDED, done.error_message
        assert done.result["rendered"] == 1 and not done.result.get("render_warnings")
        clips = await st.repo.list_clips(job.id)
    assert "god" in (clips[0].explanation.get("quote") or "").lower()
    manifest = json.loads((artifacts.resolve(clips[0].files["16:9"]).parent / "render.json").read_text())
    assert manifest["clips"][0]["mode"] == "encode"  # burned-in captions rule out a stream copy
    assert not manifest["warnings"]

"""Re-cuts: RENDER jobs cut a stored clip again (more before, more after, vertical) with real ffmpeg, never
re-detecting, and each distinct plan is rendered once (the clip's stored cut, then the render cache)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detector.sources.media import probe
from detector.synthetic.vod import SyntheticVod
from storage.artifacts import ArtifactStore
from storage.factory import Storage, open_storage
from storage.records import Clip, Job, JobKind, JobRequest, JobStatus
from storage.recuts import cut_key, recut_request
from storage.repo.port import ClipDraft
from storage.url import sqlite_url

pytestmark = pytest.mark.timeout(600)  # a guard against hangs on a shared machine, not a speed limit


async def _detected(st: Storage, media: Path) -> tuple[Job, Clip]:
    """A finished DETECT job with one stored clip (as the worker leaves it), on a local file."""
    payload = {"media": str(media), "chat": None, "vod": {"source": str(media)}, "render": {"layout": "16:9"}}
    job = (await st.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload=payload, guild_id="1"))).job
    claimed = await st.queue.claim("w", [JobKind.DETECT])
    assert claimed is not None and claimed.id == job.id
    vod = await st.repo.upsert_vod(source=str(media), duration_s=180.0)
    clips = await st.repo.save_candidates(job.id, [ClipDraft(rank=1, start_s=30.0, end_s=38.0, peak_s=33.0, score=2.0,
                                                             explanation={"segment": "gameplay"})], vod_id=vod.id)
    assert await st.queue.complete(job.id, "w", {"clips": [clips[0].id]})
    return await st.queue.get(job.id), clips[0]


async def _run(st: Storage, artifacts: ArtifactStore, clip: Clip, job: Job, **cut: Any) -> Job:
    from detector.worker import Worker, WorkerOptions

    made = await st.queue.enqueue(recut_request(clip, job, requested_by="7", channel_id="9", **cut))
    worker = Worker(st.queue, st.repo, artifacts, WorkerOptions(worker_id="w", once=True, kinds=(JobKind.RENDER,)))
    assert await worker.run() == 1
    done = await st.queue.get(made.job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error_message
    return done


async def test_recuts_render_the_new_span_once_per_plan_without_detecting(sample_vod: SyntheticVod, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.pipeline

    def no_detection(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a re-cut ran the detector")

    monkeypatch.setattr(detector.pipeline, "detect", no_detection)
    monkeypatch.setenv("HIGHLIGHTS_RENDER_CACHE", str(tmp_path / "unused-user-cache"))
    artifacts = ArtifactStore.for_storage(None, tmp_path / "artifacts")
    async with await open_storage(sqlite_url(tmp_path / "h.db")) as st:
        job, clip = await _detected(st, sample_vod.media_path)
        wider = await _run(st, artifacts, clip, job, before=10, after=0, layout="16:9")
        assert wider.result is not None and wider.result["rendered"] is True
        assert (wider.result["start"], wider.result["end"]) == (20.0, 38.0)
        path = artifacts.resolve(wider.result["file"])
        info = probe(path)
        assert info.width > info.height and abs(info.duration_s - 18.0) < 1.0
        stored = await st.repo.get_clip(clip.id)
        assert stored.files[cut_key(10, 0, "16:9")] == wider.result["file"]
        assert (stored.start_s, stored.end_s, stored.score) == (30.0, 38.0, 2.0)  # the candidate itself is unchanged

        again = await _run(st, artifacts, clip, job, before=10, after=0, layout="16:9")  # the same plan
        assert again.result is not None and again.result["rendered"] is False
        assert again.result["file"] == wider.result["file"]

        tall = await _run(st, artifacts, clip, job, before=0, after=10, layout="9:16")  # a new plan: a new render
        assert tall.result is not None and tall.result["rendered"] is True
        shape = probe(artifacts.resolve(tall.result["file"]))
        assert shape.height > shape.width and abs(shape.duration_s - 18.0) < 1.0

        # The stored file went away (retention): the plan is the same, so the render cache hands it out.
        artifacts.resolve(wider.result["file"]).unlink()
        cached = await _run(st, artifacts, clip, job, before=10, after=0, layout="16:9")
        assert cached.result is not None and cached.result["mode"] == "cache" and cached.result["rendered"] is False
        assert artifacts.resolve(cached.result["file"]).is_file()


async def test_a_recut_of_a_clip_that_is_gone_or_a_bad_cut_fails_in_words(tmp_path: Path) -> None:
    from detector.worker import Worker, WorkerOptions

    artifacts = ArtifactStore.for_storage(None, tmp_path / "artifacts")
    async with await open_storage(sqlite_url(tmp_path / "h.db")) as st:
        for payload, says in (({"clip_id": 999, "before": 10, "after": 0, "layout": "16:9"}, "no longer stored"),
                              ({"clip_id": 1, "before": 500, "after": 0, "layout": "16:9"}, "before must be"),
                              ({"clip_id": 1, "before": 0, "after": 0, "layout": "4:3"}, "layout must be")):
            job = (await st.queue.enqueue(JobRequest(kind=JobKind.RENDER, payload=payload, max_attempts=1))).job
            worker = Worker(st.queue, st.repo, artifacts, WorkerOptions(worker_id="w", once=True, kinds=(JobKind.RENDER,)))
            await worker.run()
            failed = await st.queue.get(job.id)
            assert failed.status is JobStatus.FAILED and failed.error_code == "config_error"
            assert says in (failed.error_message or "")

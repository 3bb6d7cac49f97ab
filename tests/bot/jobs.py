"""Jobs for the bot tests, made through the real queue and repository ports (the test acts as the worker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from highlights.doubles.discord import CHANNEL_ID, GUILD_ID
from storage.factory import Storage
from storage.records import Job, JobKind, JobRequest
from storage.repo.port import ClipDraft

WORKER = "test-worker"
VOD_ID = "2012345678"


def explanation(i: int) -> dict[str, Any]:
    return {"summary": f"chat ×{3 + i} over baseline (KEKW), audio z {2 + i}", "contributions": {},
            "chat_lag_s": 18.0, "chat_rate_ratio": 3.0 + i, "top_emotes": [["KEKW", 12], ["LUL", 4]],
            "chat_sample": ["KEKW"], "audio_z": 2.0 + i}


async def claim(storage: Storage) -> Job:
    job = await storage.queue.claim(WORKER, [JobKind.DETECT])
    assert job is not None
    return job


async def finished_job(storage: Storage, artifacts_root: Path, *, clips: int = 3,
                       files: list[dict[str, int]] | None = None, twitch_id: str | None = VOD_ID,
                       streamer: str | None = None, reel_bytes: int | None = None, layout: str = "16:9",
                       signals: list[dict[str, float]] | None = None, guild_id: int = GUILD_ID,
                       channel_id: int = CHANNEL_ID) -> Job:
    """A succeeded DETECT job with ``clips`` stored clips; ``files[i]`` maps layout → size of a file to write."""
    streamer_id = (await storage.repo.upsert_streamer(streamer)).id if streamer else None
    source = f"https://www.twitch.tv/videos/{twitch_id}" if twitch_id else str(artifacts_root / "local.mp4")
    payload = {"media": None if twitch_id else source, "chat": None, "settings": {},
               "vod": {"twitch_vod_id": twitch_id, "source": source, "streamer_id": streamer_id},
               "render": {"layout": layout, "captions": False}}
    made = await storage.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload=payload, requested_by="1",
                                                  guild_id=str(guild_id), channel_id=str(channel_id)))
    job = await claim(storage)
    assert job.id == made.job.id
    return await finish(storage, artifacts_root, job, clips=clips, files=files, signals=signals, reel_bytes=reel_bytes)


async def finish(storage: Storage, artifacts_root: Path, job: Job, *, clips: int = 3,
                 files: list[dict[str, int]] | None = None, signals: list[dict[str, float]] | None = None,
                 reel_bytes: int | None = None) -> Job:
    """Act as the worker finishing the claimed ``job``: ``clips`` stored clips, ``files[i]`` layout → file size."""
    vod_facts = (job.payload or {}).get("vod") or {}
    twitch_id, source, streamer_id = vod_facts.get("twitch_vod_id"), vod_facts.get("source"), vod_facts.get("streamer_id")
    vod = await storage.repo.upsert_vod(source=source, twitch_vod_id=twitch_id, streamer_id=streamer_id)
    drafts = [ClipDraft(rank=i + 1, start_s=3723.0 + 100 * i, end_s=3750.0 + 100 * i, peak_s=3735.0 + 100 * i,
                        score=round(4.5 - i, 2),
                        signals=(signals[i] if signals else {"chat.ranker": 3.0 - i, "audio.rms": 1.0 + i}),
                        explanation=explanation(i)) for i in range(clips)]
    stored = await storage.repo.save_candidates(job.id, drafts, vod_id=vod.id)
    folder = artifacts_root / "jobs" / str(job.id)
    folder.mkdir(parents=True, exist_ok=True)
    for clip, sizes in zip(stored, files or []):
        written = {}
        for key, size in sizes.items():
            path = folder / f"clip{clip.rank}-{key.replace(':', 'x')}.mp4"
            with path.open("wb") as f:
                f.write(b"\x00\x00\x00\x18ftypmp42")
                f.truncate(size)
            written[key] = path.relative_to(artifacts_root).as_posix()
        await storage.repo.set_clip_files(clip.id, written)
    result: dict[str, Any] = {"clips": [c.id for c in stored], "candidates": len(stored)}
    if reel_bytes is not None:
        reel = folder / "reel.mp4"
        reel.write_bytes(b"\x00" * reel_bytes)
        result["reel"] = reel.relative_to(artifacts_root).as_posix()
    assert await storage.queue.complete(job.id, WORKER, result)
    return await storage.queue.get(job.id)

"""Re-cut buttons: a click queues a render-only job (or joins one, or hands back the cut made before), the
finished cut is posted as a reply to its clip with buttons for the next step, failures are said in words,
and members have an hourly limit. The real bot against the Discord double; the test acts as the worker.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.recut import RECUTS_PER_HOUR
from highlights.doubles.discord import EPHEMERAL
from storage.records import Clip, Job, JobKind, JobStatus
from storage.recuts import cut_key
from tests.bot.harness import ADMIN, ALICE, BOB, BotHarness
from tests.bot.jobs import WORKER, finished_job

pytestmark = pytest.mark.timeout(300)  # a guard against hangs, not a speed limit


async def posted_clip(h: BotHarness, **options: Any) -> tuple[Job, Clip]:
    job = await finished_job(h.storage, h.config.artifacts.root, clips=2, **options)

    async def check() -> Clip | None:
        clips = await h.storage.repo.list_clips(job.id)
        return clips[0] if (await h.bot.state.post(job.id)).done and all(c.message_id for c in clips) else None

    return job, await h.double.wait_for(check, what="the clips posted")


async def render_as_worker(h: BotHarness, size: int = 4096) -> Job:
    """Claim the queued RENDER job and finish it as the worker does: a file stored on the clip under its cut."""
    job = await h.storage.queue.claim(WORKER, [JobKind.RENDER])
    assert job is not None
    p = job.payload
    folder = h.config.artifacts.job_dir(job.id)
    out = folder / "recut" / "clip-01.mp4"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"\x00" * size)
    rel = h.config.artifacts.relative(out)
    key = cut_key(p["before"], p["after"], p["layout"])
    clip = await h.storage.repo.get_clip(p["clip_id"])
    await h.storage.repo.set_clip_files(clip.id, {key: rel})
    start = max(clip.start_s - p["before"], 0.0)
    result = {"clip_id": clip.id, "key": key, "file": rel, "rendered": True, "start": start, "end": clip.end_s + p["after"]}
    assert await h.storage.queue.complete(job.id, WORKER, result)
    return await h.storage.queue.get(job.id)


def showing(message: dict[str, Any], custom_id: str) -> dict[str, Any]:
    """``message`` as a client would show it with a re-cut button asking for ``custom_id`` (Discord only sends
    clicks on buttons a message has: a re-cut reply's buttons, or an older post's)."""
    copy = json.loads(json.dumps(message))
    copy["components"][1]["components"][0]["custom_id"] = custom_id
    return copy


def replies(h: BotHarness, clip: Clip) -> list[dict[str, Any]]:
    return [m for m in h.double.channel_messages(int(clip.thread_id or 0))
            if (m.get("message_reference") or {}).get("message_id") == clip.message_id]


async def test_a_recut_is_a_render_job_posted_as_a_reply_with_the_next_steps(h: BotHarness) -> None:
    _, clip = await posted_clip(h)
    message = h.double.messages[int(clip.message_id or 0)]
    token = h.click(message, f"hl:recut:{clip.id}:10:0:h", user=ALICE)
    assert await h.answer(token) == ("Re-cutting clip #1 (+10 s before, 16:9). The new cut is posted as a reply to "
                                     "the clip, usually within a minute or two.")
    assert h.double.callback(token).body == {"type": 5, "data": {"flags": EPHEMERAL}}  # type: ignore[union-attr]
    (job,) = await h.storage.queue.list_jobs(statuses=[JobStatus.QUEUED])
    assert job.kind is JobKind.RENDER and job.requested_by == str(ALICE.id)
    assert job.payload["clip_id"] == clip.id and (job.payload["before"], job.payload["after"]) == (10, 0)
    assert job.payload["twitch_vod_id"] and "settings" not in job.payload  # render only: nothing to detect with

    joined = h.click(message, f"hl:recut:{clip.id}:10:0:h", user=BOB)  # the same cut while it is queued
    assert "Someone already asked for this cut of clip #1" in await h.answer(joined)
    assert len(await h.storage.queue.list_jobs(statuses=[JobStatus.QUEUED])) == 1

    await render_as_worker(h)
    (reply,) = await h.double.wait_for(lambda: replies(h, clip) or None, what="the re-cut's reply")
    assert reply["type"] == 19 and reply["attachments"][0]["filename"] == f"clip-{clip.id}-recut.mp4"
    embed = reply["embeds"][0]
    assert embed["description"].split("\n") == ["**Re-cut of #1** · +10 s before, 16:9 · 37 s · from 1:01:53",
                                                 f"Asked for by <@{ALICE.id}>"]
    assert embed["url"].endswith("?t=1h01m53s") and "clip " not in embed["footer"]["text"]
    (row,) = reply["components"]  # no votes under a re-cut: the next steps and the link
    assert [b.get("custom_id") for b in row["components"]] == [f"hl:recut:{clip.id}:20:0:h", f"hl:recut:{clip.id}:10:10:h",
                                                               f"hl:recut:{clip.id}:10:0:v", None]
    assert row["components"][3]["label"] == "Watch at 1:01:53 on Twitch"

    # The same cut again: no job, the stored file is posted again at once.
    again = h.click(message, f"hl:recut:{clip.id}:10:0:h", user=BOB)
    assert "(+10 s before, 16:9) was made already; here it is again: https://discord.com/channels/" in await h.answer(again)
    assert await h.storage.queue.list_jobs(statuses=[JobStatus.QUEUED]) == []
    assert len([j for j in await h.storage.queue.list_jobs() if j.kind is JobKind.RENDER]) == 1  # rendered once
    await h.double.wait_for(lambda: len(replies(h, clip)) == 2, what="the cut posted again")


async def test_the_posted_cut_is_not_a_recut_and_a_failed_recut_is_said_in_words(h: BotHarness) -> None:
    _, clip = await posted_clip(h, layout="9:16")
    message = h.double.messages[int(clip.message_id or 0)]
    assert message["components"][1]["components"][2]["label"] == "Horizontal 16:9"  # posted vertical: offer wide
    same = h.click(showing(message, f"hl:recut:{clip.id}:0:0:v"), f"hl:recut:{clip.id}:0:0:v")
    assert await h.answer(same) == "That is the clip as it was posted; nothing to re-cut."
    token = h.click(message, f"hl:recut:{clip.id}:0:10:v")
    await h.answer(token)
    job = await h.storage.queue.claim(WORKER, [JobKind.RENDER])
    assert job is not None
    await h.storage.queue.fail(job.id, WORKER, code="media_error", message="moov atom not found", retryable=False)
    (reply,) = await h.double.wait_for(lambda: replies(h, clip) or None, what="the failure's reply")
    assert reply["content"] == ("Sorry, the re-cut of clip #1 could not be made: the VOD's video could not be read. "
                                "Try the button again later.")


async def test_members_have_an_hourly_recut_limit_admins_do_not(h: BotHarness) -> None:
    _, clip = await posted_clip(h)
    message = h.double.messages[int(clip.message_id or 0)]
    for i in range(RECUTS_PER_HOUR):
        wanted = f"hl:recut:{clip.id}:{10 * (i % 7)}:{10 * (i // 7)}:v"
        token = h.click(showing(message, wanted), wanted, user=BOB)
        assert (await h.answer(token)).startswith("Re-cutting clip #1")
        for queued in await h.storage.queue.list_jobs(statuses=[JobStatus.QUEUED]):  # keep BOB under his job quota
            assert await h.storage.queue.cancel(queued.id)
    last = f"hl:recut:{clip.id}:60:60:v"
    limited = h.click(showing(message, last), last, user=BOB)
    assert f"You reached the limit of {RECUTS_PER_HOUR} re-cuts per hour" in await h.answer(limited)
    assert h.double.callback(limited).body["type"] == 4  # type: ignore[union-attr]  # answered before any I/O
    admin = h.click(showing(message, last), last, user=ADMIN)
    assert (await h.answer(admin)).startswith("Re-cutting clip #1")

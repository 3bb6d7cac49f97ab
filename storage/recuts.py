"""Re-cuts of a stored clip: the key its file is stored under, and the RENDER job that makes it.

Consumes a stored ``Clip`` and the DETECT ``Job`` that made it, and the cut wanted (seconds added
before and after, the layout); produces the clip's ``files`` key of that cut (``cut 10+0 9:16``: the bot
looks it up before queueing, the worker stores under it) and the ``JobRequest`` of a RENDER job, whose
dedupe key makes a second press of the same button join the job already queued. Shared by the bot and
the worker, so both spell the key the same way.
"""

from __future__ import annotations

from typing import Any

from storage.records import Clip, Job, JobKind, JobRequest, Priority


def cut_key(before: int, after: int, layout: str) -> str:
    """The clip's ``files`` key of a re-cut."""
    return f"cut {int(before)}+{int(after)} {layout}"


def recut_dedupe_key(clip_id: int, before: int, after: int, layout: str) -> str:
    return f"recut:{clip_id}:{int(before)}:{int(after)}:{layout}"


def recut_request(clip: Clip, job: Job, *, before: int, after: int, layout: str, requested_by: str | None,
                  channel_id: str | None) -> JobRequest:
    """The RENDER job re-cutting ``clip`` (made by ``job``): render only, from the stored candidate."""
    payload: dict[str, Any] = job.payload or {}
    vod = payload.get("vod") if isinstance(payload.get("vod"), dict) else {}
    return JobRequest(
        kind=JobKind.RENDER,
        payload={"clip_id": clip.id, "before": int(before), "after": int(after), "layout": layout,
                 "media": payload.get("media") or None,
                 "twitch_vod_id": str(vod["twitch_vod_id"]) if vod and vod.get("twitch_vod_id") else None,
                 "source_job": job.id},
        dedupe_key=recut_dedupe_key(clip.id, before, after, layout), priority=Priority.PERSON,
        requested_by=requested_by, guild_id=job.guild_id, channel_id=channel_id)

"""Adaptation refreshes: the scheduler queues one ADAPT job per subscribed guild × streamer when due, on
SQLite and PostgreSQL; again only after the interval, whatever happened to the last one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.adapt_refresh import RefreshOptions, adapt_dedupe_key, refresh_due
from storage.clock import utcnow
from storage.errors import StorageError
from storage.records import JobKind, JobStatus, Priority
from tests.storage.harness import Backend


async def test_refresh_queues_each_pair_once_per_interval(backend: Backend) -> None:
    st = await backend.connect()
    a, b = await st.repo.upsert_streamer("alpha"), await st.repo.upsert_streamer("beta")
    await st.repo.subscribe("g1", a.id, "c1")
    await st.repo.subscribe("g1", b.id, "c1")
    await st.repo.subscribe("g2", a.id, "c9")
    off = await st.repo.subscribe("g3", b.id, "c3")
    await st.repo.set_subscription_enabled(off.id, False)
    week = RefreshOptions(interval_s=7 * 86400, vods=6)

    queued = await refresh_due(st.repo, st.queue, week)
    pairs = sorted((r.job.guild_id, r.job.payload["streamer_id"]) for r in queued)
    assert pairs == sorted([("g1", a.id), ("g1", b.id), ("g2", a.id)])
    job = next(r.job for r in queued if r.job.guild_id == "g2")
    assert job.kind is JobKind.ADAPT and job.priority == Priority.SCHEDULED
    assert job.payload == {"guild_id": "g2", "streamer_id": a.id, "vods": 6}
    assert job.dedupe_key == adapt_dedupe_key("g2", a.id)

    assert await refresh_due(st.repo, st.queue, week) == []  # queued ones are not repeated
    claimed = await st.queue.claim("w1", [JobKind.ADAPT])
    assert claimed is not None
    await st.queue.complete(claimed.id, "w1", {"adapted": False, "reason": "too few labels"})
    assert (await st.queue.get(claimed.id)).status is JobStatus.SUCCEEDED
    assert await refresh_due(st.repo, st.queue, week) == []  # done this week: wait for the next
    later = await refresh_due(st.repo, st.queue, week, now=utcnow() + timedelta(days=8))
    fresh = [r for r in later if r.created]  # the two still queued are joined, not doubled
    assert len(later) == 3 and len(fresh) == 1 and fresh[0].job.dedupe_key == claimed.dedupe_key
    assert await refresh_due(st.repo, st.queue, RefreshOptions(interval_s=0)) == []


def test_refresh_options_from_the_environment() -> None:
    assert RefreshOptions.from_env({}) == RefreshOptions()
    assert RefreshOptions.from_env({"HIGHLIGHTS_ADAPT_INTERVAL_S": "0", "HIGHLIGHTS_ADAPT_VODS": "3"}) == \
        RefreshOptions(interval_s=0.0, vods=3)
    for bad in ({"HIGHLIGHTS_ADAPT_VODS": "0"}, {"HIGHLIGHTS_ADAPT_VODS": "2.5"}, {"HIGHLIGHTS_ADAPT_INTERVAL_S": "soon"}):
        with pytest.raises(StorageError, match="HIGHLIGHTS_ADAPT"):
            RefreshOptions.from_env(bad)

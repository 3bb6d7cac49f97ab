"""Worker stage: the queue handler around the pipeline — claimed jobs in, clips and artifacts out.

Consumes jobs from the ``JobQueue`` port and writes through the ``Repository`` port and an
``ArtifactStore``; never touches one backend's internals. A DETECT job's payload becomes a
``DetectRequest`` in ``detector.job_payload``; a payload naming only a Twitch VOD has its audio and
chat fetched first (``detector.ingest``), and its rendered clips cut from downloaded sections. When the job
has a guild and its ``vod`` names a streamer, that guild × streamer's current vote tuning
(``repo.current_tuning``) is read as the job starts and applied under the job's own settings (an
explicit setting wins); the result records the version and the votes behind it. The detector runs in
a thread (``asyncio.to_thread``) while the event loop heartbeats every ``heartbeat_s`` of the job's
kind (``storage.queue.timeouts``), writes progress and watches for a cancel request, a lost lease or
a shutdown. Whatever stops the job reaches the detector through ``JobControl.should_abort`` (a
``threading.Event``) which the pipeline polls. Results: candidates stored as clips, ``result.json``
and ``report.html`` under the job's artifact folder, and a small result dict for ``queue.complete``.
A ``DetectorError`` (bad input) fails the job for good with its ``code`` (unless it says it may pass,
as a Twitch outage does); a full disk fails it with
``disk_full``; anything else (OOM, I/O) is retryable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.errors import ConfigError, DetectorError
from detector.job_control import JobControl, StopReason, job_context
from detector.job_payload import merge_tuning, request_from_payload, twitch_vod_of
from storage.artifacts import ArtifactStore
from storage.errors import StorageError
from storage.queue.port import JobQueue
from storage.queue.timeouts import KindTimeouts, with_overrides
from storage.records import Clip, Job, JobKind, JobStatus, Tuning
from storage.repo.port import ClipDraft, Repository
from storage.twitch_ref import vod_url

if TYPE_CHECKING:
    from detector.ingest import TwitchSources
    from detector.pipeline import DetectRequest
    from detector.records import Candidate

log = logging.getLogger(__name__)

RESULT_JSON = "result.json"
REPORT_HTML = "report.html"
DETECT_SPAN = (0.02, 0.90)
RENDER_SPAN = (0.93, 0.99)
"""Share of a DETECT job's progress rendering covers, when the payload asks for clips."""
"""Share of a DETECT job's progress the detector itself covers; artifacts and clips take the rest."""
STAGE_WEIGHTS = {"signal chat": 0.10, "signal audio": 0.02, "decode audio": 0.70, "download audio": 0.25,
                 "download chat": 0.10}
"""Rough share of the detector's time per pipeline stage (unknown stages get ``DEFAULT_STAGE_WEIGHT``)."""
DEFAULT_STAGE_WEIGHT = 0.10
IDLE_WAIT_SLACK_S = 5.0
"""How long past ``idle_s`` an idle worker waits for a queue's ``wait_for_jobs`` before giving up on it."""

@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How one worker process behaves (``highlights worker`` options)."""

    worker_id: str
    kinds: tuple[JobKind, ...] = (JobKind.DETECT, JobKind.CLEANUP)
    device: str = "auto"
    """Compute device for jobs that do not name one (``auto``: a GPU when one is visible)."""
    grace_s: float = 30.0
    """On SIGTERM, how long the current job may run on before it is aborted and released (s)."""
    retention_days: float = 30.0
    """CLEANUP jobs delete job folders not modified for this many days."""
    idle_s: float = 1.0
    """Pause between claims while the queue has nothing runnable (s)."""
    once: bool = False
    """Exit as soon as nothing is runnable, instead of waiting for more jobs."""
    timeouts: Mapping[JobKind, KindTimeouts] | None = None
    """Overrides of ``storage.queue.timeouts.TIMEOUTS`` (the same ones the queue was opened with)."""


@dataclass(slots=True)
class DetectorProgress:
    """Turns the pipeline's ``(stage, done, total)`` calls into job fractions within ``DETECT_SPAN``."""

    control: JobControl
    _stage: str | None = None
    _base: float = 0.0

    def __call__(self, stage: str, done: float, total: float | None) -> None:
        if stage != self._stage:
            if self._stage is not None:
                self._base += STAGE_WEIGHTS.get(self._stage, DEFAULT_STAGE_WEIGHT)
            self._stage = stage
        share = STAGE_WEIGHTS.get(stage, DEFAULT_STAGE_WEIGHT) * (min(done / total, 1.0) if total else 0.0)
        lo, hi = DETECT_SPAN
        self.control.report(stage, lo + (hi - lo) * min(self._base + share, 1.0))


class Worker:
    """Claims jobs of ``options.kinds`` one at a time and runs them (see the module docstring)."""

    def __init__(self, queue: JobQueue, repo: Repository, artifacts: ArtifactStore, options: WorkerOptions) -> None:
        self.queue = queue
        self.repo = repo
        self.artifacts = artifacts
        self.options = options
        self.timeouts = with_overrides(options.timeouts)
        self._stopping = asyncio.Event()
        self._recovered = asyncio.Event()
        """Set when this worker re-queued stalled jobs: the idle wait ends so it can claim them at once."""
        self._control: JobControl | None = None
        self.handled = 0

    # -- the loop ---------------------------------------------------------------------------------------
    def stop(self, *, grace_s: float | None = None) -> None:
        """Stop claiming; the current job gets ``grace_s`` (default the option) to finish.

        Safe to call from the event loop thread only (signal handlers added with
        ``loop.add_signal_handler`` run there); a second call with ``grace_s=0`` aborts at once.
        """
        if self._stopping.is_set() and grace_s is None:
            grace_s = 0.0
        self._stopping.set()
        if self._control is not None:
            self._control.begin_shutdown(self.options.grace_s if grace_s is None else grace_s)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> int:
        """Claim and run jobs until stopped (or, with ``once``, until nothing is runnable)."""
        recover = asyncio.create_task(self._recover_periodically())
        try:
            while not self._stopping.is_set():
                try:
                    job = await self.queue.claim(self.options.worker_id, self.options.kinds)
                except StorageError as exc:  # the database is briefly unreachable: try again
                    log.warning("claiming a job failed: %s", exc)
                    job = None
                if job is not None and self._stopping.is_set():
                    await self.queue.release(job.id, self.options.worker_id)
                    break
                if job is None:
                    if self.options.once:
                        break
                    await self._idle()
                    continue
                try:
                    await self.run_job(job)
                except StorageError as exc:
                    log.warning("job %d: the queue could not record how it ended (%s); its lease will expire "
                                "and it will be recovered", job.id, exc)
        finally:
            recover.cancel()
            await asyncio.gather(recover, return_exceptions=True)
        return self.handled

    async def _idle(self) -> None:
        """Wait before the next claim: at most ``idle_s``, less when stopped or when the queue announces work.

        A queue that offers ``wait_for_jobs`` (PostgreSQL: procrastinate's NOTIFY) wakes the worker as
        soon as a job of its kinds is enqueued on any machine; on SQLite the worker just sleeps. Jobs this
        worker's own recovery re-queued end the wait too (re-queues are not announced).
        """
        idle_s = self.options.idle_s
        wait_for_jobs = getattr(self.queue, "wait_for_jobs", None)
        waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._stopping.wait()),
                                           asyncio.ensure_future(self._recovered.wait())}
        announced: asyncio.Future[Any] | None = None
        if wait_for_jobs is not None:
            announced = asyncio.ensure_future(wait_for_jobs(self.options.kinds, idle_s))
            waits.add(announced)
        try:
            # With wait_for_jobs the timeout is a backstop (it has its own); without, it is the sleep.
            await asyncio.wait(waits, timeout=idle_s + (IDLE_WAIT_SLACK_S if announced else 0.0),
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
            self._recovered.clear()
        failure = announced.exception() if announced is not None and not announced.cancelled() else None
        if failure is not None:  # never spin: sleep the interval instead
            log.warning("waiting for new jobs failed (%s); sleeping %g s instead", failure, idle_s)
            try:
                await asyncio.wait_for(self._stopping.wait(), idle_s)
            except TimeoutError:
                pass

    async def _recover_periodically(self) -> None:
        """Re-queue jobs whose worker died: cheap and idempotent, so every worker does it."""
        interval = min(t.heartbeat_s for t in self.timeouts.values())
        while True:
            try:
                recovered = await self.queue.recover_stalled()
                if recovered:
                    self._recovered.set()
                    log.warning("recovered stalled job(s) %s (their worker stopped heartbeating)", recovered)
            except Exception as exc:  # never let this task die: the next round may succeed
                log.warning("recovering stalled jobs failed: %s", exc)
            await asyncio.sleep(interval)

    # -- one job ----------------------------------------------------------------------------------------
    async def run_job(self, job: Job) -> JobStatus | None:
        """Run one claimed job to its end; return the status it was left in (None: lease lost)."""
        control = JobControl(asyncio.get_running_loop(), self.queue, job, self.options.worker_id,
                             self.timeouts[job.kind].heartbeat_s)
        self._control = control
        if self._stopping.is_set():
            control.begin_shutdown(self.options.grace_s)
        with job_context(job.id):
            log.info("started %s job %d (attempt %d of %d)", job.kind, job.id, job.attempts, job.max_attempts)
            try:
                status = await self._finish(job, control)
            finally:
                self._control = None
                self.handled += 1
        return status

    async def _finish(self, job: Job, control: JobControl) -> JobStatus | None:
        wid = self.options.worker_id
        try:
            if job.kind is JobKind.DETECT:
                result = await self._detect(job, control)
            elif job.kind is JobKind.CLEANUP:
                result = await self._cleanup(job, control)
            else:
                raise ConfigError(f"This worker has no handler for {job.kind} jobs.")
        except BaseException as exc:
            if control.reason is not None and isinstance(exc, Exception):  # the stop caused it (or beat it)
                return await self._stopped(job, control)
            if isinstance(exc, DetectorError):
                log.warning("job %d failed: %s", job.id, exc)
                return await self._fail(job, exc.code, str(exc), retryable=exc.retryable)
            if isinstance(exc, StorageError) and exc.code == "disk_full":
                log.warning("job %d failed: %s", job.id, exc)
                return await self._fail(job, exc.code, str(exc), retryable=False)
            if not isinstance(exc, Exception):
                raise
            oom = isinstance(exc, MemoryError) or "OutOfMemory" in type(exc).__name__
            log.error("job %d raised %s (will be retried if attempts are left)", job.id, type(exc).__name__,
                      exc_info=exc)
            return await self._fail(job, "out_of_memory" if oom else "worker_error",
                                    f"{type(exc).__name__}: {exc}", retryable=True)
        if not (await self.queue.progress(job.id, wid, stage="done", fraction=1.0)
                and await self.queue.complete(job.id, wid, result)):
            log.warning("job %d finished but its lease was lost: another worker owns it now", job.id)
            return None
        log.info("job %d succeeded", job.id)
        return JobStatus.SUCCEEDED

    async def _stopped(self, job: Job, control: JobControl) -> JobStatus | None:
        wid = self.options.worker_id
        if control.reason is StopReason.LOST:
            log.warning("job %d: lease lost (another worker may run it); stopped without writing more", job.id)
            return None
        self.artifacts.remove_job(job.id)
        if control.reason is StopReason.CANCEL:
            await self.queue.cancelled(job.id, wid)
            log.info("job %d cancelled; partial artifacts removed", job.id)
            return JobStatus.CANCELLED
        await self.queue.release(job.id, wid)
        log.info("job %d released for another worker (shutdown)", job.id)
        return JobStatus.QUEUED

    async def _fail(self, job: Job, code: str, message: str, *, retryable: bool) -> JobStatus | None:
        after = await self.queue.fail(job.id, self.options.worker_id, code=code, message=message,
                                      retryable=retryable)
        return None if after is None else after.status

    # -- handlers ---------------------------------------------------------------------------------------
    async def _detect(self, job: Job, control: JobControl) -> dict[str, Any]:
        from detector.export import write_outputs
        from detector.export.json_out import clip_dict
        from detector.pipeline import detect

        tuning = await self._tuning(job)
        req = request_from_payload(merge_tuning(job.payload, tuning), self.options.device)
        self.artifacts.ensure_free_space()
        control.report("starting", 0.0)
        await control.confirm_owned()  # "starting" is written (and the lease renewed) before the heavy work
        progress = DetectorProgress(control)
        sources = None
        if (twitch_id := twitch_vod_of(job.payload)) is not None:
            from detector.ingest import fetch_twitch_sources

            sources = await control.supervise(asyncio.to_thread(
                fetch_twitch_sources, twitch_id, self.artifacts.job_dir(job.id), want_chat=req.chat is None,
                progress=progress, abort=control.should_abort))
            req.media, req.chat = sources.audio, req.chat or sources.chat
        result = await control.supervise(asyncio.to_thread(
            detect, req, progress=progress, abort=control.should_abort))
        if sources is not None:
            from detector.ingest import flag_muted

            result = replace(result, candidates=flag_muted(result.candidates, sources.muted),
                             meta={**result.meta, "twitch": twitch_meta(sources)})
        control.raise_if_stopped()
        control.report("writing artifacts", DETECT_SPAN[1])
        self.artifacts.ensure_free_space()
        folder = self.artifacts.job_dir(job.id)
        written = await control.supervise(asyncio.to_thread(
            write_outputs, result, json=folder / RESULT_JSON, html=folder / REPORT_HTML))
        control.report("storing clips", 0.95)
        await control.confirm_owned()
        vod_id = await self._vod_id(job.payload, req, float(result.meta.get("duration_s") or 0.0))
        drafts = []
        for c in result.candidates:
            d = clip_dict(c)
            drafts.append(ClipDraft(rank=c.rank, start_s=d["start"], end_s=d["end"], peak_s=d["peak"],
                                    score=d["score"], signals=d["signals"], explanation=d["explanation"]))
        clips = await self.repo.save_candidates(job.id, drafts, vod_id=vod_id)
        words = result.tracks["transcript"].meta.get("words", ()) if "transcript" in result.tracks else ()
        rendered = await self._render(job, req, result.candidates, clips, folder, control, words,
                                      twitch_id=sources.vod_id if sources is not None else None)
        if sources is not None:
            from detector.ingest import discard_downloads

            freed = discard_downloads(folder)
            log.info("job %d: removed %.1f MB of downloaded audio and sections (chat replay kept)", job.id, freed / 1e6)
        return {
            **rendered,
            "clips": [c.id for c in clips],
            "candidates": len(drafts),
            "vod_id": vod_id,
            "mode": result.meta.get("mode"),
            "duration_s": result.meta.get("duration_s"),
            "chat_lag_s": result.meta.get("chat_lag_s"),
            "device": result.meta.get("device"),
            "artifacts": {fmt: self.artifacts.relative(path) for fmt, path in written.items()},
            "tuning": {"version": tuning.version, "votes_used": tuning.votes_used} if tuning and tuning.params else None,
        }

    async def _render(self, job: Job, req: DetectRequest, candidates: Sequence[Candidate], clips: Sequence[Clip],
                      folder: Path, control: JobControl, words: Sequence[Any] = (), *,
                      twitch_id: str | None = None) -> dict[str, Any]:
        """Render the clips the payload's ``render`` spec asks for and store their files on the clips.

        For a Twitch VOD only the sections the chosen clips cover are downloaded first."""
        raw = job.payload.get("render")
        if not raw or req.media is None:
            return {}
        from detector.render.job_render import RenderSpec, render_job

        spec = RenderSpec.from_payload(raw)
        self.artifacts.ensure_free_space()
        control.report("rendering", RENDER_SPAN[0])

        def progress(stage: str, done: float, total: float | None) -> None:
            share = min(done / total, 1.0) if total else 0.0
            control.report(f"rendering {stage}", RENDER_SPAN[0] + (RENDER_SPAN[1] - RENDER_SPAN[0]) * share)

        media: Any = Path(req.media)
        if twitch_id is not None:
            from detector.ingest import fetch_render_sections

            control.report("downloading sections", RENDER_SPAN[0])
            media = await control.supervise(asyncio.to_thread(
                fetch_render_sections, twitch_id, folder, list(candidates)[: spec.top], abort=control.should_abort))
        renders = await control.supervise(asyncio.to_thread(
            render_job, candidates, media, folder / "clips", spec, words=words, progress=progress,
            abort=control.should_abort))
        control.raise_if_stopped()
        await control.confirm_owned()
        by_rank = {c.rank: c for c in clips}
        for rank, files in renders.files.items():
            if rank in by_rank and files:
                await self.repo.set_clip_files(by_rank[rank].id, {k: self.artifacts.relative(p) for k, p in files.items()})
        out: dict[str, Any] = {"rendered": sum(1 for f in renders.files.values() if f)}
        if renders.reel is not None:
            out["reel"] = self.artifacts.relative(renders.reel)
        if renders.warnings:
            out["render_warnings"] = list(renders.warnings)
        return out

    async def _tuning(self, job: Job) -> Tuning | None:
        """The current vote tuning of the job's guild × streamer (None when the job names neither)."""
        facts = job.payload.get("vod") if isinstance(job.payload.get("vod"), dict) else {}
        streamer = facts.get("streamer_id") if facts else None
        if not job.guild_id or not isinstance(streamer, int):
            return None
        return await self.repo.current_tuning(job.guild_id, streamer)

    async def _vod_id(self, payload: dict[str, Any], req: DetectRequest, duration_s: float) -> int | None:
        """The stored VOD the clips belong to: the payload's ``vod`` facts, keyed by the media's path."""
        raw = payload.get("vod")
        facts: dict[str, Any] = raw if isinstance(raw, dict) else {}
        twitch_id = facts.get("twitch_vod_id")
        if req.media is None and not twitch_id:
            return None
        source = facts.get("source") or (vod_url(str(twitch_id)) if twitch_id else str(Path(str(req.media)).absolute()))
        streamer = facts.get("streamer_id")
        vod = await self.repo.upsert_vod(source=str(source), twitch_vod_id=str(twitch_id) if twitch_id else None,
                                         streamer_id=int(streamer) if streamer is not None else None,
                                         title=facts.get("title"), duration_s=duration_s or None)
        return vod.id

    async def _cleanup(self, job: Job, control: JobControl) -> dict[str, Any]:
        days = float(job.payload.get("days", self.options.retention_days))
        active = await self.queue.list_jobs(statuses=[JobStatus.QUEUED, JobStatus.RUNNING], limit=100_000)
        keep = {j.id for j in active}
        control.report("cleaning artifacts", 0.0)
        removed = await control.supervise(asyncio.to_thread(self.artifacts.clean_older_than, days, keep=keep))
        return {"days": days, "removed": [self.artifacts.relative(p) for p in removed]}


def twitch_meta(sources: TwitchSources) -> dict[str, Any]:
    """What the result says about the Twitch VOD the job downloaded."""
    meta = sources.meta
    return {"vod_id": sources.vod_id, "title": meta.title, "channel": meta.owner_login, "length_s": meta.length_s,
            "created_at": meta.created_at, "muted": [list(span) for span in sources.muted],
            "chat": "replay" if sources.chat else None, "warnings": list(sources.warnings)}

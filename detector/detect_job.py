"""Worker stage, the DETECT job: a claimed job's payload → clips, artifacts and rendered files.

Consumes a DETECT job (its payload checked by ``detector.job_payload``), the ``Repository`` port and
the ``ArtifactStore``; produces ``result.json`` and ``report.html`` in the job's folder, the
candidates stored as clips, their rendered files, and the small result dict the queue keeps. A job
naming only a Twitch VOD has its audio and chat replay fetched first and its clips cut from
downloaded sections (``detector.ingest``); the downloads are removed once the job is done. The
current vote tuning of the job's guild × streamer is read as it starts and applied under the job's
own settings, and its current adapted chat ranker (``highlights adapt``, the weekly ADAPT job), if
any, replaces the default ranker; the result says which (``adaptation``). Heavy steps run in threads
through ``JobControl.supervise`` so the worker's event loop keeps heartbeating; every stop reaches them through ``JobControl.should_abort``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.job_control import JobControl
from detector.job_payload import merge_tuning, request_from_payload, twitch_vod_of
from storage.artifacts import ArtifactStore
from storage.records import Adaptation, Clip, Job, Tuning
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
"""Share of a DETECT job's progress the detector itself covers; artifacts and clips take the rest."""
DETECT_SPAN_RENDERING = (0.02, 0.40)
"""The detector's share when the job also renders clips (on a CPU, encoding takes longer than detecting)."""
RENDER_SPAN = (0.45, 0.98)
"""Share of a DETECT job's progress rendering covers, when the payload asks for clips; it rises clip by
clip (``render_job`` reports units of the whole rendering)."""
STAGE_WEIGHTS = {"signal chat": 0.10, "signal audio": 0.02, "decode audio": 0.70, "download audio": 0.25,
                 "download chat": 0.10}
"""Rough share of the detector's time per pipeline stage (unknown stages get ``DEFAULT_STAGE_WEIGHT``)."""
DEFAULT_STAGE_WEIGHT = 0.10


@dataclass(slots=True)
class DetectorProgress:
    """Turns the pipeline's ``(stage, done, total)`` calls into job fractions within ``DETECT_SPAN``."""

    control: JobControl
    span: tuple[float, float] = DETECT_SPAN
    _stage: str | None = None
    _base: float = 0.0

    def __call__(self, stage: str, done: float, total: float | None) -> None:
        if stage != self._stage:
            if self._stage is not None:
                self._base += STAGE_WEIGHTS.get(self._stage, DEFAULT_STAGE_WEIGHT)
            self._stage = stage
        share = STAGE_WEIGHTS.get(stage, DEFAULT_STAGE_WEIGHT) * (min(done / total, 1.0) if total else 0.0)
        lo, hi = self.span
        self.control.report(stage, lo + (hi - lo) * min(self._base + share, 1.0))


class DetectJob:
    """Runs one DETECT job for a worker (see the module docstring)."""

    def __init__(self, repo: Repository, artifacts: ArtifactStore, device: str = "auto") -> None:
        self.repo = repo
        self.artifacts = artifacts
        self.device = device

    async def run(self, job: Job, control: JobControl) -> dict[str, Any]:
        """Detect (fetching a Twitch VOD first), write the artifacts, store the clips, render; the result dict."""
        from detector.export import write_outputs
        from detector.export.json_out import clip_dict
        from detector.pipeline import detect

        tuning = await self._tuning(job)
        adaptation = await self._adaptation(job)
        req = request_from_payload(merge_tuning(job.payload, tuning), self.device)
        if adaptation is not None:
            from detector.signals.ranker.model import RankerModel

            req.ranker = RankerModel.from_dict(adaptation.model, f"the adaptation (version {adaptation.version})")
        self.artifacts.ensure_free_space()
        control.report("starting", 0.0)
        await control.confirm_owned()  # "starting" is written (and the lease renewed) before the heavy work
        span = DETECT_SPAN_RENDERING if job.payload.get("render") else DETECT_SPAN
        progress = DetectorProgress(control, span)
        sources = None
        if (twitch_id := twitch_vod_of(job.payload)) is not None:
            from detector.ingest import fetch_twitch_sources

            sources = await control.supervise(asyncio.to_thread(
                fetch_twitch_sources, twitch_id, self.artifacts.job_dir(job.id), want_chat=req.chat is None,
                progress=progress, abort=control.should_abort))
            req.media, req.chat = sources.audio, req.chat or sources.chat
            if req.vod_start is None and sources.meta.created_at:  # a wall-clock chat log the job brought
                req.vod_start = vod_start_of(sources.meta.created_at)
            if req.hybrid is not None:
                from detector.ingest import fetch_analysis_video, fetch_overview_video

                folder, vod, length = self.artifacts.job_dir(job.id), sources.vod_id, sources.meta.length_s
                if req.hybrid.segments:
                    req.overview_for = lambda: fetch_overview_video(vod, folder, length, progress=progress,
                                                                    abort=control.should_abort)
                req.video_for = lambda windows: fetch_analysis_video(vod, folder, windows, length, progress=progress,
                                                                     abort=control.should_abort)
        result = await control.supervise(asyncio.to_thread(
            detect, req, progress=progress, abort=control.should_abort))
        if sources is not None:
            from detector.ingest import flag_muted

            result = replace(result, candidates=flag_muted(result.candidates, sources.muted),
                             meta={**result.meta, "twitch": twitch_meta(sources),
                                   "notes": [*result.meta.get("notes", ()), *sources.notes]})
        control.raise_if_stopped()
        control.report("writing artifacts", span[1])
        self.artifacts.ensure_free_space()
        folder = self.artifacts.job_dir(job.id)
        written = await control.supervise(asyncio.to_thread(
            write_outputs, result, json=folder / RESULT_JSON, html=folder / REPORT_HTML))
        control.report("storing clips", span[1] + 0.02)
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
            "adaptation": {"version": adaptation.version, "summary": adaptation.summary,
                           "labels": adaptation.labels_used, "vods": adaptation.vods_used} if adaptation else None,
            "chat_verdict": result.meta.get("chat_verdict"),
            **({"notes": list(sources.notes)} if sources is not None and sources.notes else {}),
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
        streamer = _streamer_of(job)
        if not job.guild_id or streamer is None:
            return None
        return await self.repo.current_tuning(job.guild_id, streamer)

    async def _adaptation(self, job: Job) -> Adaptation | None:
        """The current adapted chat ranker of the job's guild × streamer (None: none, or reset to the default)."""
        streamer = _streamer_of(job)
        if not job.guild_id or streamer is None:
            return None
        found = await self.repo.current_adaptation(job.guild_id, streamer)
        return found if found is not None and found.active else None

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


def _streamer_of(job: Job) -> int | None:
    facts = job.payload.get("vod") if isinstance(job.payload.get("vod"), dict) else {}
    streamer = facts.get("streamer_id") if facts else None
    return streamer if isinstance(streamer, int) and not isinstance(streamer, bool) else None


def twitch_meta(sources: TwitchSources) -> dict[str, Any]:
    """What the result says about the Twitch VOD the job downloaded."""
    meta = sources.meta
    return {"vod_id": sources.vod_id, "title": meta.title, "channel": meta.owner_login, "length_s": meta.length_s,
            "created_at": meta.created_at, "muted": [list(span) for span in sources.muted],
            "chat": "replay" if sources.chat else ("refused" if sources.chat_refused else None),
            "chat_refused": sources.chat_refused, "warnings": list(sources.warnings)}


def vod_start_of(created_at: str) -> Any:
    """Twitch's ``createdAt`` (ISO 8601, UTC) as an aware datetime; None when it cannot be read."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return None

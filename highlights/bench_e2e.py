"""``highlights bench e2e``: the whole job as a user lives it, from ``/highlights`` to the last clip posted.

Everything runs on this machine against the doubles in ``highlights.doubles``: the Twitch double
(GQL, usher, CDN) serves an N-minute synthetic VOD on a Twitch-like ladder (``detector.bench.ingest_vod``:
720p30, 360p30, 160p30, audio only; chat replay from ``make_comments``); the real ``HighlightsBot``
(``highlights.e2e_gateway``) takes ``/highlights <vod link> top:<clips>`` and queues the job in SQLite;
the real worker runs it once (audio and chat first, the 160p overview and candidate sections later,
hybrid detection with the CPU profile, ``clips`` clips rendered in both layouts: the bench's queue
adds ``9:16`` to the job's render spec, which the command cannot ask for yet, and the lowest
``threshold``, so the clips asked for are found in a test pattern); the bot's poster posts
them to the Discord double. The vision model is the machine's, or the hybrid bench's random-weight one
(timing real, scores not).

Stages come from the job's own progress writes (the queue the worker and bot see is wrapped, so each
stage change is timed as it is written) and the detector's timings: *command* (the slash command
until the bot answers "Queued"), *queue wait*, *ingest* (downloads: audio, chat, then the overview and
analysis sections the detector asks for), *detect* (the rest of the detector), *render* (render
sections fetched and encoded), *store* (artifacts and clips written), *post* (job done until the
last clip is posted). Peak RSS per stage is this process's (bot, worker and detector share it here;
in production they are separate processes), sampled every 50 ms; ffmpeg children's peak beside it.
Floors measured in the same run, after the job: the bytes the job downloaded fetched again with a
plain HTTP client (ingest); ffmpeg decoding the audio rendition to null (the audio signal); ffmpeg
decoding only the overview's keyframes (the segmenter); ffmpeg alone encoding each posted clip's
section once per layout with the same libx264 defaults (render).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from detector.bench.memory import ChildPeakRss
from detector.errors import ConfigError, DetectorError
from highlights.bench_e2e_report import LAYOUTS, ORDER, e2e_report, format_e2e_report  # noqa: F401 (re-exported)

CHAT_PER_MIN = 30
"""Chat messages per VOD minute (a lively mid-size channel)."""
THRESHOLD = -5.0
BURST, BURST_S = 150, 12
HYPE = ("NO WAY", "CLIP IT", "OMG OMG", "LETS GOOO", "WHAT A PLAY", "INSANE", "HOLY", "clip that!!")
INGEST_STAGES = ("starting", "download audio", "download chat")
STORE_STAGES = ("writing artifacts", "storing clips")
JOB_TIMEOUT_S = 4 * 3600.0
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "highlights-bench-e2e"


def stage_class(stage: str | None) -> str:
    """The e2e stage a progress stage name belongs to."""
    if stage is None:
        return "queue wait"
    if stage in INGEST_STAGES or stage.startswith("download"):
        return "ingest"
    if stage.startswith("rendering"):
        return "render"
    if stage in STORE_STAGES:
        return "store"
    return "detect"


class WatchedQueue:
    """The job queue as the bot and worker see it in the bench: each progress write is timed (stage
    changes), and a queued DETECT job asks for every clip rendered in both layouts, and takes every peak as a candidate
    (``threshold`` at its minimum: the synthetic VOD's looped test pattern and steady tone hold little to
    find, and the bench measures what the clips cost, not how good they are). Everything else is the
    real queue."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.records: list[tuple[float, str]] = []
        self.current = "command"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def enqueue(self, request: Any) -> Any:
        payload = dict(request.payload or {})
        if isinstance(payload.get("render"), dict):
            settings = {**(payload.get("settings") or {}), "threshold": THRESHOLD}
            top = int(settings.get("top_k") or 10)
            payload["render"] = {**payload["render"], "layouts": list(LAYOUTS), "top": top}  # every clip rendered
            payload["render"].pop("layout", None)
            payload["settings"] = settings
        return await self._inner.enqueue(replace(request, payload=payload))

    async def progress(self, job_id: int, worker_id: str, *, stage: str | None = None, **kw: Any) -> Any:
        if stage is not None and (not self.records or self.records[-1][1] != stage):
            self.records.append((time.perf_counter(), stage))
            self.current = stage_class(stage)
        return await self._inner.progress(job_id, worker_id, stage=stage, **kw)


class RssByStage:
    """This process's resident set sampled every 50 ms, the largest per e2e stage."""

    def __init__(self, watched: WatchedQueue) -> None:
        self._watched, self.peaks_kb = watched, dict.fromkeys(ORDER, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                text = Path("/proc/self/status").read_text()
            except OSError:
                return
            kb = next((int(line.split()[1]) for line in text.splitlines() if line.startswith("VmRSS:")), 0)
            key = self._watched.current
            self.peaks_kb[key] = max(self.peaks_kb.get(key, 0), kb)

    def __enter__(self) -> RssByStage:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _say(out: TextIO | None, message: str) -> None:
    if out is not None:
        print(f"bench e2e: {message}", file=out, flush=True)


def _durations(records: list[tuple[float, str]], end: float) -> dict[str, float]:
    out = dict.fromkeys(ORDER, 0.0)
    for (t, stage), nxt in zip(records, [*records[1:], (end, "")]):
        out[stage_class(stage)] += max(nxt[0] - t, 0.0)
    return out


def bursty_comments(make_comments: Any, length_s: int, clips: int) -> list[dict[str, Any]]:
    """A steady ``CHAT_PER_MIN`` of chat with ``clips + 1`` bursts (``BURST`` hype messages in ``BURST_S``
    seconds) spread over the VOD, so the first ranking has candidates to transcribe, look at and render."""
    nodes = make_comments(int(length_s / 60 * CHAT_PER_MIN), length_s, seed=0)
    bursts = clips + 1
    for k in range(bursts):
        start = int((k + 0.5) * length_s / bursts)
        for i, node in enumerate(make_comments(BURST, BURST_S, seed=k + 1, deleted_every=0)):
            offset = min(start + int(node["contentOffsetSeconds"]), length_s - 1)
            text = HYPE[(i + k) % len(HYPE)]
            nodes.append({**node, "contentOffsetSeconds": offset,
                          "createdAt": f"2024-05-01T12:{offset // 60 % 60:02d}:{offset % 60:02d}Z",
                          "message": {**node["message"], "fragments": [{"emote": None, "text": text}]}})
    return sorted(nodes, key=lambda n: n["contentOffsetSeconds"])


def _models_dir(cache: Path, out: TextIO | None) -> Path:
    from detector.bench.clip_random import cpu_clip_name, random_clip
    from detector.models.vision_catalog import model_problem, models_dir

    mine = models_dir()
    if model_problem(mine / cpu_clip_name()) is None:
        return mine
    _say(out, f"no {cpu_clip_name()} in {mine}: using a random-weight one (vision timing real, scores not)")
    random_clip(cache / "models")
    return cache / "models"


async def _job(minutes: float, clips: int, cache: Path, work: Path, out: TextIO | None) -> dict[str, Any]:
    from detector.bench.ingest_vod import cached_hls_vod
    from detector.worker import Worker, WorkerOptions
    from highlights.doubles.twitch import NORMAL, FakeVod, TwitchDouble, make_comments
    from highlights.e2e_gateway import E2eBot
    from storage.artifacts import ArtifactStore
    from storage.factory import open_storage
    from storage.records import JobStatus
    from storage.url import sqlite_url

    hls = cached_hls_vod(minutes, cache=cache / "hls", say=lambda m: _say(out, m))
    length = int(round(hls.duration_s))
    catalogue = {NORMAL: FakeVod(NORMAL, length_s=length, comments=bursty_comments(make_comments, length, clips))}
    url = sqlite_url(work / "e2e.db")
    storage = await open_storage(url)
    artifacts = ArtifactStore.for_storage(url)
    watched = WatchedQueue(storage.queue)
    with TwitchDouble(hls.root, catalogue) as twitch:
        os.environ.update(twitch.env())
        bot = await E2eBot.start(storage, artifacts, work, queue=watched)
        try:
            with RssByStage(watched) as rss, ChildPeakRss() as children:
                _say(out, f"/highlights https://www.twitch.tv/videos/{NORMAL} top:{clips} ...")
                t0 = time.perf_counter()
                token = bot.slash_highlights(f"https://www.twitch.tv/videos/{NORMAL}", clips)
                answer = await bot.answer(token)
                t_queued = time.perf_counter()
                if "Queued job #" not in answer:
                    raise DetectorError(f"The bot did not queue the job: {answer}")
                watched.current = "queue wait"
                worker = Worker(watched, storage.repo, artifacts, WorkerOptions(worker_id="bench-e2e", once=True))
                await asyncio.wait_for(worker.run(), JOB_TIMEOUT_S)
                t_done = time.perf_counter()
                job_id = int(answer.split("Queued job #", 1)[1].split()[0].strip(".,:;*"))
                job = await storage.queue.get(job_id)
                if job.status is not JobStatus.SUCCEEDED:
                    raise DetectorError(f"The bench job ended {job.status.value}: {job.error_message}")
                watched.current = "post"
                _say(out, f"job done in {t_done - t0:.1f} s; waiting for the bot to post the clips ...")

                found = await storage.repo.list_clips(job_id)
                if not found:
                    res = job.result or {}
                    m = json.loads((artifacts.root / res["artifacts"]["json"]).read_text(encoding="utf-8"))["meta"]
                    raise DetectorError(f"The bench job found no clips (chat messages {m.get('chat_messages')}, "
                                        f"unavailable {m.get('unavailable_signals')}, params top_k "
                                        f"{m.get('params', {}).get('top_k')}, threshold {m.get('params', {}).get('threshold')}).")

                async def all_posted() -> list[Any] | None:
                    found = await storage.repo.list_clips(job_id)
                    return found if all(c.message_id for c in found) else None

                posted = await bot.double.wait_for(all_posted, timeout=600.0, what="every clip posted")
                t_posted = time.perf_counter()
            wire = {path: n for path, n in twitch.hits.items() if path.startswith("/vods/")}
            sent = twitch.bytes_sent
            wire_s = await asyncio.to_thread(_fetch_again, twitch.base, wire)
            result = job.result or {}
            meta = json.loads((artifacts.root / result["artifacts"]["json"]).read_text(encoding="utf-8"))["meta"]
            uploads = [r for r in bot.double.find("POST", "/messages", ok=True) if r.files]
        finally:
            await bot.close()
            await storage.close()
    records = [(t_queued, "queue wait"), *watched.records]
    stages = _durations([(t, s) for t, s in records if s != "queue wait"], t_done)
    stages["command"] = t_queued - t0
    stages["queue wait"] = (watched.records[0][0] - t_queued) if watched.records else 0.0
    timings = meta.get("timings", {})
    later = float(timings.get("fetch_overview", 0.0)) + float(timings.get("fetch_video", 0.0))
    stages["detect"] = max(stages["detect"] - later, 0.0)
    stages["ingest"] += later
    stages["post"] = t_posted - t_done
    return {"hls": hls, "stages": stages, "total_s": t_posted - t0, "rss_kb": rss.peaks_kb,
            "ffmpeg_rss_kb": children.peak_kb(), "timings": timings, "wire_s": wire_s, "bytes_sent": sent,
            "clips": [(c.start_s, c.end_s) for c in posted if c.files], "posted": len(posted), "uploads": len(uploads),
            "rendered": int(result.get("rendered") or 0)}


def _fetch_again(base: str, paths: Mapping[str, int]) -> float:
    """Seconds to GET every playlist and segment the job fetched from the Twitch double once more, one
    after another, with a plain HTTP client: the bytes on the wire, nothing else (the ingest floor)."""
    t0 = time.perf_counter()
    for path in paths:
        try:
            with urllib.request.urlopen(base + path, timeout=60) as r:  # noqa: S310 - the local double
                r.read()
        except urllib.error.HTTPError:
            continue  # a muted segment's original: refused to the job too
    return time.perf_counter() - t0


def _floors(got: Mapping[str, Any], base_dir: Path) -> dict[str, float]:
    """Each stage's floor, measured now (after the job) on the same files."""
    from detector.bench.hybrid_bench import _time_floor, floor_argvs
    from detector.bench.render_bench import floor_clip

    hls = got["hls"]
    renditions = {p.name: p / "index-dvr.m3u8" for p in hls.root.iterdir() if (p / "index-dvr.m3u8").is_file()}
    overview = next(path for name, path in renditions.items() if name.startswith("160p"))
    top = renditions[hls.spec.video_rendition]
    floors = {"decode floor": _time_floor(floor_argvs(renditions["audio_only"])["decode floor"]),
              "keyframe floor": _time_floor(floor_argvs(overview)["keyframe floor"])}
    floors["wire"] = float(got["wire_s"])
    encode = 0.0
    for i, (start, end) in enumerate(got["clips"]):
        seconds, _size = floor_clip(top, start, end - start, None, None, None,  # type: ignore[arg-type]
                                    base_dir / f"floor-{i}.mp4")
        encode += seconds * len(LAYOUTS)
    floors["encode"] = encode
    return floors


def run_e2e_bench(minutes: float, clips: int = 10, out: TextIO | None = None, *,
                  cache: str | Path | None = None) -> dict[str, Any]:
    """One whole job (see the module), then its floors; the report as a JSON-ready dict."""
    from detector.bench.ingest_vod import check_minutes

    check_minutes(minutes)
    if not 1 <= clips <= 25:
        raise ConfigError(f"--clips {clips} is out of range.", hint="Give 1 to 25 (the bot posts at most 25).")
    cache = Path(cache) if cache is not None else DEFAULT_CACHE
    saved = {k: os.environ.get(k) for k in ("HIGHLIGHTS_MODELS_DIR", "HIGHLIGHTS_TWITCH_GQL_URL",
                                            "HIGHLIGHTS_TWITCH_USHER_URL", "TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET")}
    try:
        os.environ["HIGHLIGHTS_MODELS_DIR"] = str(_models_dir(cache, out))
        for name in ("TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET"):  # no Helix: the bot skips its existence check
            os.environ.pop(name, None)
        with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
            work = Path(tmp)
            got = asyncio.run(_job(minutes, clips, cache, work, out))
            _say(out, "floors: the same downloads, decodes and encodes by themselves ...")
            floors = _floors(got, work)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return e2e_report(minutes, clips, got, floors)

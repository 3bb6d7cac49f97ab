"""Benchmark stage (``highlights bench ingest``): what each way of ingesting a Twitch VOD downloads.

Consumes a cached synthetic HLS VOD (:mod:`detector.bench.ingest_vod`: a ``720p30`` variant, the
``360p30`` and ``160p30`` transcodes, each with muxed audio, and an ``audio_only`` variant, 10 s
segments, as Twitch serves them), served on 127.0.0.1 by
:class:`~detector.sources.twitch.hls_server.HlsServer`, which counts bytes and segment requests per
rendition. Measures, in one run and with the same yt-dlp session options as the product:

* **whole VOD** — the naive approach: yt-dlp downloads the whole top variant, remuxed to ``.mp4``;
* **audio + sections** — the product's ``fetch_audio`` (the whole ``audio_only`` variant) then
  ``fetch_sections`` for ``clips`` windows of ``clip_s`` seconds with the product's default margin;
* **hybrid job** — what a Twitch job with the hybrid stages on fetches (``detector.ingest`` and the
  pipeline): the same audio; the whole VOD at ``OVERVIEW_HEIGHT`` (160p) as ``fetch_overview_video``
  asks for it; the first ranking's candidate windows (``vision_candidates`` of them, each widened by
  ``snap_max_s`` + 1 s as the pipeline does) at ``ANALYSIS_HEIGHT`` (360p) as
  ``fetch_analysis_video`` asks for them; and the clips' render sections at ``SECTION_HEIGHT`` ±
  ``SECTION_MARGIN_S`` as ``fetch_render_sections`` asks for them. The worker's functions resolve a
  Twitch VOD id first, which a bare HLS folder has not, so the bench calls ``fetch_sections`` with
  their heights, margins and file names.

Every step runs once per round, the steps interleaved, ``runs`` rounds (:mod:`detector.bench.rounds`):
bytes are the same every round; seconds are the median, with the spread. Produces a JSON-ready dict
(bytes served, seconds, segments per rendition, and the whole-VOD ratios of bytes and of time — the
time ratio taken per round, median (min–max)) and :func:`format_ingest_report`'s side-by-side table. The HLS files are read
once before measuring, so no step pays for a cold disk cache.
"""

from __future__ import annotations

import inspect
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from detector.bench.ingest_vod import AUDIO_RENDITION, HlsVodSpec, cached_hls_vod
from detector.bench.rounds import DEFAULT_ROUNDS, Spread, ratio_spread, run_rounds
from detector.errors import ConfigError
from detector.ffmpeg import run_ffmpeg
from detector.ingest import ANALYSIS_HEIGHT, OVERVIEW_HEIGHT, SECTION_HEIGHT, SECTION_MARGIN_S
from detector.params import Settings
from detector.sources.twitch.fetch import ensure_free, fetch_audio, fetch_sections, with_retries
from detector.sources.twitch.hls_server import HlsServer, folder_sizes
from detector.sources.twitch.ytdlp_session import FetchOptions, YtdlpSession

log = logging.getLogger(__name__)

SEED = 7
DEFAULT_MARGIN_S = float(inspect.signature(fetch_sections).parameters["margin_s"].default)
"""The margin ``fetch_sections`` adds on each side of a window unless told otherwise (the product's default)."""
CANDIDATE_S = 37.0
"""Length of a first-ranking candidate span; widened by ``snap_max_s`` + 1 s on each side it makes the
~45 s analysis windows a hybrid job fetches at 360p."""


def whole_format(height: int) -> str:
    """yt-dlp format spec of the naive download: the variant with video and audio, at most ``height`` high."""
    return f"b[height<={height}]/bv*[height<={height}]+ba/b"


def clip_windows(duration_s: float, clips: int, clip_s: float, margin_s: float,
                 seed: int = SEED) -> list[tuple[float, float]]:
    """``clips`` windows of ``clip_s`` s, one at a seeded place in each equal slice of the VOD, margins inside it."""
    if clips < 1 or clip_s <= 0:
        raise ConfigError(f"{clips} clips of {clip_s:g} s make no windows.", hint="Ask for at least one clip.")
    slot = duration_s / clips
    room = slot - clip_s - 2 * margin_s
    if room < 0:
        raise ConfigError(f"{clips} clips of {clip_s:g} s (± {margin_s:g} s) do not fit in a "
                          f"{duration_s / 60:g}-minute VOD.", hint="Ask for fewer clips or a longer VOD.")
    rng = random.Random(seed)
    windows = []
    for i in range(clips):
        start = round(i * slot + margin_s + rng.uniform(0.0, room), 2)
        windows.append((start, round(start + clip_s, 2)))
    return windows


def download_whole(url: str, dest: Path, *, height: int, options: FetchOptions | None = None,
                   name: str = "whole") -> Path:
    """The naive approach: download every segment of the VOD's video variant, remux to ``dest/<name>.mp4``."""
    options = options or FetchOptions()
    dest.mkdir(parents=True, exist_ok=True)
    ensure_free(dest, 0, options)
    with YtdlpSession(options) as session:
        spec = whole_format(height)
        fmts = with_retries(f"Reading the playlist {url}", lambda: session.formats(url, spec), options, None)
        playlists = [with_retries(f"Reading the playlist {f['url']}", partial(session.media_playlist, f), options, None)
                     for f in fmts]
        kbps = sum(float(f.get("tbr") or 8000.0) for f in fmts)
        ensure_free(dest, 2.4 * kbps * 125.0 * max(p.duration_s for p in playlists), options)
        with tempfile.TemporaryDirectory(prefix=".partial-", dir=dest) as tmp_name:
            tmp = Path(tmp_name)
            parts = []
            for index, (fmt, playlist) in enumerate(zip(fmts, playlists)):
                out = tmp / f"{name}.{index}.ts"
                step = partial(session.download_segments, fmt, playlist, playlist.segments, out)
                parts.append(with_retries(f"Downloading {fmt['url']}", step, options, None))
            args: list[str] = []
            for part in parts:
                args += ["-i", str(part)]
            maps = ["-map", "0"] if len(parts) == 1 else ["-map", "0:v:0", "-map", "1:a:0"]
            mp4 = tmp / f"{name}.mp4"
            run_ffmpeg(["-loglevel", "error", *args, *maps, "-c", "copy", "-f", "mp4", str(mp4)],
                       timeout_s=options.ffmpeg_timeout_s, what=f"remuxing the whole VOD {url}")
            final = dest / mp4.name
            os.replace(mp4, final)
    return final


def _warm(root: Path) -> None:
    """Read every file of the HLS folder once (so the first measured step does not pay for a cold cache)."""
    for file in sorted(root.rglob("*.ts")):
        with file.open("rb") as src:
            while src.read(1 << 20):
                pass


def analysis_windows(duration_s: float, count: int, candidate_s: float, pad_s: float,
                     seed: int = SEED) -> list[tuple[float, float]]:
    """``count`` candidate spans of ``candidate_s`` s, each widened by ``pad_s`` on both sides as the
    pipeline widens them before ``video_for`` (so each window is ``candidate_s + 2 * pad_s`` long)."""
    spans = clip_windows(duration_s, count, candidate_s, pad_s, seed + 1)
    return [(round(a - pad_s, 2), round(b + pad_s, 2)) for a, b in spans]


def _measure(server: HlsServer, step: Callable[[], Sequence[Path]]) -> dict[str, Any]:
    server.reset()
    started = time.perf_counter()
    files = step()
    seconds = time.perf_counter() - started
    traffic = server.traffic()
    return {"bytes": traffic.total_bytes, "seconds": round(seconds, 3), "segments": dict(traffic.segments),
            "bytes_by_rendition": dict(traffic.bytes), "requests": traffic.requests,
            "output_bytes": sum(f.stat().st_size for f in files)}


def _sum(*rows: dict[str, Any]) -> dict[str, Any]:
    def merge(key: str) -> dict[str, int]:
        names = sorted({k for row in rows for k in row[key]})
        return {k: sum(row[key].get(k, 0) for row in rows) for k in names}

    rounds = [round(sum(t), 3) for t in zip(*(r.get("rounds_s") or [r["seconds"]] for r in rows))]
    return {"bytes": sum(r["bytes"] for r in rows), "seconds": round(Spread.of(rounds).median, 3), "rounds_s": rounds,
            "segments": merge("segments"), "bytes_by_rendition": merge("bytes_by_rendition"),
            "requests": sum(r["requests"] for r in rows), "output_bytes": sum(r["output_bytes"] for r in rows)}


def _ratios(whole: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Bytes and time of the whole VOD over ``other``'s; the time per round, median (min–max)."""
    spread = ratio_spread(whole.get("rounds_s") or [whole["seconds"]], other.get("rounds_s") or [other["seconds"]])
    return {"bytes": whole["bytes"] / other["bytes"] if other["bytes"] else None,
            "time": spread.median if spread else None, "time_spread": spread.as_dict(3) if spread else None}


def _median_row(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One step's rounds as one row: the last round's counts, the median seconds and every round's."""
    seconds = [r["seconds"] for r in rows]
    return {**rows[-1], "seconds": round(Spread.of(seconds).median, 3), "rounds_s": seconds}


def _empty(folder: Path) -> None:
    for file in folder.iterdir():
        if file.is_file():
            file.unlink()


def run_ingest_bench(minutes: float = 60.0, clips: int = 10, out: TextIO | None = None, *, clip_s: float = 30.0,
                     spec: HlsVodSpec | None = None, cache: Path | None = None, work: Path | None = None,
                     options: FetchOptions | None = None, seed: int = SEED, candidates: int | None = None,
                     candidate_s: float = CANDIDATE_S, runs: int = DEFAULT_ROUNDS) -> dict[str, Any]:
    """Measure the three ways on one synthetic VOD; progress lines go to ``out`` (when given).

    ``candidates`` is the number of analysis windows of the hybrid job (default: what the pipeline
    asks for with the default settings, ``max(vision_candidates, top_k)``)."""
    def say(message: str) -> None:
        if out is not None:
            out.write(f"bench ingest: {message}\n")
            out.flush()

    spec = spec or HlsVodSpec()
    options = options or FetchOptions()
    settings = Settings()
    count = candidates if candidates is not None else max(int(settings["vision_candidates"]), int(settings["top_k"]))
    pad_s = float(settings["snap_max_s"]) + 1.0
    vod = cached_hls_vod(minutes, spec, cache=cache, say=say)
    windows = clip_windows(vod.duration_s, clips, clip_s, DEFAULT_MARGIN_S, seed)
    looks = analysis_windows(vod.duration_s, count, candidate_s, pad_s, seed) if count > 0 else []
    _warm(vod.root)
    with HlsServer(vod.root) as server, tempfile.TemporaryDirectory(prefix="ingest-bench-", dir=work) as tmp_name:
        tmp, url = Path(tmp_name), server.url("master.m3u8")
        hybrid_dir = tmp / "hybrid"
        steps: dict[str, tuple[str, Callable[[], Sequence[Path]]]] = {
            "whole": (f"whole VOD: downloading every segment of {spec.video_rendition} from {url}",
                      lambda: [download_whole(url, tmp / "whole", height=spec.height, options=options)]),
            "audio": ("audio + sections: fetch_audio", lambda: [fetch_audio(url, tmp / "parts", options=options).path]),
            "sections": (f"audio + sections: fetch_sections for {len(windows)} windows of {clip_s:g} s",
                         lambda: [s.path for s in fetch_sections(url, tmp / "parts", windows, height=spec.height,
                                                                 options=options)]),
            "overview": (f"hybrid job: the overview, the whole VOD at {OVERVIEW_HEIGHT}p",
                         lambda: [s.path for s in fetch_sections(
                             url, hybrid_dir, [(0.0, vod.duration_s)], height=OVERVIEW_HEIGHT, margin_s=0.0,
                             name="overview", options=options)]),
            "analysis": (f"hybrid job: the analysis video, {len(looks)} windows of {candidate_s + 2 * pad_s:g} s "
                         f"at {ANALYSIS_HEIGHT}p",
                         lambda: [s.path for s in fetch_sections(url, hybrid_dir, looks, height=ANALYSIS_HEIGHT,
                                                                 margin_s=0.0, name="analysis", options=options)]
                         if looks else []),
            "render": (f"hybrid job: the render sections of {len(windows)} clips at ≤{SECTION_HEIGHT}p",
                       lambda: [s.path for s in fetch_sections(url, hybrid_dir, windows, height=SECTION_HEIGHT,
                                                               margin_s=SECTION_MARGIN_S, options=options)]),
        }

        def one(name: str, index: int) -> dict[str, Any]:
            text, step = steps[name]
            say(f"round {index + 1}/{runs}: {text} ...")
            row = _measure(server, step)
            for folder in (tmp / "whole", tmp / "parts", hybrid_dir):  # each step starts from empty folders
                if folder.is_dir():
                    _empty(folder)
            return row

        measured = {name: _median_row(rows) for name, rows in run_rounds(list(steps), runs, one).items()}
    whole, audio, sections = measured["whole"], measured["audio"], measured["sections"]
    overview, analysis, render = measured["overview"], measured["analysis"], measured["render"]
    ours, hybrid = _sum(audio, sections), _sum(audio, overview, analysis, render)
    sizes = folder_sizes(vod.root)
    return {
        "vod": {"minutes": minutes, "duration_s": vod.duration_s, "root": str(vod.root), "reused": vod.reused,
                "make_s": round(vod.make_s, 1), "width": spec.width, "height": spec.height, "fps": spec.fps,
                "video_kbps": spec.video_kbps, "audio_kbps": spec.audio_kbps, "segment_s": spec.segment_s,
                "video_rendition": spec.video_rendition, "audio_rendition": AUDIO_RENDITION,
                "renditions": {spec.rendition(r): {"width": r.width, "height": r.height, "video_kbps": r.video_kbps}
                               for r in spec.rungs},
                "bytes_on_disk": sizes,
                "segments": {r: len(list((vod.root / r).glob("*.ts"))) for r in spec.renditions}},
        "clips": clips, "clip_s": clip_s, "margin_s": DEFAULT_MARGIN_S, "windows": [list(w) for w in windows],
        "hybrid": {"overview_height": OVERVIEW_HEIGHT, "analysis_height": ANALYSIS_HEIGHT,
                   "render_height": SECTION_HEIGHT, "render_margin_s": SECTION_MARGIN_S,
                   "candidate_s": candidate_s, "pad_s": pad_s, "analysis_windows": [list(w) for w in looks]},
        "rows": {"whole": whole, "audio": audio, "sections": sections, "audio+sections": ours,
                 "overview": overview, "analysis": analysis, "render": render, "hybrid": hybrid},
        "ratios": _ratios(whole, ours),
        "hybrid_ratios": _ratios(whole, hybrid),
        "cpus": os.cpu_count(), "rounds": runs,
    }


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


def _row_labels(report: dict[str, Any]) -> list[tuple[str | None, str]]:
    vod, hyb = report["vod"], report["hybrid"]
    top, audio, fps = vod["video_rendition"], vod["audio_rendition"], vod["fps"]
    looks = hyb["analysis_windows"]
    long = f"{hyb['candidate_s'] + 2 * hyb['pad_s']:g} s"
    return [
        ("whole", f"whole VOD ({top})"),
        (None, "audio + sections:"),
        ("audio", f"  audio ({audio})"),
        ("sections", f"  sections ({len(report['windows'])} x {report['clip_s']:g} s, {top})"),
        ("audio+sections", "  = audio + sections"),
        (None, "hybrid job:"),
        ("audio", f"  audio ({audio}, same step)"),
        ("overview", f"  overview (whole, {hyb['overview_height']}p{fps})"),
        ("analysis", f"  analysis ({len(looks)} x {long}, {hyb['analysis_height']}p{fps})"),
        ("render", f"  render ({len(report['windows'])} clips, <={hyb['render_height']}p)"),
        ("hybrid", "  = hybrid job"),
    ]


def _time(ratios: dict[str, Any]) -> str:
    spread = ratios.get("time_spread")
    if not spread:
        return "-"
    return Spread(spread["median"], spread["min"], spread["max"], spread["n"]).text(".2f", "x")


def format_ingest_report(report: dict[str, Any]) -> str:
    """The side-by-side table of :func:`run_ingest_bench`'s numbers."""
    vod, rows, hyb = report["vod"], report["rows"], report["hybrid"]
    names = [*vod["renditions"], vod["audio_rendition"]]
    ladder = ", ".join(f"{n} {r['width']}x{r['height']} {r['video_kbps']}" for n, r in vod["renditions"].items())
    lines = [
        (f"highlights bench ingest: {vod['minutes']:g}-min synthetic VOD over local HLS ({vod['segment_s']} s "
         f"segments): H.264 CBR {ladder} kbit/s, each + AAC {vod['audio_kbps']} kbit/s, and "
         f"{vod['audio_rendition']}; {report['clips']} clips of {report['clip_s']:g} s (sections ± "
         f"{report['margin_s']:g} s, render ± {hyb['render_margin_s']:g} s); analysis windows = candidates of "
         f"{hyb['candidate_s']:g} s ± {hyb['pad_s']:g} s; {report['cpus']} CPUs"),
        "",
    ]
    seg_cols = "".join(f" {n + ' segs':>{max(12, len(n) + 6)}}" for n in names)
    head = f"{'':<36} {'bytes served':>13} {'of whole':>9} {'seconds':>9}{seg_cols} {'requests':>9}"
    lines += [head, "-" * len(head)]
    whole_bytes = rows["whole"]["bytes"] or 1
    for key, label in _row_labels(report):
        if key is None:
            lines.append(label)
            continue
        row = rows[key]
        segs = "".join(f" {row['segments'].get(n, 0):>{max(12, len(n) + 6)}}" for n in names)
        share = f"{100.0 * row['bytes'] / whole_bytes:.1f}%"
        lines.append(f"{label:<36} {_size(row['bytes']):>13} {share:>9} {row['seconds']:>9.2f}{segs} "
                     f"{row['requests']:>9}")
    fmt = lambda r: "-" if r is None else f"{r:.2f}x"  # noqa: E731
    ours, hybrid = report["ratios"], report["hybrid_ratios"]
    on_disk = " + ".join(str(vod["segments"][n]) for n in names)
    lines += ["",
              f"whole VOD / (audio + sections): bytes {fmt(ours['bytes'])}, time {_time(ours)} "
              "(measured in this run)",
              f"whole VOD / hybrid job:         bytes {fmt(hybrid['bytes'])}, time {_time(hybrid)} "
              "(measured in this run)",
              f"{report.get('rounds', 1)} round(s), the steps interleaved; seconds are medians, the time ratio is "
              "taken per round: median (min–max)",
              f"VOD on the server: {on_disk} segments ({', '.join(names)}), "
              f"{_size(sum(vod['bytes_on_disk'].values()))}; "
              + ("reused from the cache" if vod["reused"] else f"generated in {vod['make_s']:.1f} s"),
              "seconds = download + local remux to .mp4/.m4a, one yt-dlp session per step, same options as the "
              "product; the hybrid job's audio is the audio + sections step, counted in both"]
    return "\n".join(lines)

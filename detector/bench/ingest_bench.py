"""Benchmark stage (``highlights bench ingest``): "whole VOD" against "audio + sections" over local HLS.

Consumes a cached synthetic HLS VOD (:mod:`detector.bench.ingest_vod`: a ``720p30`` variant with
muxed audio and an ``audio_only`` variant, 10 s segments, as Twitch serves them), served on
127.0.0.1 by :class:`~detector.sources.twitch.hls_server.HlsServer`, which counts bytes and segment
requests per rendition. Measures, in one run and with the same yt-dlp session options as the
product: **whole VOD** — the naive approach, yt-dlp downloads the whole video variant and it is
remuxed to ``.mp4``; and **audio + sections** — the product's ``fetch_audio`` (the whole
``audio_only`` variant) then ``fetch_sections`` for ``clips`` windows of ``clip_s`` seconds with the
product's default margin. Produces a JSON-ready dict (bytes served, seconds, segments per rendition,
and the whole / (audio + sections) ratios of bytes and of time) and :func:`format_ingest_report`'s
side-by-side table. The HLS files are read once before measuring, so neither side pays for a cold
disk cache.
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
from detector.errors import ConfigError
from detector.ffmpeg import run_ffmpeg
from detector.sources.twitch.fetch import ensure_free, fetch_audio, fetch_sections, with_retries
from detector.sources.twitch.hls_server import HlsServer, folder_sizes
from detector.sources.twitch.ytdlp_session import FetchOptions, YtdlpSession

log = logging.getLogger(__name__)

SEED = 7
DEFAULT_MARGIN_S = float(inspect.signature(fetch_sections).parameters["margin_s"].default)
"""The margin ``fetch_sections`` adds on each side of a window unless told otherwise (the product's default)."""


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


def _measure(server: HlsServer, step: Callable[[], Sequence[Path]]) -> dict[str, Any]:
    server.reset()
    started = time.perf_counter()
    files = step()
    seconds = time.perf_counter() - started
    traffic = server.traffic()
    return {"bytes": traffic.total_bytes, "seconds": round(seconds, 3), "segments": dict(traffic.segments),
            "bytes_by_rendition": dict(traffic.bytes), "requests": traffic.requests,
            "output_bytes": sum(f.stat().st_size for f in files)}


def _sum(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    def merge(x: dict[str, int], y: dict[str, int]) -> dict[str, int]:
        return {k: x.get(k, 0) + y.get(k, 0) for k in sorted({*x, *y})}

    return {"bytes": a["bytes"] + b["bytes"], "seconds": round(a["seconds"] + b["seconds"], 3),
            "segments": merge(a["segments"], b["segments"]),
            "bytes_by_rendition": merge(a["bytes_by_rendition"], b["bytes_by_rendition"]),
            "requests": a["requests"] + b["requests"], "output_bytes": a["output_bytes"] + b["output_bytes"]}


def run_ingest_bench(minutes: float = 60.0, clips: int = 10, out: TextIO | None = None, *, clip_s: float = 30.0,
                     spec: HlsVodSpec | None = None, cache: Path | None = None, work: Path | None = None,
                     options: FetchOptions | None = None, seed: int = SEED) -> dict[str, Any]:
    """Measure both approaches on one synthetic VOD; progress lines go to ``out`` (when given)."""
    def say(message: str) -> None:
        if out is not None:
            out.write(f"bench ingest: {message}\n")
            out.flush()

    spec = spec or HlsVodSpec()
    options = options or FetchOptions()
    vod = cached_hls_vod(minutes, spec, cache=cache, say=say)
    windows = clip_windows(vod.duration_s, clips, clip_s, DEFAULT_MARGIN_S, seed)
    _warm(vod.root)
    with HlsServer(vod.root) as server, tempfile.TemporaryDirectory(prefix="ingest-bench-", dir=work) as tmp_name:
        tmp, url = Path(tmp_name), server.url("master.m3u8")
        say(f"whole VOD: downloading every segment of {spec.video_rendition} from {url} ...")
        whole = _measure(server, lambda: [download_whole(url, tmp / "whole", height=spec.height, options=options)])
        for file in (tmp / "whole").iterdir():
            file.unlink()
        say("audio + sections: fetch_audio ...")
        audio = _measure(server, lambda: [fetch_audio(url, tmp / "parts", options=options).path])
        say(f"audio + sections: fetch_sections for {len(windows)} windows of {clip_s:g} s ...")
        sections = _measure(server, lambda: [s.path for s in fetch_sections(
            url, tmp / "parts", windows, height=spec.height, options=options)])
    ours = _sum(audio, sections)
    sizes = folder_sizes(vod.root)
    return {
        "vod": {"minutes": minutes, "duration_s": vod.duration_s, "root": str(vod.root), "reused": vod.reused,
                "make_s": round(vod.make_s, 1), "width": spec.width, "height": spec.height, "fps": spec.fps,
                "video_kbps": spec.video_kbps, "audio_kbps": spec.audio_kbps, "segment_s": spec.segment_s,
                "video_rendition": spec.video_rendition, "audio_rendition": AUDIO_RENDITION,
                "bytes_on_disk": sizes,
                "segments": {r: len(list((vod.root / r).glob("*.ts"))) for r in (spec.video_rendition, AUDIO_RENDITION)}},
        "clips": clips, "clip_s": clip_s, "margin_s": DEFAULT_MARGIN_S, "windows": [list(w) for w in windows],
        "rows": {"whole": whole, "audio": audio, "sections": sections, "audio+sections": ours},
        "ratios": {"bytes": whole["bytes"] / ours["bytes"] if ours["bytes"] else None,
                   "time": whole["seconds"] / ours["seconds"] if ours["seconds"] else None},
        "cpus": os.cpu_count(),
    }


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


def format_ingest_report(report: dict[str, Any]) -> str:
    """The side-by-side table of :func:`run_ingest_bench`'s numbers."""
    vod, rows = report["vod"], report["rows"]
    video, audio = vod["video_rendition"], vod["audio_rendition"]
    lines = [
        (f"highlights bench ingest: {vod['minutes']:g}-min synthetic VOD over local HLS ({vod['segment_s']} s segments): "
         f"{video} ({vod['width']}x{vod['height']} H.264 CBR {vod['video_kbps']} kbit/s + AAC {vod['audio_kbps']} "
         f"kbit/s) and {audio}; {report['clips']} clips of {report['clip_s']:g} s, margin ± {report['margin_s']:g} s; "
         f"{report['cpus']} CPUs"),
        "",
    ]
    head = f"{'':<28} {'bytes served':>13} {'seconds':>9} {video + ' segs':>13} {audio + ' segs':>15} {'requests':>9}"
    lines += [head, "-" * len(head)]
    labels = (("whole", f"whole VOD ({video})"), ("audio", f"  audio ({audio})"),
              ("sections", f"  sections ({len(report['windows'])} windows)"), ("audio+sections", "audio + sections"))
    for key, label in labels:
        row = rows[key]
        lines.append(f"{label:<28} {_size(row['bytes']):>13} {row['seconds']:>9.2f} "
                     f"{row['segments'].get(video, 0):>13} {row['segments'].get(audio, 0):>15} {row['requests']:>9}")
    ratios = report["ratios"]
    fmt = lambda r: "-" if r is None else f"{r:.2f}x"  # noqa: E731
    lines += ["", f"whole VOD / (audio + sections): bytes {fmt(ratios['bytes'])}, time {fmt(ratios['time'])} "
                  "(measured in this run)",
              f"VOD on the server: {vod['segments'][video]} + {vod['segments'][audio]} segments, "
              f"{_size(sum(vod['bytes_on_disk'].values()))}; "
              + ("reused from the cache" if vod["reused"] else f"generated in {vod['make_s']:.1f} s"),
              "seconds = download + local remux to .mp4/.m4a, one yt-dlp session per step, same options as the product"]
    return "\n".join(lines)

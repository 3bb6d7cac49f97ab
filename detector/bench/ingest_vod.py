"""Benchmark input for ``highlights bench ingest``: a cached synthetic HLS VOD laid out like Twitch's.

Consumes a length in minutes and an :class:`HlsVodSpec`; produces an :class:`HlsVod`: a folder with
``master.m3u8`` listing the variants Twitch's usher lists — the top ``<height>p<fps>`` rendition and
the lower ``ladder`` ones (by default ``360p30`` and ``160p30``; H.264 and AAC muxed in MPEG-TS
segments) and ``audio_only`` (the same AAC alone) — each a sub-folder with ``index-dvr.m3u8`` and
segments ``0.ts``, ``1.ts``, … of ``segment_s`` seconds, cut at the same instants in every rendition.
ffmpeg encodes one short tile (``TILE_S`` s of ``testsrc2`` video, scaled once per rendition and
each at its own constant bit rate, padded with filler data the way a CBR broadcast is, so the bytes
are those of a real stream; a beeping tone as AAC) with the cheap x264 preset ``ultrafast``, then
loops it by stream copy straight into the HLS muxer, so an hour is ready in seconds after the tile.
The folder is cached under ``cache`` (default ``$XDG_CACHE_HOME/highlights/bench/ingest``) with a
JSON marker; a later run with the same length, spec (ladder included), ``LAYOUT`` and generator
source reuses it (the folder name carries the layout, so older caches are never taken for this one).
Generation writes into a hidden sibling folder and renames it into place, so an interrupted run
never leaves a folder that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from detector.errors import ConfigError
from detector.ffmpeg import run_ffmpeg

log = logging.getLogger(__name__)

TILE_S = 64
"""Length of the encoded tile: a whole number of AAC frames at 48 kHz (3000 × 1024 samples) and of video frames."""
AUDIO_RENDITION = "audio_only"
MIN_MINUTES, MAX_MINUTES = 1.0, 600.0
MARKER = "vod.json"
LAYOUT = 2
"""Version of the folder layout, part of the cache key (2: a ladder of lower renditions beside the top one)."""


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "highlights" / "bench" / "ingest"


@dataclass(frozen=True, slots=True)
class Rung:
    """One lower rendition of the ladder: its frame size and constant video bit rate (kbit/s)."""

    width: int
    height: int
    video_kbps: int


TWITCH_LADDER = (Rung(640, 360, 630), Rung(284, 160, 230))
"""Twitch's ``360p30`` and ``160p30`` transcodes (frame sizes as Twitch serves them; bit rates as its
master playlists advertise them, used here as the video rate, with the same AAC muxed in)."""


@dataclass(frozen=True, slots=True)
class HlsVodSpec:
    """How the synthetic VOD is encoded (sizes in pixels, rates in kbit/s, times in seconds)."""

    width: int = 1280
    height: int = 720
    fps: int = 30
    """Frames per second of the video (Twitch's 720p30 rendition)."""
    video_kbps: int = 3000
    """Constant video bit rate (x264 ``nal-hrd=cbr``: filler keeps it constant even for easy pictures)."""
    audio_kbps: int = 160
    """AAC bit rate of both renditions (Twitch's ``audio_only`` is AAC at about 160 kbit/s)."""
    keyframe_s: int = 2
    """Seconds between keyframes (Twitch's ingest asks for 2)."""
    segment_s: int = 10
    """HLS segment length; a multiple of ``keyframe_s`` so every segment starts on a keyframe."""
    ladder: tuple[Rung, ...] = TWITCH_LADDER
    """Lower renditions served beside the top one, each shorter than it (same frame rate and audio)."""

    @property
    def video_rendition(self) -> str:
        """The top rendition's name (``720p30``): what a whole-VOD download takes."""
        return f"{self.height}p{self.fps}"

    @property
    def rungs(self) -> tuple[Rung, ...]:
        """Every video rendition, the top one first, then the ladder tallest first."""
        top = Rung(self.width, self.height, self.video_kbps)
        return (top, *sorted(self.ladder, key=lambda r: -r.height))

    def rendition(self, rung: Rung) -> str:
        """The name Twitch gives ``rung`` (``<height>p<fps>``), also its folder's."""
        return f"{rung.height}p{self.fps}"

    @property
    def renditions(self) -> tuple[str, ...]:
        """Every rendition's name: the video ones tallest first, then ``audio_only``."""
        return (*(self.rendition(r) for r in self.rungs), AUDIO_RENDITION)

    def check(self) -> None:
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise ConfigError(f"{self.width}x{self.height} is not a usable frame size.",
                              hint="Give even sizes of at least 16 pixels.")
        if not (1 <= self.fps <= 60 and 50 <= self.video_kbps <= 50_000 and 32 <= self.audio_kbps <= 320):
            raise ConfigError("The synthetic VOD's frame rate or bit rates are out of range.",
                              hint="Use 1–60 fps, 50–50000 kbit/s of video and 32–320 kbit/s of audio.")
        for rung in self.ladder:
            if rung.width < 16 or rung.height < 16 or rung.width % 2 or rung.height % 2 or not 50 <= rung.video_kbps <= 50_000:
                raise ConfigError(f"The ladder rendition {rung.width}x{rung.height} at {rung.video_kbps} kbit/s is unusable.",
                                  hint="Give even sizes of at least 16 pixels and 50–50000 kbit/s.")
        heights = [r.height for r in self.rungs]
        if len(set(heights)) != len(heights) or max(heights) != self.height:
            raise ConfigError(f"The ladder heights {sorted(heights[1:])} must differ and stay under {self.height}.",
                              hint="Give each lower rendition its own height below the top one's.")
        if self.keyframe_s < 1 or self.segment_s < self.keyframe_s or self.segment_s % self.keyframe_s:
            raise ConfigError(f"{self.segment_s} s segments do not hold whole {self.keyframe_s} s keyframe intervals.",
                              hint="Make segment_s a multiple of keyframe_s.")


@dataclass(frozen=True, slots=True)
class HlsVod:
    """A generated HLS VOD folder."""

    root: Path
    duration_s: float
    spec: HlsVodSpec
    reused: bool
    """True when it came from the cache; False when this call generated it."""
    make_s: float
    """Seconds it took to generate (0 when reused)."""

    @property
    def master(self) -> Path:
        return self.root / "master.m3u8"


def check_minutes(minutes: float) -> None:
    if not (MIN_MINUTES <= minutes <= MAX_MINUTES):
        raise ConfigError(f"--minutes {minutes:g} is out of range for the ingest bench.",
                          hint=f"Use {MIN_MINUTES:g} to {MAX_MINUTES:g} minutes.")


def _fingerprint(minutes: float, spec: HlsVodSpec) -> str:
    source = Path(__file__).read_bytes()
    key = json.dumps({"minutes": minutes, "spec": asdict(spec), "tile": TILE_S, "layout": LAYOUT},
                     sort_keys=True).encode()
    return hashlib.sha1(source + key).hexdigest()[:16]


def cached_hls_vod(minutes: float, spec: HlsVodSpec | None = None, *, cache: Path | None = None,
                   say: Callable[[str], None] | None = None) -> HlsVod:
    """The synthetic HLS VOD of ``minutes`` in ``cache``: reused when already there, else generated."""
    check_minutes(minutes)
    spec = spec or HlsVodSpec()
    spec.check()
    cache = Path(cache) if cache is not None else default_cache()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot create the bench cache folder {cache}: {exc.strerror or exc}.",
                          hint="Give a folder you can write to.") from None
    fingerprint = _fingerprint(minutes, spec)
    root = cache / (f"hls{LAYOUT}-{minutes:g}m-{spec.width}x{spec.height}p{spec.fps}-{spec.video_kbps}k"
                    f"-{len(spec.ladder)}rungs-{fingerprint}")
    try:
        marker = json.loads((root / MARKER).read_text(encoding="utf-8"))
        if marker.get("fingerprint") == fingerprint and (root / "master.m3u8").is_file():
            log.info("reusing the synthetic HLS VOD %s", root)
            if say:
                say(f"reusing the {minutes:g}-minute synthetic HLS VOD in {root}")
            return HlsVod(root, float(marker["duration_s"]), spec, True, 0.0)
    except (OSError, ValueError, KeyError):
        pass
    if say:
        ladder = ", ".join(f"{spec.rendition(r)} {r.video_kbps}" for r in spec.rungs)
        say(f"making a {minutes:g}-minute synthetic HLS VOD (x264 ultrafast CBR {ladder} kbit/s, each + AAC "
            f"{spec.audio_kbps} kbit/s, and {AUDIO_RENDITION}) in {root} ...")
    started = time.perf_counter()
    shutil.rmtree(root, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=".making-", dir=cache))
    try:
        _make(work, minutes * 60.0, spec)
        marker_data = {"fingerprint": fingerprint, "duration_s": minutes * 60.0, "spec": asdict(spec)}
        (work / MARKER).write_text(json.dumps(marker_data, indent=1), encoding="utf-8")
        work.rename(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    took = time.perf_counter() - started
    log.info("made %s in %.1f s", root, took)
    return HlsVod(root, minutes * 60.0, spec, False, took)


def _tile_args(spec: HlsVodSpec, tile: Path) -> list[str]:
    """ffmpeg arguments encoding the tile: one CBR H.264 stream per rendition (tallest first), then the AAC."""
    rungs = spec.rungs
    gop = spec.fps * spec.keyframe_s
    graph = f"[0:v]split={len(rungs)}" + "".join(f"[s{i}]" for i in range(len(rungs))) + ";" + ";".join(
        f"[s{i}]scale={r.width}:{r.height}[v{i}]" for i, r in enumerate(rungs))
    args = ["-filter_complex", graph]
    for i in range(len(rungs)):
        args += ["-map", f"[v{i}]"]
    args += ["-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
             "-x264-params", "nal-hrd=cbr", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    for i, rung in enumerate(rungs):
        kbps = f"{rung.video_kbps}k"
        args += [f"-b:v:{i}", kbps, f"-minrate:v:{i}", kbps, f"-maxrate:v:{i}", kbps, f"-bufsize:v:{i}", kbps]
    return [*args, "-c:a", "aac", "-b:a", f"{spec.audio_kbps}k", "-t", str(TILE_S), "-y", str(tile)]


def _make(work: Path, duration_s: float, spec: HlsVodSpec) -> None:
    tile = work / "tile.mp4"
    run_ffmpeg([
        "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size={spec.width}x{spec.height}:rate={spec.fps}:duration={TILE_S}",
        "-f", "lavfi", "-i", f"sine=frequency=440:beep_factor=4:sample_rate=48000:duration={TILE_S},"
                             "aformat=channel_layouts=stereo",
        *_tile_args(spec, tile),
    ], timeout_s=600.0, what="encoding the synthetic VOD's tile")
    site = work / "site"
    loops = max(0, math.ceil(duration_s / TILE_S) - 1)
    rungs = spec.rungs
    maps: list[str] = []
    for i in range(len(rungs)):
        maps += ["-map", f"0:v:{i}", "-map", "0:a"]
    streams = [f"v:{i},a:{i},name:{spec.rendition(r)}" for i, r in enumerate(rungs)]
    streams.append(f"a:{len(rungs)},name:{AUDIO_RENDITION}")
    run_ffmpeg([
        "-loglevel", "error", "-stream_loop", str(loops), "-i", str(tile), "-t", f"{duration_s:.3f}",
        *maps, "-map", "0:a", "-c", "copy",
        "-f", "hls", "-hls_time", str(spec.segment_s), "-hls_playlist_type", "vod",
        "-hls_segment_filename", str(site / "%v" / "%d.ts"), "-master_pl_name", "master.m3u8",
        "-var_stream_map", " ".join(streams),
        str(site / "%v" / "index-dvr.m3u8"),
    ], timeout_s=600.0, what="cutting the synthetic VOD into HLS segments")
    tile.unlink()
    for item in site.iterdir():
        item.rename(work / item.name)
    site.rmdir()

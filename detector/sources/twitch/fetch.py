"""Sources stage, Twitch ingestion: fetch what each later stage needs from an HLS VOD, no more.

Consumes a VOD's HLS playlist URL (from a ``PlaylistResolver``) and, for sections, the candidate
windows on the VOD timeline; produces local files: the whole VOD's **audio** only (``.m4a``, from an
audio-only rendition — video segments are never requested) and **sections** (``.mp4``, the segments
overlapping each window plus a margin, at most a chosen height). Each download step is retried with
exponential backoff (yt-dlp also retries single segments); free disk space is checked before each
download; files are written inside a hidden temporary folder in the destination and renamed into
place only when complete, so a partial file never carries a final name, and the temporary folder is
removed whatever happens. Progress goes to a ``ProgressCallback`` (segments done of segments
planned); ``abort`` is polled between and during downloads and stops the work with ``Cancelled``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from detector.errors import Cancelled
from detector.ffmpeg import run_ffmpeg
from detector.records import AbortCheck, ProgressCallback
from detector.sources.twitch.errors import DownloadError, NotEnoughDisk, TransientDownload
from detector.sources.twitch.playlist import MediaPlaylist, Segment, merge_windows, select_runs
from detector.sources.twitch.ytdlp_session import FetchOptions, YtdlpSession

log = logging.getLogger(__name__)
T = TypeVar("T")

AUDIO_FORMAT = "ba"
FALLBACK_KBPS = {"audio": 256.0, "video": 8000.0}
"""Bitrates assumed for the disk check when a playlist does not state one (kbit/s)."""


@dataclass(frozen=True, slots=True)
class FetchedAudio:
    """The VOD's audio as a local file."""

    path: Path
    duration_s: float
    segments: int


@dataclass(frozen=True, slots=True)
class Section:
    """A local file holding the VOD from ``start_s`` to ``end_s`` (segment-aligned, so it covers the window)."""

    path: Path
    start_s: float
    end_s: float
    window: tuple[float, float]
    """The requested span (margins included) this file covers."""


class _Tracker:
    """Turns yt-dlp's per-download fragment numbers into one ``(done, total)`` over a whole fetch."""

    def __init__(self, stage: str, total: int, progress: ProgressCallback | None) -> None:
        self.stage, self.total, self.progress = stage, total, progress
        self.base = 0
        self._last = -1

    def begin(self, base: int) -> None:
        self.base, self._last = base, -1

    def fragment(self, index: int) -> None:
        done = self.base + index - 1  # yt-dlp reports the fragment it is working on (1-based)
        if done != self._last and self.progress is not None:
            self._last = done
            self.progress(self.stage, float(done), float(self.total))

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.stage, float(self.total), float(self.total))


def _check(abort: AbortCheck | None) -> None:
    if abort is not None and abort():
        raise Cancelled("The download was cancelled.")


def _sleep(seconds: float, abort: AbortCheck | None) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        _check(abort)
        time.sleep(min(left, 0.2))


def with_retries(what: str, step: Callable[[], T], options: FetchOptions, abort: AbortCheck | None) -> T:
    """Run ``step`` up to ``options.attempts`` times while it fails with ``TransientDownload``."""
    last: TransientDownload | None = None
    for attempt in range(1, max(1, options.attempts) + 1):
        _check(abort)
        try:
            return step()
        except TransientDownload as exc:
            last = exc
            if attempt >= options.attempts:
                break
            delay = options.delay(attempt)
            log.warning("%s failed (try %d of %d): %s; trying again in %.1f s", what, attempt, options.attempts,
                        exc.message, delay)
            _sleep(delay, abort)
    raise DownloadError(f"{what} failed after {options.attempts} tries: {last.message if last else 'unknown'}",
                        hint="Check that the VOD is still available and the network works, then retry the job.")


def ensure_free(folder: Path, need_bytes: float, options: FetchOptions) -> None:
    """``NotEnoughDisk`` unless ``folder``'s disk keeps ``reserve_bytes`` free after ``need_bytes`` more."""
    free = shutil.disk_usage(folder).free
    if free - need_bytes < options.reserve_bytes:
        raise NotEnoughDisk(
            f"Only {free / 2**30:.1f} GiB are free in {folder}; this download needs about "
            f"{need_bytes / 2**30:.2f} GiB and {options.reserve_bytes / 2**30:.1f} GiB must stay free.",
            hint="Free some space (old job folders) or point downloads at a larger disk.")


def _estimate(fmt: dict[str, Any], seconds: float) -> float:
    kind = "audio" if fmt.get("vcodec") == "none" else "video"
    kbps = float(fmt.get("tbr") or 0.0) or FALLBACK_KBPS[kind]
    return 1.2 * kbps * 1000.0 / 8.0 * seconds


def _download(session: YtdlpSession, fmt: dict[str, Any], playlist: MediaPlaylist, segments: Sequence[Segment],
              tmp: Path, name: str, options: FetchOptions, abort: AbortCheck | None) -> Path:
    """Download ``segments`` into ``tmp/<name>.ts``, each try in a fresh sub-folder."""
    tries = iter(range(1, 1 << 30))

    def step() -> Path:
        folder = tmp / f"try{next(tries)}-{name}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        return session.download_segments(fmt, playlist, segments, folder / f"{name}.ts")

    return with_retries(f"Downloading {name} ({len(segments)} segments of {fmt['url']})", step, options, abort)


def fetch_audio(url: str, dest: Path, *, options: FetchOptions | None = None, name: str = "audio",
                progress: ProgressCallback | None = None, abort: AbortCheck | None = None) -> FetchedAudio:
    """Download the whole VOD's audio-only rendition from the HLS playlist ``url`` to ``dest/<name>.m4a``."""
    options = options or FetchOptions()
    dest.mkdir(parents=True, exist_ok=True)
    _check(abort)
    ensure_free(dest, 0, options)
    tracker = _Tracker("download audio", 0, progress)
    with YtdlpSession(options, abort, tracker.fragment) as session:
        fmts = with_retries(f"Reading the playlist {url}", lambda: session.formats(url, AUDIO_FORMAT), options, abort)
        fmt = fmts[0]
        if len(fmts) != 1 or fmt.get("vcodec") not in ("none", None) or fmt.get("acodec") == "none":
            raise DownloadError(f"{url} has no audio-only rendition, so its audio cannot be fetched alone.",
                                hint="Fetch the VOD whole or give its media file.")
        playlist = _media_playlist(session, fmt, options, abort)
        tracker.total = len(playlist.segments)
        ensure_free(dest, _estimate(fmt, playlist.duration_s) * 2, options)  # the .ts and the .m4a
        with tempfile.TemporaryDirectory(prefix=".partial-", dir=dest) as tmp_name:
            tmp = Path(tmp_name)
            ts = _download(session, fmt, playlist, playlist.segments, tmp, name, options, abort)
            _check(abort)
            out = tmp / f"{name}.m4a"
            run_ffmpeg(["-loglevel", "error", "-i", str(ts), "-map", "0:a:0", "-c", "copy", "-f", "mp4", str(out)],
                       timeout_s=options.ffmpeg_timeout_s, what=f"remuxing the downloaded audio of {url}")
            final = dest / out.name
            os.replace(out, final)
    tracker.finish()
    log.info("fetched the audio of %s: %d segments, %.0f s", url, len(playlist.segments), playlist.duration_s)
    return FetchedAudio(final, playlist.duration_s, len(playlist.segments))


def section_format(height: int) -> str:
    """yt-dlp format spec: video at most ``height`` px high (+ separate audio when the VOD has one)."""
    return f"bv*[height<={height}]+ba/b[height<={height}]/wv*+ba/w"


def fetch_sections(url: str, dest: Path, windows: Sequence[tuple[float, float]], *, height: int = 720,
                   margin_s: float = 10.0, options: FetchOptions | None = None, name: str = "section",
                   progress: ProgressCallback | None = None, abort: AbortCheck | None = None) -> list[Section]:
    """Download only the parts of the VOD at ``url`` covering ``windows`` (± ``margin_s``), as ``.mp4`` files.

    Overlapping windows are merged first; one ``dest/<name>-<n>.mp4`` per merged span, in time order.
    """
    options = options or FetchOptions()
    dest.mkdir(parents=True, exist_ok=True)
    _check(abort)
    ensure_free(dest, 0, options)
    tracker = _Tracker("download sections", 0, progress)
    sections: list[Section] = []
    with YtdlpSession(options, abort, tracker.fragment) as session:
        fmts = with_retries(f"Reading the playlist {url}", lambda: session.formats(url, section_format(height)),
                            options, abort)
        playlists = [_media_playlist(session, f, options, abort) for f in fmts]
        spans = merge_windows(windows, margin_s, min(p.duration_s for p in playlists))
        plan = [(span, [select_runs(p, [span])[0] for p in playlists]) for span in spans]
        tracker.total = sum(len(run) for _, runs in plan for run in runs)
        done = 0
        with tempfile.TemporaryDirectory(prefix=".partial-", dir=dest) as tmp_name:
            tmp = Path(tmp_name)
            for number, (span, runs) in enumerate(plan, start=1):
                seconds = max(r[-1].end_s - r[0].start_s for r in runs)
                ensure_free(dest, sum(_estimate(f, seconds) for f in fmts) * 2, options)
                parts = []
                for index, (fmt, playlist, run) in enumerate(zip(fmts, playlists, runs)):
                    tracker.begin(done)
                    parts.append(_download(session, fmt, playlist, run, tmp, f"{name}-{number}.{index}", options, abort))
                    done += len(run)
                _check(abort)
                out = tmp / f"{name}-{number}.mp4"
                run_ffmpeg(["-loglevel", "error", *_mux_args(parts), "-c", "copy", "-f", "mp4", str(out)],
                           timeout_s=options.ffmpeg_timeout_s, what=f"joining section {number} of {url}")
                final = dest / out.name
                os.replace(out, final)
                sections.append(Section(final, min(r[0].start_s for r in runs), max(r[-1].end_s for r in runs), span))
    tracker.finish()
    log.info("fetched %d section(s) of %s (%d segments)", len(sections), url, done)
    return sections


def _media_playlist(session: YtdlpSession, fmt: dict[str, Any], options: FetchOptions,
                    abort: AbortCheck | None) -> MediaPlaylist:
    return with_retries(f"Reading the playlist {fmt['url']}", lambda: session.media_playlist(fmt), options, abort)


def _mux_args(parts: Sequence[Path]) -> list[str]:
    args: list[str] = []
    for part in parts:
        args += ["-i", str(part)]
    if len(parts) == 1:
        return [*args, "-map", "0"]
    return [*args, "-map", "0:v:0?", "-map", "1:a:0?"]

"""Sources stage: probe a media file.

Consumes a path to any file ffmpeg can read; produces a :class:`~detector.records.MediaInfo`
(duration, audio and video stream facts). It needs no ffprobe: it runs ``ffmpeg -i <path>`` with no
output (ffmpeg then exits 1 with "At least one output file must be specified", which is expected)
and reads the input description ffmpeg prints on stderr. When the container states no duration
(``Duration: N/A``, e.g. a Matroska file written to a pipe), one fast stream-copy pass to the null
muxer measures it from the last ``time=`` ffmpeg reports. A header can lie: a duration past the cap
on VOD length (``max_media_s``, 24 h unless ``$HIGHLIGHTS_MAX_MEDIA_HOURS`` says otherwise) is measured
the same way, and a file that really holds more is refused (``MediaTooLong``), so no later stage sizes
a buffer from more than the cap. The path must be a regular file (``detector.sources.input_files``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from detector import children
from detector.errors import MediaError, MediaTooLong, NotAMediaFile
from detector.ffmpeg import ffmpeg_path, stderr_tail
from detector.records import MediaInfo
from detector.sources.env_limits import positive_env_number
from detector.sources.input_files import describe, file_problem

log = logging.getLogger(__name__)

ENV_MAX_HOURS = "HIGHLIGHTS_MAX_MEDIA_HOURS"
DEFAULT_MAX_HOURS = 24.0
"""The longest VOD (hours) the detector accepts; every buffer is sized from at most this long a timeline."""
PROBE_TIMEOUT_S = 60.0
"""Reading a container header never takes long; a hung probe is an error."""
MEASURE_TIMEOUT_S = 900.0
"""The fallback duration pass reads the whole file (stream copy, no decoding)."""

_DURATION_RE = re.compile(r"^\s*Duration:\s*(?:(\d+):(\d{2}):(\d{2}(?:\.\d+)?)|N/A)", re.MULTILINE)
_STREAM_RE = re.compile(r"^\s*Stream #0:\d+\S*:\s*(Audio|Video):\s*(.*)$", re.MULTILINE)
_TIME_RE = re.compile(r"time=\s*(-?)(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_SIZE_RE = re.compile(r"(?:^|[\s,])(\d{2,5})x(\d{2,5})(?=[\s,\[]|$)")
_FPS_RE = re.compile(r"(?:^|[\s,])(\d+(?:\.\d+)?)(k?) fps\b")
_TBR_RE = re.compile(r"(?:^|[\s,])(\d+(?:\.\d+)?)(k?) tbr\b")
_RATE_RE = re.compile(r"(?:^|[\s,])(\d+) Hz\b")
_CHANNELS_RE = re.compile(r"(?:^|[\s,])(\d+) channels\b")
_LAYOUT_CHANNELS = {
    "mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "3.0(back)": 3, "quad": 4, "quad(side)": 4,
    "4.0": 4, "4.1": 5, "5.0": 5, "5.0(side)": 5, "5.1": 6, "5.1(side)": 6, "6.0": 6, "6.1": 7,
    "7.0": 7, "7.1": 8, "7.1(wide)": 8, "7.1(wide-side)": 8, "downmix": 2,
}
_PREFIX_RE = re.compile(r"^\[[^\]]*\]\s*")
_CORRUPT_MARKERS = (
    "Invalid data found when processing input",
    "moov atom not found",
    "could not find codec parameters",
    "Error opening input",
    "Invalid argument",
)


def check_media_path(path: Path) -> None:
    """Raise MediaError unless ``path`` is a regular file: missing, a directory, a FIFO, a device, a socket,
    a symlink loop or a broken link each get their own message (``detector.sources.input_files``)."""
    problem = file_problem(path)
    if problem is None:
        return
    shown = describe(path)
    if problem.code == "missing":
        raise MediaError(f"Media file {shown} does not exist.", hint="Check the path, or download the VOD first.")
    if problem.code == "directory":
        raise MediaError(f"{shown} is a directory, not a media file.",
                         hint="Pass the path of the video or audio file itself.")
    raise NotAMediaFile(f"Media file {shown} {problem.text}.", hint=problem.hint)


def max_media_s(env: Mapping[str, str] | None = None) -> float:
    """The cap on a VOD's length in seconds: ``$HIGHLIGHTS_MAX_MEDIA_HOURS`` (default 24 h)."""
    hours = positive_env_number(env, ENV_MAX_HOURS, "hours",
                                f"Unset it for the default of {DEFAULT_MAX_HOURS:g} h, or give e.g. 48.")
    return (DEFAULT_MAX_HOURS if hours is None else hours) * 3600.0


def too_long(what: str, seconds: float, cap_s: float) -> MediaTooLong:
    """The error for ``what`` (a file, a chat log) holding ``seconds`` of timeline, past ``cap_s``."""
    return MediaTooLong(f"{what} is {seconds / 3600.0:,.1f} h long, more than the {cap_s / 3600.0:g} h this "
                        "installation accepts.",
                        hint=f"Cut it into parts, or raise {ENV_MAX_HOURS} if the machine has the memory for it.")


def _run(argv: list[str], timeout_s: float, path: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return children.run(argv, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise MediaError(f"Reading {path} with ffmpeg took longer than {timeout_s:.0f} s and was stopped.",
                         hint="The file may be on a stalled network drive or damaged; copy it locally.") \
            from None


def _clock_to_s(hours: str, minutes: str, seconds: str) -> float:
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _rate(match: re.Match[str] | None) -> float | None:
    if match is None:
        return None
    value = float(match.group(1)) * (1000.0 if match.group(2) else 1.0)
    return value if value > 0 else None


def _codec(desc: str) -> str:
    return desc.split(",", 1)[0].split(" ", 1)[0].strip() or "unknown"


def _channels(desc: str) -> int | None:
    counted = _CHANNELS_RE.search(desc)
    if counted:
        return int(counted.group(1))
    for part in (p.strip() for p in desc.split(",")):
        if part in _LAYOUT_CHANNELS:
            return _LAYOUT_CHANNELS[part]
    return None


def parse_probe_output(path: str, stderr: str) -> MediaInfo | None:
    """Read ffmpeg's input description for input #0; None when there is no ``Input #0`` block.

    A duration of ``N/A`` is returned as ``0.0``; :func:`probe` then measures it.
    """
    if "Input #0" not in stderr:
        return None
    duration = 0.0
    dur = _DURATION_RE.search(stderr)
    if dur and dur.group(1) is not None:
        duration = _clock_to_s(dur.group(1), dur.group(2), dur.group(3))
    fields: dict[str, object] = {}
    for kind, desc in _STREAM_RE.findall(stderr):
        if kind == "Audio" and "audio_codec" not in fields:
            rate = _RATE_RE.search(desc)
            fields.update(audio_codec=_codec(desc), audio_rate=int(rate.group(1)) if rate else None,
                          audio_channels=_channels(desc))
        elif kind == "Video" and "video_codec" not in fields:
            if "(attached pic)" in desc:  # cover art in audio files is not a video stream
                continue
            size = _SIZE_RE.search(desc)
            fps = _rate(_FPS_RE.search(desc)) or _rate(_TBR_RE.search(desc))
            fields.update(video_codec=_codec(desc), fps=fps,
                          width=int(size.group(1)) if size else None,
                          height=int(size.group(2)) if size else None)
    return MediaInfo(path=path, duration_s=duration, has_audio="audio_codec" in fields,
                     has_video="video_codec" in fields, **fields)  # type: ignore[arg-type]


def explain_unreadable(path: Path, stderr: str) -> MediaError:
    """The MediaError for a file ffmpeg could not open, from ffmpeg's stderr."""
    tail = _PREFIX_RE.sub("", stderr_tail(stderr, 1))
    if "detected only with low score" in stderr:
        return MediaError(f"{path} does not look like a media file (ffmpeg barely recognised it: {tail}).",
                          hint="Pass the VOD's video or audio file (e.g. .mp4, .mkv, .m4a).")
    if "moov atom not found" in stderr:
        return MediaError(f"{path} is an incomplete MP4 (moov atom not found): the download or recording "
                          "was probably cut off.", hint="Download the VOD again, or remux a complete copy.")
    if any(marker in stderr for marker in _CORRUPT_MARKERS):
        return MediaError(f"{path} is not a media file ffmpeg can read, or it is corrupt ({tail}).",
                          hint="Check that it is the VOD's video or audio file and that it downloaded fully.")
    return MediaError(f"ffmpeg could not read {path}: {tail}",
                      hint="Check that it is a complete video or audio file.")


def measure_duration(path: str | Path, *, timeout_s: float = MEASURE_TIMEOUT_S) -> float:
    """Duration in seconds found by reading every packet (stream copy to null); 0.0 if none."""
    path = Path(path)
    argv = [ffmpeg_path(), "-hide_banner", "-nostdin", "-i", str(path),
            "-map", "0:a?", "-map", "0:v?", "-c", "copy", "-f", "null", "-"]
    proc = _run(argv, timeout_s, path)
    times = _TIME_RE.findall(proc.stderr.decode("utf-8", "replace"))
    if proc.returncode != 0 or not times:
        log.warning("could not measure the duration of %s (exit %s)", path, proc.returncode)
        return 0.0
    sign, hours, minutes, seconds = times[-1]
    return 0.0 if sign else _clock_to_s(hours, minutes, seconds)


def probe(path: str | Path) -> MediaInfo:
    """Probe ``path`` with ffmpeg; raise MediaError when it is missing, not media or corrupt."""
    path = Path(path)
    check_media_path(path)
    proc = _run([ffmpeg_path(), "-hide_banner", "-nostdin", "-i", str(path)], PROBE_TIMEOUT_S, path)
    stderr = proc.stderr.decode("utf-8", "replace")
    info = parse_probe_output(str(path), stderr)
    if info is None:
        raise explain_unreadable(path, stderr)
    if not info.has_audio and not info.has_video:
        raise MediaError(f"{path} has neither an audio nor a video stream.",
                         hint="Pass the VOD's video or audio file.")
    cap = max_media_s()
    if info.duration_s <= 0.0 or info.duration_s > cap:
        # A header can lie (a patched Matroska Duration claimed 1e12 s): past the cap, believe only the packets.
        if info.duration_s > 0.0:
            log.warning("%s: its header claims %.0f s, more than the %g h cap; measuring what it really holds",
                        path, info.duration_s, cap / 3600.0)
        else:
            log.info("%s states no duration; measuring it with a stream-copy pass", path)
        measured = measure_duration(path)
        if measured > cap:
            raise too_long(f"Media file {describe(path)}", measured, cap)
        info = dataclasses.replace(info, duration_s=measured)
    log.debug("probed %s: %s", path, info)
    return info


def require_audio(info: MediaInfo) -> MediaInfo:
    """Return ``info`` when it has an audio stream, else raise MediaError saying what to do."""
    if not info.has_audio:
        raise MediaError(f"{info.path} has no audio stream; run with --chat only, or pass a file with "
                         "the VOD's audio.")
    return info

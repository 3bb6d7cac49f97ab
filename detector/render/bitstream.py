"""Render stage, the source's video bitstream: codec parameters, exact keyframe times, packets.

Consumes a media file; produces what a smart cut (:mod:`detector.render.smartcut`) needs to know
about its first video stream without decoding more than keyframes:

- ``stream_params``: codec, profile and level (read from the H.264 SPS), pixel format, size,
  time base (ticks per second), the container's start time, whether it is interlaced;
- ``keyframe_ticks``: keyframe presentation times in the stream's own ticks (exact integers, not
  rounded seconds), found by decoding keyframes only (``-skip_frame nokey``) with ``-copyts``;
- ``packet_list``: every video packet's dts, pts, duration, size, checksum and key flag, read by a
  stream copy to ffmpeg's ``framecrc`` muxer (no decoding).

No ffprobe is needed: everything comes from ffmpeg's own output.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from detector.ffmpeg import run_ffmpeg

log = logging.getLogger(__name__)

H264_PROFILES = {66: "baseline", 77: "main", 100: "high", 110: "high10", 122: "high422", 244: "high444"}
"""SPS ``profile_idc`` → libx264's ``-profile`` name (extended and the intra profiles have none)."""
_VIDEO = re.compile(r"^\s*Stream #0:\d+\S*:\s*Video:\s*(.*)$", re.MULTILINE)
_START = re.compile(r"Duration:[^\n]*?start:\s*(-?)(\d+)\.(\d{6})")
_TBN = re.compile(r"(\d+(?:\.\d+)?)(k?) tbn\b")
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_TB = re.compile(rb"time_base:\s*(\d+)/(\d+)")
_PTS = re.compile(rb"\bpts:\s*(-?\d+)\s+pts_time")
_CRC_TB = re.compile(r"^#tb 0: (\d+)/(\d+)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class StreamParams:
    """The first video stream's coding parameters."""

    codec: str
    pix_fmt: str | None
    width: int
    height: int
    tb: int
    """Ticks per second of the stream's time base (``tbn``)."""
    start_us: int
    """The container's start time in microseconds: ``-ss`` times are offsets from it."""
    interlaced: bool
    profile_idc: int | None = None
    level_idc: int | None = None

    @property
    def x264_profile(self) -> str | None:
        return H264_PROFILES.get(self.profile_idc or 0)

    @property
    def x264_level(self) -> str | None:
        if not self.level_idc or self.level_idc < 10:
            return None
        return f"{self.level_idc // 10}.{self.level_idc % 10}" if self.level_idc % 10 else str(self.level_idc // 10)


@dataclass(frozen=True, slots=True)
class Packet:
    """One video packet in decode order; times in the listing's time base ticks."""

    dts: int
    pts: int
    duration: int
    size: int
    checksum: str
    key: bool


def _split_top(desc: str) -> list[str]:
    """Split a stream description on commas outside parentheses and brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in desc:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def parse_stream_params(stderr: str) -> StreamParams | None:
    """The first video stream of ``ffmpeg -i`` output; None when there is none or it lacks a size or tbn."""
    found = _VIDEO.search(stderr)
    if not found:
        return None
    desc = found.group(1)
    parts = _split_top(desc)
    codec = parts[0].split(" ", 1)[0]
    pix = re.match(r"[a-z0-9_]+", parts[1]) if len(parts) > 1 else None
    size = next((m for m in (_SIZE.search(p) for p in parts[1:]) if m), None)
    tbn = _TBN.search(desc)
    if size is None or tbn is None:
        return None
    start = _START.search(stderr)
    tb = float(tbn.group(1)) * (1000.0 if tbn.group(2) else 1.0)
    return StreamParams(codec=codec, pix_fmt=pix.group(0) if pix else None, width=int(size.group(1)),
                        height=int(size.group(2)), tb=int(round(tb)), start_us=_micros(start),
                        interlaced="top first" in desc or "bottom first" in desc)


def _micros(start: re.Match[str] | None) -> int:
    if start is None:
        return 0
    value = int(start.group(2)) * 1_000_000 + int(start.group(3))
    return -value if start.group(1) else value


def sps_fields(annexb: bytes) -> tuple[int, int] | None:
    """``(profile_idc, level_idc)`` of the first H.264 SPS in an Annex B byte string."""
    for m in re.finditer(b"\x00\x00\x01", annexb):
        i = m.end()
        if i + 3 < len(annexb) and annexb[i] & 0x1F == 7:
            return annexb[i + 1], annexb[i + 3]
    return None


def nal_types(annexb: bytes) -> list[int]:
    """NAL unit types in an Annex B byte string, in order."""
    return [annexb[m.end()] & 0x1F for m in re.finditer(b"\x00\x00\x01", annexb) if m.end() < len(annexb)]


def first_packet_annexb(path: str | os.PathLike[str], *, seek: Sequence[str] = ()) -> bytes:
    """The first video packet (with its parameter sets in band) as Annex B bytes."""
    proc = run_ffmpeg([*seek, "-i", str(path), "-map", "0:v:0", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb",
                       "-frames:v", "1", "-f", "h264", "-"], timeout_s=60.0, what=f"reading the first packet of {path}")
    return proc.stdout


def stream_params(path: str | os.PathLike[str]) -> StreamParams | None:
    """The first video stream's parameters (profile and level for H.264); None when unknown."""
    proc = run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-frames:v", "0", "-f", "null", "-"], timeout_s=60.0,
                      what=f"reading the stream parameters of {path}")
    params = parse_stream_params(proc.stderr.decode("utf-8", "replace"))
    if params is None or params.codec != "h264":
        return params
    fields = sps_fields(first_packet_annexb(path))
    if fields is None:
        return params
    return dataclasses.replace(params, profile_idc=fields[0], level_idc=fields[1])


def seek_arg(ticks: int, params: StreamParams) -> list[str]:
    """``-ss T`` (an input option) aimed at an absolute stream time, rounded up to the microsecond.

    ``-ss`` counts from the container's start time, which ffmpeg holds in whole microseconds (as
    printed); rounding up, never down, keeps a seek aimed exactly at a keyframe from landing on the
    keyframe before it, and ffmpeg rounds the microseconds back to the same tick.
    """
    micros = max(0, -(-ticks * 1_000_000 // params.tb) - params.start_us)
    return ["-ss", f"{micros // 1_000_000}.{micros % 1_000_000:06d}"]


def keyframe_ticks(path: str | os.PathLike[str], start_s: float, end_s: float, params: StreamParams) -> list[int]:
    """Presentation times (stream ticks, absolute) of the keyframes in ``[start_s, end_s]`` (file times)."""
    begin = max(0.0, start_s - 0.5)
    args = ["-copyts", "-ss", f"{begin:.6f}", "-t", f"{end_s - begin + 1.0:.6f}", "-skip_frame", "nokey",
            "-i", str(path), "-map", "0:v:0", "-an", "-sn", "-vf", "showinfo", "-fps_mode", "passthrough",
            "-f", "null", "-"]
    proc = run_ffmpeg(args, timeout_s=max(60.0, 2.0 * (end_s - begin)), what=f"finding keyframes of {path}")
    err = proc.stderr
    tb = _TB.search(err)
    if tb is None or int(tb.group(1)) != 1 or int(tb.group(2)) != params.tb:
        log.info("keyframe listing of %s came in an unexpected time base; no exact keyframe times", path)
        return []
    origin = params.start_us / 1e6
    lo, hi = (start_s + origin) * params.tb - 0.5, (end_s + origin) * params.tb + 0.5
    return sorted({v for v in (int(x) for x in _PTS.findall(err)) if lo <= v <= hi})


def parse_framecrc(text: str) -> tuple[int | None, list[Packet]]:
    """``(time base ticks per second, packets)`` of stream 0 in ``framecrc`` output."""
    tb = _CRC_TB.search(text)
    packets = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 6 or fields[0] != "0":
            continue
        flags = next((int(f[2:], 16) for f in fields[6:] if f.startswith("F=")), 1)
        packets.append(Packet(int(fields[1]), int(fields[2]), int(fields[3]), int(fields[4]), fields[5],
                              bool(flags & 1)))
    return (int(tb.group(2)) if tb and tb.group(1) == "1" else None), packets


def packet_list(path: str | os.PathLike[str], *, bsf: str | None = None) -> tuple[int | None, list[Packet]]:
    """Every video packet of ``path`` in decode order (stream copy, nothing decoded)."""
    extra = ["-bsf:v", bsf] if bsf else []
    proc = run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-c:v", "copy", *extra, "-f", "framecrc", "-"],
                      timeout_s=300.0, what=f"listing the packets of {path}")
    return parse_framecrc(proc.stdout.decode("ascii", "replace"))


def reorder_delay(packets: Sequence[Packet], step: int) -> int:
    """Frames by which decode order runs ahead of presentation order (0 without B-frames)."""
    if not packets:
        return 0
    first = min(p.pts for p in packets)
    return max(0, max(i - (p.pts - first) // step for i, p in enumerate(packets)))

"""Crafted media for the adversarial suite: real files whose headers lie, made with ffmpeg then patched.

Consumes an output path and the lie to tell; produces a small file ffmpeg reads without complaint:

- ``lying_mkv``: a Matroska file whose Segment Info ``Duration`` (EBML id ``0x4489``, a big-endian
  float in units of ``TimestampScale``, 1 ms as ffmpeg writes it; Matroska spec, RFC 9559 §5.1.2.2)
  claims ``claimed_s`` seconds — the header that made a 7 MB file cost 24 GB;
- ``lying_mp4``: an MP4 whose ``mvhd`` and ``mdhd`` durations (ISO/IEC 14496-12 §8.2.2 and §8.4.2,
  version 0: 32-bit timescale then duration) claim ``claimed_s`` (at most 2³²−1 timescale units);
- ``lying_wav``: a WAV whose ``data`` chunk size claims ~4 GiB of samples after a few seconds of sound;
- ``timestamp_jump_mkv``: a Matroska file whose *packets* jump ``jump_s`` seconds ahead halfway (the
  header is honest, the stream is not).

Each holds ``real_s`` seconds of a tone (and a tiny test picture for the containers with video).
"""

from __future__ import annotations

import struct
from pathlib import Path

from detector.ffmpeg import run_ffmpeg

_MKV_DURATION = b"\x44\x89"
_MKV_TIMESTAMP_SCALE = b"\x2a\xd7\xb1"


def _source(real_s: float, video: bool) -> list[str]:
    args = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={real_s:g}"]
    if video:
        args += ["-f", "lavfi", "-i", f"testsrc2=size=160x90:rate=10:duration={real_s:g}"]
    return args


def lying_mkv(path: Path, claimed_s: float, *, real_s: float = 6.0) -> Path:
    """A Matroska file holding ``real_s`` s whose header claims ``claimed_s`` s (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(["-y", "-loglevel", "error", *_source(real_s, True), "-c:v", "libx264", "-preset", "ultrafast",
                "-c:a", "aac", "-shortest", str(path)], what="making a Matroska sample")
    data = bytearray(path.read_bytes())
    scale_ns = _mkv_timestamp_scale(data)
    at = _find_element(data, _MKV_DURATION)
    size = data[at + 2] & 0x7F  # a one-byte EBML size: 0x84 or 0x88
    value = claimed_s * 1e9 / scale_ns
    data[at + 3: at + 3 + size] = struct.pack(">d" if size == 8 else ">f", value)
    path.write_bytes(bytes(data))
    return path


def timestamp_jump_mkv(path: Path, jump_s: float, *, real_s: float = 6.0) -> Path:
    """A Matroska file whose audio packets jump ``jump_s`` seconds ahead after the first half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    half = real_s / 2.0
    run_ffmpeg(["-y", "-loglevel", "error", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={real_s:g}",
                "-af", f"asetpts='if(gte(T,{half:g}),PTS+{jump_s:g}/TB,PTS)'", "-c:a", "libopus", str(path)],
               what="making a Matroska sample with a timestamp jump")
    return path


def lying_mp4(path: Path, claimed_s: float, *, real_s: float = 6.0) -> Path:
    """An MP4 holding ``real_s`` s whose ``mvhd`` claims ``claimed_s`` s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(["-y", "-loglevel", "error", *_source(real_s, True), "-c:v", "libx264", "-preset", "ultrafast",
                "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(path)], what="making an MP4 sample")
    data = bytearray(path.read_bytes())
    patched = 0
    for box in (b"mvhd", b"mdhd"):  # the movie's duration and each track's (version 0 boxes)
        at = data.find(box)
        while at >= 0:
            if data[at + 4] == 0:
                timescale = struct.unpack(">I", data[at + 16: at + 20])[0]
                data[at + 20: at + 24] = struct.pack(">I", min(int(claimed_s * timescale), 0xFFFFFFFF))
                patched += 1
            at = data.find(box, at + 4)
    if not patched:
        raise ValueError(f"{path}: no version-0 mvhd or mdhd box")
    path.write_bytes(bytes(data))
    return path


def lying_wav(path: Path, *, real_s: float = 6.0) -> Path:
    """A 16 kHz mono WAV holding ``real_s`` s whose ``data`` chunk (and RIFF size) claim ~4 GiB."""
    path.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(["-y", "-loglevel", "error", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={real_s:g}",
                "-c:a", "pcm_s16le", str(path)], what="making a WAV sample")
    data = bytearray(path.read_bytes())
    at = data.find(b"data")
    if at < 0:
        raise ValueError(f"{path}: no data chunk")
    data[4:8] = struct.pack("<I", 0xFFFFFFF0)
    data[at + 4: at + 8] = struct.pack("<I", 0xFFFFFFE0)
    path.write_bytes(bytes(data))
    return path


def _mkv_timestamp_scale(data: bytearray) -> float:
    at = data.find(_MKV_TIMESTAMP_SCALE)
    if at < 0:
        return 1_000_000.0  # the default when the element is absent
    size = data[at + 3] & 0x7F
    return float(int.from_bytes(data[at + 4: at + 4 + size], "big"))


def _find_element(data: bytearray, element_id: bytes) -> int:
    start = 0
    while True:
        at = data.find(element_id, start)
        if at < 0:
            raise ValueError("no Duration element in the Matroska header")
        if data[at + 2] in (0x84, 0x88):  # a float of 4 or 8 bytes follows
            return at
        start = at + 1

"""Render stage, encoders: which H.264 encoder to use and the ffmpeg arguments for it.

Consumes an encoder preference (``auto`` or a name) and a plan's rate needs; produces the encoder
name and its argv part. Hardware encoders (NVENC, AMF, VAAPI) are used only when ffmpeg lists them
(``ffmpeg -encoders``) *and* a one-frame test encode succeeds (a listed encoder often lacks its
driver or device); ``libx264`` otherwise. With a size limit, a video bitrate cap comes from the
limit, the duration and the audio bitrate with a safety margin, enforced by a VBV buffer (libx264
runs capped CRF: quality-based, never above the cap; the hardware encoders run VBR at the cap).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess

from detector import children
from detector.errors import MediaError
from detector.ffmpeg import ffmpeg_path, run_ffmpeg, stderr_tail
from detector.render.errors import RenderError

log = logging.getLogger(__name__)

CPU_ENCODER = "libx264"
HW_ENCODERS = ("h264_nvenc", "h264_amf", "h264_vaapi")
"""Tried in this order by ``auto``."""
KNOWN_ENCODERS = (CPU_ENCODER, *HW_ENCODERS)
ENCODER_CHOICES = ("auto", *KNOWN_ENCODERS)
VAAPI_DEVICE = os.environ.get("HIGHLIGHTS_VAAPI_DEVICE", "/dev/dri/renderD128")
DEFAULT_PRESETS = {"libx264": "veryfast", "h264_nvenc": "p5", "h264_amf": "balanced", "h264_vaapi": None}
SIZE_MARGIN = 0.92
"""Share of the size limit the first attempt aims at (container overhead, rate-control error)."""
MIN_VIDEO_KBPS = 150
VBV_S = 1.0
"""Rate-control buffer, in seconds at the capped bitrate."""
X264_CRF = 20
"""libx264 quality: easy content stays well under the cap, hard content is held to it."""
_ENCODER_LINE = re.compile(r"^\s*V[A-Z.]{5}\s+(\S+)", re.MULTILINE)


@functools.lru_cache(maxsize=1)
def listed_encoders() -> frozenset[str]:
    """Video encoder names this ffmpeg was built with."""
    proc = run_ffmpeg(["-encoders"], timeout_s=30.0, what="listing ffmpeg's encoders")
    return frozenset(_ENCODER_LINE.findall(proc.stdout.decode("utf-8", "replace")))


def global_args(encoder: str) -> list[str]:
    """Arguments before the inputs (VAAPI needs its device opened first)."""
    return ["-vaapi_device", VAAPI_DEVICE] if encoder == "h264_vaapi" else []


def upload_filter(encoder: str) -> str | None:
    """The filter that moves frames to the encoder's device, appended to the video graph."""
    return "format=nv12,hwupload" if encoder == "h264_vaapi" else None


@functools.lru_cache(maxsize=8)
def encoder_works(encoder: str) -> bool:
    """True when a one-frame test encode with ``encoder`` succeeds on this machine."""
    upload = upload_filter(encoder)
    vf = ["-vf", upload] if upload else []
    argv = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", *global_args(encoder),
            "-f", "lavfi", "-i", "color=c=gray:s=256x144:r=30:d=0.1", *vf, "-frames:v", "1",
            "-c:v", encoder, "-f", "null", "-"]
    try:
        proc = children.run(argv, capture_output=True, timeout=30.0)
    except subprocess.TimeoutExpired:
        log.info("test encode with %s hung; not using it", encoder)
        return False
    if proc.returncode != 0:
        log.info("test encode with %s failed: %s", encoder, stderr_tail(proc.stderr, 2).replace("\n", " | "))
    return proc.returncode == 0


def choose_encoder(preference: str = "auto") -> str:
    """The encoder to use: ``auto`` takes the first working hardware encoder, else libx264."""
    listed = listed_encoders()
    if preference == "auto":
        for name in HW_ENCODERS:
            if name in listed and encoder_works(name):
                log.info("using hardware encoder %s", name)
                return name
        if CPU_ENCODER not in listed:
            raise RenderError("This ffmpeg has no libx264 and no working hardware H.264 encoder.",
                              hint="Install an ffmpeg built with libx264 (the imageio-ffmpeg wheel has it).")
        return CPU_ENCODER
    if preference not in KNOWN_ENCODERS:
        raise RenderError(f"Unknown encoder {preference!r}.", hint=f"Use one of {', '.join(ENCODER_CHOICES)}.")
    if preference not in listed:
        raise RenderError(f"This ffmpeg was built without the {preference} encoder.",
                          hint="Use --encoder auto or libx264.")
    if preference != CPU_ENCODER and not encoder_works(preference):
        raise RenderError(f"The {preference} encoder is listed but a test encode failed (no device or driver?).",
                          hint="Use --encoder auto to fall back to libx264.")
    return preference


def target_video_kbps(limit_bytes: int, duration_s: float, audio_kbps: int, margin: float = SIZE_MARGIN) -> int:
    """Video bitrate cap that fits ``duration_s`` of video plus audio into ``margin`` × ``limit_bytes``.

    The VBV buffer holds :data:`VBV_S` seconds at this rate, and rate control may spend it on top of
    the average, so the video budget is spread over ``duration_s + VBV_S``.
    """
    if duration_s <= 0:
        raise RenderError("A clip must be longer than zero seconds.")
    budget_kbit = limit_bytes * 8 * margin / 1000.0 - (audio_kbps + 8) * duration_s  # ~8 kb/s of MP4 overhead
    video = int(budget_kbit / (duration_s + VBV_S))
    if video < MIN_VIDEO_KBPS:
        raise RenderError(
            f"A {limit_bytes / 1048576:.1f} MiB limit leaves {max(video, 0)} kb/s of video for {duration_s:.0f} s, "
            f"below the {MIN_VIDEO_KBPS} kb/s that still looks like video.",
            hint="Raise the size limit (--size-mib) or render a shorter clip.")
    return video


def video_args(encoder: str, *, kbps: int | None, fps: float | None, preset: str | None = None) -> list[str]:
    """Codec arguments: size-targeted bitrate with a VBV cap when ``kbps`` is set, else constant quality."""
    preset = preset or DEFAULT_PRESETS.get(encoder)
    gop = ["-g", str(max(1, round(2 * fps)))] if fps else []
    args = ["-c:v", encoder, *gop]
    if encoder == "libx264":
        args += ["-preset", preset or "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p"]
        args += ["-crf", str(X264_CRF)]  # capped CRF: quality-based, never above the size-derived rate
        args += ["-maxrate", f"{kbps}k", "-bufsize", f"{round(VBV_S * kbps)}k"] if kbps else []
    elif encoder == "h264_nvenc":
        args += ["-preset", preset or "p5", "-pix_fmt", "yuv420p", "-rc", "vbr"]
        args += ["-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{round(VBV_S * kbps)}k"] if kbps else ["-cq", "23"]
    elif encoder == "h264_amf":
        args += ["-quality", preset or "balanced", "-pix_fmt", "yuv420p"]
        args += (["-rc", "vbr_peak", "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{round(VBV_S * kbps)}k"]
                 if kbps else ["-rc", "cqp", "-qp_i", "22", "-qp_p", "24"])
    elif encoder == "h264_vaapi":
        args += (["-rc_mode", "VBR", "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{round(VBV_S * kbps)}k"]
                 if kbps else ["-rc_mode", "CQP", "-qp", "23"])
    else:  # pragma: no cover - choose_encoder only returns known names
        raise MediaError(f"no arguments known for encoder {encoder}")
    return args


def audio_args(kbps: int) -> list[str]:
    return ["-c:a", "aac", "-b:a", f"{kbps}k", "-ar", "48000", "-ac", "2"]

"""Sources stage: stream a media file's audio as 16 kHz mono float32 chunks.

Consumes any file ffmpeg can read (the first audio stream); produces an iterator of ``np.float32``
arrays of ``chunk_s`` seconds each (the last one shorter) for the audio signal. ffmpeg decodes,
downmixes and resamples into a pipe as 16-bit samples, read into one reused buffer and converted
to a fresh float32 array per chunk, so memory stays at a couple of chunks whatever the VOD's length. ffmpeg's stderr is drained by a thread
(a chatty ffmpeg never blocks), and ffmpeg is always killed and reaped when the consumer stops early,
aborts or fails.
"""

from __future__ import annotations

import collections
import logging
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from detector import children
from detector.errors import Cancelled, MediaError
from detector.ffmpeg import ffmpeg_path
from detector.records import AbortCheck, ProgressCallback
from detector.sources.media import check_media_path, explain_unreadable, max_media_s, too_long

log = logging.getLogger(__name__)

STAGE = "decode audio"
"""The stage name passed to progress callbacks."""
EXIT_TIMEOUT_S = 30.0
"""How long ffmpeg may take to exit after its output ended."""
INT16_SCALE = np.float32(1.0 / 32768.0)
_PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031  # Linux fcntl: enlarge the pipe so ffmpeg blocks less often


def _decode_args(path: str | Path, rate: int) -> list[str]:
    return [ffmpeg_path(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
            "-vn", "-sn", "-dn", "-i", str(path),
            "-map", "0:a:0", "-ac", "1", "-ar", str(int(rate))]


def decode_argv(path: str | Path, rate: int = 16000) -> list[str]:
    """The full argv (executable first) decoding ``path``'s audio to raw s16le mono on stdout.

    16-bit samples halve the bytes through the pipe (measured: about a third of the pipe's cost
    over the floor) and keep 96 dB of dynamic range, far more than loudness features need."""
    return [*_decode_args(path, rate), "-c:a", "pcm_s16le", "-f", "s16le", "-"]


def decode_floor_argv(path: str | Path, rate: int = 16000) -> list[str]:
    """The full argv (executable first) of the same decode to float to the null muxer: the
    benchmark floor (ffmpeg's decode, downmix and resample, with no output written at all)."""
    return [*_decode_args(path, rate), "-c:a", "pcm_f32le", "-f", "null", "-"]


class _StderrTail:
    """Reads a pipe to its end in a daemon thread, keeping the last lines."""

    def __init__(self, stream: IO[bytes], keep: int = 40) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=keep)
        self._stream = stream
        self._thread = threading.Thread(target=self._drain, name="ffmpeg-stderr", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            for raw in iter(self._stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    self._lines.append(line)
        except (OSError, ValueError):  # pipe closed under us while killing ffmpeg
            pass

    def text(self, timeout_s: float = 5.0) -> str:
        self._thread.join(timeout_s)
        return "\n".join(self._lines)


def _fill(stream: IO[bytes], view: memoryview) -> int:
    """Read into ``view`` until it is full or the stream ends; the number of bytes read."""
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def _enlarge_pipe(stream: IO[bytes]) -> None:
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)
    except (ImportError, OSError, ValueError):
        pass


def _failure(path: Path, returncode: int, stderr: str) -> MediaError:
    if "matches no streams" in stderr:
        return MediaError(f"{path} has no audio stream; run with --chat only, or pass a file with the "
                          "VOD's audio.")
    if "Error opening input" in stderr:
        return explain_unreadable(path, stderr)
    tail = "\n".join(stderr.splitlines()[-6:]) or "(ffmpeg printed nothing)"
    return MediaError(f"Decoding the audio of {path} failed (ffmpeg exit {returncode}): {tail}",
                      hint="Check that the file is complete and plays; download it again if it was cut off.")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:  # pragma: no cover - a killed process that will not die
        log.warning("ffmpeg (pid %s) did not exit after kill", proc.pid)


def iter_audio_chunks(
    path: str | Path,
    *,
    rate: int = 16000,
    chunk_s: float = 30.0,
    abort: AbortCheck | None = None,
    progress: ProgressCallback | None = None,
    total_s: float | None = None,
    max_s: float | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``path``'s first audio stream as mono float32 at ``rate`` Hz, ``chunk_s`` s per chunk.

    Every chunk is a new array of exactly ``round(chunk_s * rate)`` samples except the last, which
    holds what remains. ``progress("decode audio", seconds_done, total_s)`` is called after each
    chunk; ``abort`` is checked before each chunk and stops ffmpeg and raises ``Cancelled``. A file
    without audio, a missing or unreadable file raise ``MediaError``; one that decodes to more than
    ``max_s`` seconds (default: the cap on VOD length, ``media.max_media_s``) raises ``MediaTooLong``
    as soon as it passes it, whatever its header said.
    """
    if rate <= 0 or chunk_s <= 0:
        raise ValueError(f"rate ({rate}) and chunk_s ({chunk_s}) must be positive")
    path = Path(path)
    check_media_path(path)
    chunk_samples = max(1, round(chunk_s * rate))
    cap_s = max_media_s() if max_s is None else float(max_s)
    argv = decode_argv(path, rate)
    log.debug("decoding audio: %s", argv)
    try:
        proc = children.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, bufsize=0)
    except OSError as exc:
        raise MediaError(f"Could not start ffmpeg to decode {path}: {exc}") from None
    assert proc.stdout is not None and proc.stderr is not None
    stdout = proc.stdout
    _enlarge_pipe(stdout)
    stderr = _StderrTail(proc.stderr)
    samples_done = 0
    raw = np.empty(chunk_samples, dtype=np.int16)  # reused: each yielded chunk is a new float array
    try:
        while True:
            if abort is not None and abort():
                raise Cancelled(f"Decoding the audio of {path} was cancelled.")
            got = _fill(stdout, raw.data.cast("B")) // 2
            if got == 0:
                break
            samples_done += got
            if samples_done > cap_s * rate:
                raise too_long(f"The audio of {path}", samples_done / rate, cap_s)
            if progress is not None:
                progress(STAGE, samples_done / rate, total_s)
            chunk = raw[:got].astype(np.float32)
            chunk *= INT16_SCALE
            yield chunk
            del chunk  # hold no chunk while the next one is read: the consumer owns it now
            if got < chunk_samples:
                break
        try:
            returncode = proc.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise MediaError(f"ffmpeg did not exit after decoding {path}.") from None
        text = stderr.text()
        if returncode != 0:
            raise _failure(path, returncode, text)
        if text:
            log.warning("ffmpeg reported problems while decoding %s: %s", path, text.splitlines()[-1])
        if samples_done == 0:
            log.warning("%s has an audio stream but it decoded to no samples", path)
    finally:
        _stop(proc)
        stdout.close()
        stderr.text()
        proc.stderr.close()

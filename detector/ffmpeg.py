"""Finding and running ffmpeg.

ffmpeg comes from PATH or, failing that, from the ``imageio-ffmpeg`` wheel's bundled binary.
Commands are argv lists (never a shell), always with a timeout, and a failure keeps ffmpeg's
stderr tail in the raised error.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence

from detector import children
from detector.errors import FFmpegNotFound, MediaError

DEFAULT_TIMEOUT_S = 600.0


@functools.lru_cache(maxsize=1)
def ffmpeg_path() -> str:
    """The ffmpeg executable: ``$HIGHLIGHTS_FFMPEG``, then PATH, then imageio-ffmpeg's binary."""
    override = os.environ.get("HIGHLIGHTS_FFMPEG")
    if override:
        if shutil.which(override) or os.access(override, os.X_OK):
            return override
        raise FFmpegNotFound(
            f"HIGHLIGHTS_FFMPEG={override} is not an executable.",
            hint="Point it at an ffmpeg binary or unset it.",
        )
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        raise FFmpegNotFound(
            "ffmpeg was not found on PATH and the imageio-ffmpeg package is not installed.",
            hint="Install ffmpeg, or `pip install imageio-ffmpeg`.",
        ) from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise FFmpegNotFound(f"imageio-ffmpeg has no usable ffmpeg binary: {exc}",
                             hint="Install ffmpeg on PATH.") from None


def stderr_tail(stderr: bytes | str, lines: int = 8) -> str:
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    return "\n".join(text.strip().splitlines()[-lines:])


def run_ffmpeg(args: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S,
               what: str = "ffmpeg") -> subprocess.CompletedProcess[bytes]:
    """Run ``ffmpeg -hide_banner -nostdin <args>``; raise MediaError with stderr on failure."""
    argv = [ffmpeg_path(), "-hide_banner", "-nostdin", *args]
    try:
        proc = children.run(argv, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise MediaError(f"{what} took longer than {timeout_s:.0f} s and was stopped.") from None
    if proc.returncode != 0:
        raise MediaError(f"{what} failed (exit {proc.returncode}): {stderr_tail(proc.stderr)}")
    return proc


def feed_ffmpeg(argv: Sequence[str], chunks: Iterable[bytes | memoryview] | None, *, timeout_s: float,
                what: str = "ffmpeg") -> None:
    """Run the full ``argv`` (executable first) writing ``chunks`` to its stdin (raw frames or samples
    for ``-i pipe:0``; None: no stdin), wait for it, and raise MediaError with stderr on failure.
    ffmpeg is killed if anything goes wrong on our side, so no half-run encoder is left behind."""
    with tempfile.TemporaryFile() as err:
        proc = children.popen(argv, stdin=subprocess.PIPE if chunks is not None else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
        try:
            if chunks is not None:
                assert proc.stdin is not None
                try:
                    for chunk in chunks:
                        proc.stdin.write(chunk)
                    proc.stdin.close()
                except BrokenPipeError:  # ffmpeg stopped reading: its exit code and stderr say why
                    pass
            returncode = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise MediaError(f"{what} took longer than {timeout_s:.0f} s and was stopped.") from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        if returncode != 0:
            raise MediaError(f"{what} failed (exit {returncode}): {stderr_tail(err.read())}")

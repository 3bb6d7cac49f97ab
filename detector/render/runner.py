"""Render stage, running ffmpeg: progress, abort and atomic output.

Consumes an ffmpeg argv (inputs, filters, codecs; no output) and the output path; produces the
finished file. ffmpeg writes to a temporary file beside the output, reports ``-progress`` lines on
a pipe (read by a thread; the caller's progress callback runs on the caller's thread), and the
temporary file is renamed over the output only after ffmpeg exits 0. An abort kills ffmpeg at
once (SIGKILL) and, like any failure, removes the temporary file: no half-written file is left.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from detector import children
from detector.errors import Cancelled, MediaError
from detector.ffmpeg import ffmpeg_path, stderr_tail
from detector.records import AbortCheck, ProgressCallback
from detector.render.errors import RenderError

log = logging.getLogger(__name__)

POLL_S = 0.05
"""How often the abort check runs while ffmpeg works."""


def temp_path_for(out: Path) -> Path:
    """A hidden temporary name beside ``out`` that keeps its extension (ffmpeg picks the muxer by it)."""
    return out.with_name(f".{out.stem}.{secrets.token_hex(4)}.part{out.suffix}")


def discard(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:  # pragma: no cover - nothing more to do than say so
        log.warning("could not remove temporary file %s: %s", path, exc)


class _ProgressReader(threading.Thread):
    """Reads ``key=value`` lines of ``-progress pipe:1``; keeps the latest output time in seconds."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.out_time_s = 0.0
        self.ended = False

    def run(self) -> None:
        for raw in self.stream:
            key, _, value = raw.decode("ascii", "replace").strip().partition("=")
            if key in ("out_time_us", "out_time_ms"):  # both are microseconds in ffmpeg
                try:
                    self.out_time_s = max(self.out_time_s, int(value) / 1e6)
                except ValueError:
                    pass
            elif key == "progress" and value == "end":
                self.ended = True


def parse_progress(lines: Sequence[str]) -> float:
    """The last ``out_time_us`` of ``-progress`` output, in seconds (for tests and tools)."""
    latest = 0.0
    for line in lines:
        key, _, value = line.strip().partition("=")
        if key in ("out_time_us", "out_time_ms") and value.lstrip("-").isdigit():
            latest = max(latest, int(value) / 1e6)
    return latest


def run_to_file(args: Sequence[str], out: str | os.PathLike[str], *, total_s: float | None, stage: str = "render",
                progress: ProgressCallback | None = None, abort: AbortCheck | None = None,
                timeout_s: float = 3600.0, what: str = "ffmpeg") -> Path:
    """Run ``ffmpeg <args> <temp>`` and move the result to ``out``; return ``out``.

    Raises ``Cancelled`` when ``abort()`` turns true (ffmpeg is killed at once), ``MediaError`` with
    ffmpeg's stderr tail when it fails, ``RenderError`` when it runs past ``timeout_s``.
    """
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RenderError(f"Cannot create the output folder {out.parent}: {exc.strerror or exc}.") from None
    tmp = temp_path_for(out)
    argv = [ffmpeg_path(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
            "-progress", "pipe:1", *args, "-y", str(tmp)]
    log.debug("ffmpeg: %s", " ".join(argv))
    with tempfile.TemporaryFile() as err:
        proc = children.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        reader = _ProgressReader(proc.stdout)
        reader.start()
        try:
            _wait(proc, reader, total_s=total_s, stage=stage, progress=progress, abort=abort,
                  timeout_s=timeout_s, what=what)
            if proc.returncode != 0:
                err.seek(0)
                raise MediaError(f"{what} failed (exit {proc.returncode}): {stderr_tail(err.read())}")
            os.replace(tmp, out)
        except BaseException:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            discard(tmp)
            raise
        finally:
            reader.join(timeout=5.0)
            if proc.stdout is not None:
                proc.stdout.close()
    return out


def _wait(proc: subprocess.Popen, reader: _ProgressReader, *, total_s: float | None, stage: str,
          progress: ProgressCallback | None, abort: AbortCheck | None, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    reported = -1.0
    while True:
        if abort is not None and abort():
            proc.kill()
            proc.wait()
            log.info("%s aborted; ffmpeg (pid %d) killed", what, proc.pid)
            raise Cancelled(f"{what} was cancelled.")
        try:
            proc.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            pass
        done = reader.out_time_s if total_s is None else min(reader.out_time_s, total_s)
        if progress is not None and done != reported:
            progress(stage, done, total_s)
            reported = done
        if proc.returncode is not None:
            return
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RenderError(f"{what} took longer than {timeout_s:.0f} s and was stopped.")

"""Chaos bench and adversarial tests: real worker processes, their ffmpeg children, and what they leave.

Consumes a storage URL, an artifact folder and a scratch temp folder; produces running ``highlights
worker`` processes (``start_worker``), their children as ``/proc`` shows them (``children_of``,
``wait_for_child``), the processes still alive among some pids (``alive``), and the leftovers a dead
attempt can leave (``leftovers_in``: ``.part`` files, ``.partial-*`` downloads, scratch folders).
Linux only (``/proc``). Waits poll a condition with a deadline; nothing sleeps as synchronisation.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from detector.scratch import leftovers

POLL_S = 0.005


@dataclass(frozen=True, slots=True)
class Proc:
    pid: int
    argv: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.argv)


def worker_env(scratch_tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a bench worker: its own temp folder (scratch folders land there), no storage
    or artifact variables from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if k not in ("HIGHLIGHTS_STORAGE_URL", "HIGHLIGHTS_ARTIFACTS")}
    scratch_tmp.mkdir(parents=True, exist_ok=True)
    env["TMPDIR"] = str(scratch_tmp)
    env.update(extra or {})
    return env


def start_worker(url: str, artifacts: Path, scratch_tmp: Path, log_file: Path, *, lease_s: float | None = None,
                 grace_s: float = 0.0, once: bool = False, verbosity: int = 1, extra: Sequence[str] = (),
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``highlights worker`` as a child process, its stderr and stdout in ``log_file``."""
    argv = [sys.executable, "-m", "highlights", *(["-" + "v" * verbosity] if verbosity else []), "worker",
            "--storage", url, "--artifacts", str(artifacts), "--poll-interval", "0.2", "--grace", f"{grace_s:g}",
            *(["--lease", f"{lease_s:g}"] if lease_s is not None else []), *(["--once"] if once else []), *extra]
    out = log_file.open("ab")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=env if env is not None else worker_env(scratch_tmp))
    finally:
        out.close()


def children_of(pid: int) -> list[Proc]:
    """The live direct children of ``pid`` with their argv (zombies left out)."""
    found: list[Proc] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) != pid or fields[0] == "Z":
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = tuple(a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a)
        except (OSError, ValueError, IndexError):
            continue
        found.append(Proc(int(entry.name), argv))
    return found


def wait_for_child(pid: int, wanted: Callable[[Proc], bool], timeout_s: float,
                   alive: Callable[[], bool] | None = None) -> list[Proc]:
    """Poll until ``pid`` has a child ``wanted`` accepts; those children ([] after ``timeout_s``, or as soon
    as ``alive()`` says the parent is gone)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        hits = [c for c in children_of(pid) if wanted(c)]
        if hits:
            return hits
        if alive is not None and not alive():
            return []
        time.sleep(POLL_S)
    return []


def alive(pids: Sequence[int]) -> list[int]:
    """Those of ``pids`` that are still running (not zombies)."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if stat[stat.rindex(")") + 2:].split()[0] != "Z":
            out.append(pid)
    return out


def wait_gone(pids: Sequence[int], timeout_s: float) -> list[int]:
    """Wait up to ``timeout_s`` for ``pids`` to end; those still running then."""
    deadline = time.monotonic() + timeout_s
    left = alive(pids)
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = alive(left)
    return left


def kill_all(pids: Sequence[int]) -> None:
    """SIGKILL ``pids`` (a bench cleaning up after counting orphans)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def leftovers_in(artifacts: Path, scratch_tmp: Path) -> list[Path]:
    """What dead attempts can leave: ``.part`` files and ``.partial-*`` folders under the artifacts, and
    ``highlights-{smartcut,reel,render}-*`` folders in the workers' temp folder."""
    return leftovers(artifacts / "jobs", scratch_tmp)


def stop(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[int | None, float]:
    """SIGTERM ``proc`` and wait; (its exit status or None if it had to be killed, seconds it took)."""
    t0 = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code: int | None = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = None
    return code, time.monotonic() - t0

"""Child processes that die with their parent: every ffmpeg the detector starts goes through here.

Consumes an argv and ``subprocess`` options; produces a ``Popen`` (``popen``) or a finished
``CompletedProcess`` (``run``). Between fork and exec each child asks Linux for a parent-death signal
(``prctl(PR_SET_PDEATHSIG, SIGKILL)``, prctl(2)), so a worker that is SIGKILLed or OOM-killed takes its
ffmpeg with it instead of leaving it to finish a hidden ``.part`` file nobody will use. The child then
checks that its parent is still the process that started it (the parent may have died between fork
and prctl), and exits at once if not.

Linux sends the signal when the *thread* that started the child ends, not only the process: start
children from a thread that outlives them (a job's executor thread, a generator's consumer), as every
caller here does, and wait for them there. Elsewhere (no prctl) children are started plainly.
Supervised worker processes are also process-group leaders (``highlights.cmd_worker``), so their
parent can kill a dead worker's whole group.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal the calling process gets when its parent thread dies (linux/prctl.h)."""


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return None


_PRCTL = _load_prctl()


def _die_with_parent(parent_pid: int) -> None:  # runs in the child, between fork and exec
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(127)


def owned(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` for ``subprocess`` plus the parent-death signal (see the module docstring)."""
    if _PRCTL is None or "preexec_fn" in options:
        return options
    return {**options, "preexec_fn": functools.partial(_die_with_parent, os.getpid())}


def popen(argv: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(argv, **options)`` for a child that dies with this process."""
    return subprocess.Popen(list(argv), **owned(options))


def run(argv: Sequence[str], *, timeout: float | None, **options: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run`` (``check=False``) for a child that dies with this process; killed on timeout."""
    return subprocess.run(list(argv), timeout=timeout, check=False, **owned(options))


def follow_parent(sig: int = signal.SIGTERM, *, parent_pid: int | None = None) -> None:
    """Make *this* process get ``sig`` when its parent ends (a supervised worker: SIGTERM, so it still
    releases its job); exit at once when the parent is already gone. ``parent_pid``: the parent as the
    caller knew it (default: the current parent)."""
    expected = os.getppid() if parent_pid is None else parent_pid
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != expected:
        os._exit(1)


def kill_group(pgid: int) -> bool:
    """SIGKILL every process left in process group ``pgid`` (a dead worker's ffmpeg); whether any was there."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def has_parent_death_signal() -> bool:
    """Whether children started here get the parent-death signal on this platform."""
    return _PRCTL is not None

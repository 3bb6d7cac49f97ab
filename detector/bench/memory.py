"""Benchmark memory: peak RSS of a stage's process and of the processes it starts (ffmpeg).

Consumes nothing but the running process; produces its own peak resident set (``VmHWM``) and the
largest ``VmHWM`` seen among its child processes while the sampler ran. ``RUSAGE_CHILDREN``'s ``ru_maxrss`` is
not used for this: a child started by fork/vfork inherits the parent's high-water mark before it
execs ffmpeg, so a large Python parent (e.g. with torch imported) makes ffmpeg look as large as
itself. ``VmHWM`` is read only once a child runs a different program than this one (after exec),
and it only grows, so sampling every few tens of milliseconds catches the peak of any child that
lives longer than that.
"""

from __future__ import annotations

import glob
import os
import threading
from pathlib import Path
from typing import Self

INTERVAL_S = 0.02


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        text = _read(path)
        if text:
            found += [int(p) for p in text.split()]
    return found


def _hwm_kb(pid: int) -> int | None:
    status = _read(f"/proc/{pid}/status")
    if not status:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def own_peak_kb() -> int:
    """This process's peak RSS in KiB: ``VmHWM`` of its own memory map.

    Not ``ru_maxrss``: Linux carries the high-water mark across exec, so a child started from a
    large parent (the benchmark's own process) would report the parent's size as its own.
    """
    hwm = _hwm_kb(os.getpid())
    if hwm is not None:
        return hwm
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


class ChildPeakRss:
    """A daemon thread sampling the peak RSS of this process's children (Linux /proc)."""

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self._interval = interval_s
        self._pid = os.getpid()
        self._own_comm = _read(f"/proc/{self._pid}/comm")
        self._peaks: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="child-rss", daemon=True)

    @property
    def available(self) -> bool:
        return self._own_comm is not None

    def _sample(self) -> None:
        for child in _children(self._pid):
            comm = _read(f"/proc/{child}/comm")
            if comm is None or comm == self._own_comm:
                continue  # gone, or not yet exec'd (still shares our memory map)
            hwm = _hwm_kb(child)
            if hwm is not None and hwm > self._peaks.get(child, ("", 0))[1]:
                self._peaks[child] = (comm.strip(), hwm)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> Self:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def peak_kb(self) -> int | None:
        """Largest peak RSS of any child seen, None when none was seen (or /proc is missing)."""
        return max((kb for _comm, kb in self._peaks.values()), default=None)

    def programs(self) -> list[str]:
        return sorted({comm for comm, _kb in self._peaks.values()})

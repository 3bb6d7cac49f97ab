"""Terminal progress for long work: one tqdm bar per stage on stderr, silent with ``--quiet``.

Calls may come from any thread (the audio decoder reports from its read-ahead thread); they are
serialised here. Drawing never breaks the work: ``done`` past a stage's ``total`` (a header that
understated the length) grows the total, and any drawing failure turns the bar off with a note.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

log = logging.getLogger(__name__)


class TerminalProgress:
    """A ``ProgressCallback`` that draws a bar per stage (seconds of media, or a spinner count).

    A stage that is only announced (``done`` 0 and no ``total``) draws nothing until it reports
    progress, so quick stages leave no empty "stage: 0" bar behind."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr is not None
        self._stage: str | None = None
        self._bar: Any = None
        self._lock = threading.Lock()

    def __call__(self, stage: str, done: float, total: float | None) -> None:
        if not self.enabled:
            return
        with self._lock:
            try:
                self._draw(stage, done, total)
            except Exception as exc:  # noqa: BLE001 - a progress bar must never stop the work
                log.debug("progress bar turned off: %s", exc)
                self.enabled = False

    def _draw(self, stage: str, done: float, total: float | None) -> None:
        if total is not None and done > total:
            total = done
        if stage != self._stage:
            self._close()
            if total is None and done <= 0:  # a stage only announced (quick work with no measure): no empty bar
                return
            from tqdm import tqdm

            self._stage = stage
            self._bar = tqdm(total=round(total, 1) if total else None, desc=stage, unit="s", file=sys.stderr,
                             leave=False, dynamic_ncols=True, mininterval=0.3,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]"
                             if total else "{desc}: {n:.0f} [{elapsed}]")
        if self._bar is not None:
            if total and self._bar.total is not None and total > self._bar.total:
                self._bar.total = round(total, 1)
            self._bar.n = round(done, 1)
            self._bar.refresh()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._bar is not None:
            bar, self._bar, self._stage = self._bar, None, None
            try:
                bar.close()
            except Exception as exc:  # noqa: BLE001
                log.debug("closing the progress bar failed: %s", exc)

"""Terminal progress for long work: one tqdm bar per stage on stderr, silent with ``--quiet``."""

from __future__ import annotations

import sys
from typing import Any


class TerminalProgress:
    """A ``ProgressCallback`` that draws a bar per stage (seconds of media, or a spinner count).

    A stage that is only announced (``done`` 0 and no ``total``) draws nothing until it reports
    progress, so quick stages leave no empty "stage: 0" bar behind."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr is not None
        self._stage: str | None = None
        self._bar: Any = None

    def __call__(self, stage: str, done: float, total: float | None) -> None:
        if not self.enabled:
            return
        if stage != self._stage:
            self.close()
            if total is None and done <= 0:  # a stage only announced (quick work with no measure): no empty bar
                return
            from tqdm import tqdm

            self._stage = stage
            self._bar = tqdm(total=round(total, 1) if total else None, desc=stage, unit="s", file=sys.stderr,
                             leave=False, dynamic_ncols=True, mininterval=0.3,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]"
                             if total else "{desc}: {n:.0f} [{elapsed}]")
        if self._bar is not None:
            self._bar.n = round(done, 1)
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._stage = None

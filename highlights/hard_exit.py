"""The backstop of a worker's shutdown: a watchdog thread that ends the process when a stop overruns.

Consumes "stop by then" requests from the signal handlers (the first SIGTERM: ``--grace`` plus a margin;
a second SIGTERM or SIGINT: a moment); produces, past the earliest deadline, one WARNING line and an
immediate ``os._exit``. It runs in a thread of its own, so it fires even when the event loop is stuck
in an await whose cancellation was lost, or a job's thread never polls its abort flag (both would also
stop ``asyncio.run`` from returning, since it joins the executor's threads). The worker's ffmpeg
children die with it (``detector.children`` gives each a parent-death signal), and its job's lease
expires, so another worker runs the job again.
"""

from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger(__name__)

HARD_EXIT_CODE = 1
"""The exit status of a process the watchdog ended (a stop that did not finish cleanly)."""


class HardExit:
    """A one-shot watchdog: ``arm(after_s)`` ends the process after ``after_s`` unless it exits first."""

    def __init__(self, exit_code: int = HARD_EXIT_CODE) -> None:
        self.exit_code = exit_code
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._deadline: float | None = None

    @property
    def deadline(self) -> float | None:
        """When (``time.monotonic``) the process will be ended; None while unarmed."""
        return self._deadline

    def arm(self, after_s: float, why: str) -> None:
        """End the process ``after_s`` seconds from now (an earlier deadline already armed stays)."""
        deadline = time.monotonic() + max(after_s, 0.0)
        with self._lock:
            if self._deadline is not None and self._deadline <= deadline:
                return
            if self._timer is not None:
                self._timer.cancel()
            self._deadline = deadline
            self._timer = threading.Timer(max(after_s, 0.0), self._fire, args=(why,))
            self._timer.name = "hard-exit"
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None
            self._deadline = None

    def _fire(self, why: str) -> None:
        log.warning("%s; exiting now (the running job's lease will expire and another worker re-runs it)", why)
        for handler in logging.getLogger().handlers:
            try:
                handler.flush()
            except Exception:  # noqa: BLE001 - nothing may stop the exit
                pass
        os._exit(self.exit_code)

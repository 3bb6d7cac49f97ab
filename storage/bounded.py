"""Awaits that must end: every await on a shutdown path goes through ``bounded`` or ``stop_task``.

Consumes an awaitable (or a running task) and a time limit; produces its result, or ``None`` once the
limit passes, leaving the work cancelled and abandoned. The wait is ``asyncio.wait`` on a separate
task, so it ends on time even when the awaited code swallows its cancellation: psycopg_pool can lose
a ``CancelledError`` delivered while a task waits for a pooled connection (psycopg issue 1345), and
with Python 3.11's ``asyncio.wait_for`` a cancellation that races a result is dropped. A task whose
cancellation was lost keeps running in the background; the caller stops waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

SHUTDOWN_AWAIT_S = 3.0
"""The default limit of one await on a shutdown path (s): a database round trip, a pool close."""


async def bounded(work: Awaitable[T], timeout_s: float = SHUTDOWN_AWAIT_S, *, what: str = "a shutdown step",
                  default: T | None = None) -> T | None:
    """Await ``work`` for at most ``timeout_s``; its result, or ``default`` when it took too long.

    Exceptions of ``work`` propagate (callers decide); a timeout is logged at WARNING, never raised.
    Cancelling the caller cancels ``work`` too.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=max(timeout_s, 0.0))
    except asyncio.CancelledError:
        task.cancel()
        raise
    if done:
        return task.result()
    task.cancel()
    _forget(task)
    log.warning("%s did not finish within %.1f s; going on without it", what, timeout_s)
    return default


async def stop_task(task: asyncio.Task[Any] | asyncio.Future[Any], timeout_s: float = SHUTDOWN_AWAIT_S, *,
                    what: str = "a background task") -> bool:
    """Cancel ``task`` and wait at most ``timeout_s`` for it to end; whether it ended.

    Its exception (if any) is retrieved, so nothing is logged as "never retrieved".
    """
    if task.done():
        _forget(task)
        return True
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=max(timeout_s, 0.0))
    _forget(task)
    if not done:
        log.warning("%s did not stop within %.1f s of being cancelled (a lost cancellation); abandoning it",
                    what, timeout_s)
    return bool(done)


def _forget(task: asyncio.Future[Any]) -> None:
    """Retrieve the outcome whenever the task ends, so an abandoned task never logs an unretrieved error."""
    def consume(t: asyncio.Future[Any]) -> None:
        if not t.cancelled():
            t.exception()

    task.add_done_callback(consume)

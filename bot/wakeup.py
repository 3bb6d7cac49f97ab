"""A background loop's pause: sleep until woken or until the poll interval passes, whichever is first.

Shared by the job-card editor and the clip poster, which both poll storage and can be woken early.
It uses ``asyncio.timeout`` and not ``wait_for``: on Python 3.11, ``wait_for`` can swallow a cancel
(the loop's ``stop()``) that arrives just as the event is set, and the loop would then never end.
"""

from __future__ import annotations

import asyncio


async def pause(wake: asyncio.Event, seconds: float) -> None:
    """Wait for ``wake`` at most ``seconds``, then clear it for the next pause."""
    try:
        async with asyncio.timeout(seconds):
            await wake.wait()
    except TimeoutError:
        pass
    wake.clear()

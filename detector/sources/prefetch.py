"""Read-ahead for chunk streams: decode the next chunks while the current one is analysed.

Wraps any iterator (the streaming audio decoder) in a daemon thread that keeps up to ``depth``
items ready in a bounded queue, so ffmpeg's decoding and the signal's feature maths overlap on two
cores instead of taking turns. Memory stays bounded (``depth`` + 2 chunks). Exceptions raised by the
source reach the consumer at the point they happened; closing the consumer (or an exception in it)
stops the thread and closes the source, so ffmpeg is reaped.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_S = 0.1


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Yield ``source``'s items, produced ahead by a background thread."""
    items: queue.Queue[object] = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                if not _put(items, stop, item):
                    return
            _put(items, stop, _DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            _put(items, stop, _Failure(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


def _put(items: queue.Queue[object], stop: threading.Event, item: object) -> bool:
    """Queue ``item`` unless the consumer stops first; whether it was queued."""
    while not stop.is_set():
        try:
            items.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False

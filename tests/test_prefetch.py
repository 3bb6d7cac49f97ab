"""Read-ahead keeps order, passes errors through, and closes its source when the consumer stops."""

from __future__ import annotations

import threading

import pytest

from detector.sources.prefetch import prefetch


def test_items_arrive_in_order() -> None:
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))


def test_source_errors_reach_the_consumer_after_the_items_before_them() -> None:
    def source():
        yield 1
        yield 2
        raise ValueError("broken chunk")

    got = []
    with pytest.raises(ValueError, match="broken chunk"):
        for item in prefetch(source()):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_closes_the_source_and_the_thread() -> None:
    closed = threading.Event()

    def source():
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed.set()

    stream = prefetch(source(), depth=2)
    assert next(stream) == 1
    stream.close()
    assert closed.wait(5)
    assert not any(t.name == "prefetch" for t in threading.enumerate())


def test_stopping_after_a_consumer_error_closes_the_source() -> None:
    closed = threading.Event()

    def source():
        try:
            yield from range(10)
        finally:
            closed.set()

    with pytest.raises(RuntimeError):
        for _ in prefetch(source()):
            raise RuntimeError("consumer failed")
    assert closed.wait(5)

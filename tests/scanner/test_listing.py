"""Streams listed a few at once: the results in the streams' order, an error where its stream's result would be,
and no listing started after the caller stops reading."""

from __future__ import annotations

import threading

import pytest

from trailduck.errors import SourceError
from trailduck.scanner.listing import in_parallel


def test_results_come_in_the_items_order_whatever_order_the_calls_end_in() -> None:
    gates = {i: threading.Event() for i in range(8)}

    def slow_first(i: int) -> int:
        if i < 7:
            gates[i + 1].wait(5)  # each call ends only after the next one has started
        gates[i].set()
        return i * i

    assert list(in_parallel(slow_first, list(range(8)), workers=8)) == [i * i for i in range(8)]


def test_an_error_is_raised_where_its_result_would_be() -> None:
    def fail_on_3(i: int) -> int:
        if i == 3:
            raise SourceError("listing s3://b/AWSLogs/3/: AccessDenied")
        return i

    got: list[int] = []
    with pytest.raises(SourceError, match="AccessDenied"):
        for value in in_parallel(fail_on_3, list(range(6)), workers=4):
            got.append(value)
    assert got == [0, 1, 2]


def test_stopping_early_starts_no_more_listings() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def record(i: int) -> int:
        with lock:
            started.append(i)
        return i

    results = in_parallel(record, list(range(1000)), workers=2)
    assert next(results) == 0
    results.close()  # the caller stops reading: the pool is shut down, nothing more is started
    assert len(started) <= 5  # the four ahead of the caller, and the one started when it took the first


def test_one_worker_is_the_plain_loop_in_this_thread() -> None:
    threads: set[str] = set()
    list(in_parallel(lambda i: threads.add(threading.current_thread().name), [1, 2, 3], workers=1))
    assert threads == {threading.current_thread().name}

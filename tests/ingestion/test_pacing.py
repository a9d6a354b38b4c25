"""Fetch concurrency sized to what the source answers: the pacer's decisions on a driven clock, and the fetch
loop holding to the limit it is given."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator

import pytest

from trailduck.convert.decode import Limits
from trailduck.ingestion.pacing import START_CONCURRENCY, Pacer
from trailduck.ingestion.share import _fetch_all
from trailduck.scanner.keys import parse_key
from trailduck.scanner.listing import Listed
from trailduck.scanner.source import ObjectRef
from trailduck.synthetic.generator import encode_log, log_key


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def drive(
    pacer: Pacer, clock: Clock, rate: Callable[[int], float], objects: int, waited: bool = True
) -> list[int]:
    """Objects taken at ``rate(limit)`` a second; the limits the pacer set along the way."""
    seen = [pacer.limit]
    for _ in range(objects):
        clock.now += 1 / rate(pacer.limit)
        pacer.taken(waited)
        if pacer.limit != seen[-1]:
            seen.append(pacer.limit)
    return seen


def test_widens_while_latency_bound_up_to_its_cap() -> None:
    clock = Clock()
    pacer = Pacer(64, clock=clock)
    # 100 ms a request and nothing else in the way: n fetches at once bring 10 n objects a second.
    assert drive(pacer, clock, lambda n: n / 0.1, 2_000) == [START_CONCURRENCY, 16, 32, 64]
    assert pacer.limit == 64


def test_stops_at_a_smaller_cap() -> None:
    clock = Clock()
    pacer = Pacer(12, clock=clock)
    assert drive(pacer, clock, lambda n: n / 0.1, 1_000) == [START_CONCURRENCY, 12]


def test_takes_back_a_doubling_that_did_not_pay() -> None:
    clock = Clock()
    pacer = Pacer(64, clock=clock)
    # A server saturated from 16 at once on: 160 objects a second however many more are asked for.
    assert drive(pacer, clock, lambda n: min(n, 16) / 0.1, 2_000) == [START_CONCURRENCY, 16, 32, 16]
    assert pacer.settled and pacer.limit == 16


def test_holds_when_the_consumer_is_the_slower() -> None:
    clock = Clock()
    pacer = Pacer(64, clock=clock)
    # Every object was fetched before the converter asked for it: more fetches at once would only cost memory.
    assert drive(pacer, clock, lambda n: n / 0.1, 2_000, waited=False) == [START_CONCURRENCY]


def test_a_number_is_a_fixed_limit() -> None:
    pacer = Pacer(4, start=4)
    assert pacer.settled and pacer.limit == 4
    assert Pacer(0).limit == 1


def _listed(n: int) -> list[Listed]:
    items = []
    for i in range(n):
        key = log_key(
            "111122223333",
            "us-east-1",
            dt.datetime(2024, 3, 9, tzinfo=dt.UTC) + dt.timedelta(minutes=i),
            f"X{i:015d}",
        )
        items.append(Listed(ObjectRef(key, 100), parse_key(key)))
    return items


class GatedSource:
    """Reads that each wait until ``width`` of them are running at once (or fail after ``timeout``): a fetch
    loop allowing fewer never gets past the first read, one allowing more is seen in ``peak``. From read number
    ``wider_from`` on, they wait for ``wider`` at once."""

    def __init__(self, width: int, wider: int = 0, wider_from: int = 0, timeout: float = 10.0) -> None:
        self.barriers = [
            threading.Barrier(width, timeout=timeout),
            threading.Barrier(wider or 1, timeout=timeout),
        ]
        self.wider_from = wider_from
        self.lock = threading.Lock()
        self.reads = self.running = self.peak = 0
        self.body = encode_log([])

    def read(self, key: str) -> bytes:
        with self.lock:
            self.reads += 1
            barrier = self.barriers[bool(self.wider_from) and self.reads >= self.wider_from]
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            barrier.wait()
        finally:
            with self.lock:
                self.running -= 1
        return self.body

    def display(self, key: str) -> str:
        return key


@pytest.mark.parametrize("limit", [1, 4, 8])
def test_fetches_run_exactly_as_many_at_once_as_allowed(limit: int) -> None:
    source = GatedSource(limit)
    items = _listed(8 * limit)
    fetched: Iterator[tuple[Listed, object]] = _fetch_all(source, items, limit, Limits())  # type: ignore[arg-type]
    assert [item for item, _ in fetched] == items  # in listing order, all of them
    assert source.peak == limit


def test_fetch_loop_follows_a_widening_pacer() -> None:
    # The first 8 reads wait for 4 to run at once, the next ones for 8: the loop must widen its pool once the
    # pacer says so (here, after the first object), not stay at the width it started with.
    source = GatedSource(4, wider=8, wider_from=9)
    pacer = Pacer(8, start=4)
    items = _listed(64)
    taken = 0
    peak_at_first = 0
    for _ in _fetch_all(source, items, pacer, Limits()):  # type: ignore[arg-type]
        taken += 1
        if taken == 1:
            peak_at_first = source.peak  # before the pacer widened: 4 at once, never more
        pacer.limit = 8
    assert taken == 64 and peak_at_first == 4 and source.peak == 8

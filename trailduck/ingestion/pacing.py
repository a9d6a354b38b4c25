"""How many objects a share fetches at once: sized to what the source answers, not fixed.

A CloudTrail file is small, so fetching it is a round trip more than a transfer: at 20 ms a request, 16 fetches
at once bring at most 800 objects a second, at 100 ms only 160. How many are needed depends on the latency and
on how fast this process converts, neither known beforehand. So a share starts with a few fetches at once and
doubles them while both hold: the converter waited for its objects (fetching is what holds the run back), and
the last doubling raised the rate at which objects came in. A doubling that did not pay (the server is saturated,
or the machine is) is taken back, for the rest of the share. ``--concurrency`` is the most ever allowed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Objects fetched at once by default, at most, over all of a run's processes (``--concurrency``).
MAX_CONCURRENCY = 64

#: Fetches at once a share starts with, before it has measured anything.
START_CONCURRENCY = 8

#: What a doubling must raise the rate by to be kept: less is taken for noise, or for a saturated server.
GAIN = 1.2


class Pacer:
    """The number of fetch tasks allowed at once (:attr:`limit`), told by the consumer of each task it takes (a
    task fetches one object from S3, several from a local folder: see :func:`trailduck.ingestion.share._fetch_all`).

    Decisions are made once a window of ``2 * limit`` tasks has been taken (each fetch thread has then finished
    about two), from the rate over that window and from how many of them the consumer had to wait for.
    ``clock`` is a parameter so that tests drive it.
    """

    def __init__(
        self,
        cap: int,
        start: int = START_CONCURRENCY,
        *,
        gain: float = GAIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cap = max(1, cap)
        self.limit = min(max(1, start), self.cap)
        self.gain = gain
        self.clock = clock
        #: True once a doubling did not pay: the limit stays where it is.
        self.settled = self.limit >= self.cap
        self._previous = self.limit
        self._last_rate: float | None = None
        self._grew = False
        self._window_start: float | None = None
        self._taken = 0
        self._waited = 0

    def taken(self, waited: bool) -> None:
        """The consumer took the next object; ``waited`` if it was not fetched yet when asked for."""
        now = self.clock()
        if self._window_start is None:
            # The first object only starts the clock: its fetch also paid for opening a connection.
            self._window_start = now
            return
        self._taken += 1
        self._waited += waited
        if self._taken < 2 * self.limit:
            return
        rate = self._taken / max(now - self._window_start, 1e-9)
        starved = 2 * self._waited > self._taken
        self._window_start, self._taken, self._waited = now, 0, 0
        if self._grew and self._last_rate is not None and rate < self._last_rate * self.gain:
            self.limit = self._previous  # the doubling did not pay: back, for good
            self.settled = True
            self._grew = False
        elif starved and not self.settled and self.limit < self.cap:
            self._previous, self._last_rate = self.limit, rate
            self.limit = min(self.cap, 2 * self.limit)
            self._grew = True
        else:
            # Fetching keeps ahead of the consumer, or it is at its cap: hold, and judge the next doubling
            # against the rate of the window before it.
            self._grew = False
            self._last_rate = rate

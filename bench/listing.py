"""Listing an organization's trail with latency: discovery and the listing of every stream, one after another
against a few at once, with a fixed delay injected into every request (S3 answers a LIST in 20 ms or so; the
local folder and the S3 test server answer in well under a millisecond, which hides the cost of round trips).

    python bench/listing.py                          # 1,020 streams (60 accounts x 17 regions), 20 ms a request
    python bench/listing.py --accounts 500 --delay 0.02

A script, not a test: the same folder and the same delay, the two ways in turns, each keeping its best time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trailduck.scanner.listing import LISTING_THREADS, discover_streams, in_parallel, list_stream
from trailduck.scanner.local import LocalSource
from trailduck.scanner.source import ObjectRef
from trailduck.synthetic.generator import encode_log, folder_sink, log_key

DAY = dt.datetime(2024, 3, 10, 12, tzinfo=dt.UTC)
REGIONS = [
    f"{a}-{n}"
    for a in ("us-east", "us-west", "eu-west", "eu-central", "ap-south", "sa-east")
    for n in (1, 2, 3)
][:17]


class SlowSource(LocalSource):
    """A folder whose every request (a directory listing, a page of objects) takes ``delay`` seconds more."""

    def __init__(self, root: Path, delay: float) -> None:
        super().__init__(root)
        self.delay = delay
        self.requests = 0

    def list_dirs(self, prefix: str) -> list[str]:
        self.requests += 1
        time.sleep(self.delay)
        return super().list_dirs(prefix)

    def list_objects(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectRef]:
        self.requests += 1
        time.sleep(self.delay)
        return super().list_objects(prefix, start_after)


def make_trail(root: Path, accounts: int, files: int) -> None:
    sink = folder_sink(root)
    body = encode_log([])
    for a in range(accounts):
        account = f"{200000000000 + a:012d}"
        for region in REGIONS:
            for i in range(files):
                sink(
                    log_key(
                        account,
                        region,
                        DAY + dt.timedelta(minutes=5 * i),
                        f"{a:04d}{i:04d}ABCDEFGH",
                        "o-aa00bb11cc",
                    ),
                    body,
                )


def list_all(source: Any, workers: int) -> int:
    streams = discover_streams(source, workers=workers)
    since = DAY.date() - dt.timedelta(days=2)
    listed = in_parallel(lambda s: list(list_stream(source, s, since=since)), streams, workers)
    return sum(len(items) for items in listed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=60)
    parser.add_argument("--files", type=int, default=2, help="files a stream")
    parser.add_argument("--delay", type=float, default=0.02, help="seconds added to every request")
    parser.add_argument("--turns", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trailduck-listing-") as tmp:
        root = Path(tmp)
        make_trail(root, args.accounts, args.files)
        best: dict[int, float] = {}
        for _ in range(args.turns):
            for workers in (1, LISTING_THREADS):
                source = SlowSource(root, args.delay)
                started = time.perf_counter()
                found = list_all(source, workers)
                elapsed = time.perf_counter() - started
                assert found == args.accounts * len(REGIONS) * args.files
                best[workers] = min(best.get(workers, elapsed), elapsed)
                requests = source.requests
        streams = args.accounts * len(REGIONS)
        print(
            f"{streams:,} streams, {streams * args.files:,} files, {requests:,} requests of {args.delay * 1000:.0f} ms: "
            f"one after another {best[1]:.1f} s, {LISTING_THREADS} at once {best[LISTING_THREADS]:.1f} s "
            f"({best[1] / best[LISTING_THREADS]:.1f}x)"
        )


if __name__ == "__main__":
    main()

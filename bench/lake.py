"""trailduck benchmark of the lake's storage: a local Delta lake against an S3 one, the requests of a no-op run
on S3, and the Delta log after a year of nightly runs. A script, not a test; figures and ratios from one run:

    python bench/lake.py                       # 200,000 events, about 3 minutes on 2 cores
    python bench/lake.py --events 50000 --nights 365 --json lake-bench.json

The S3 server is moto's, on loopback: it serves a few hundred requests a second, so S3 times here say more
about request counts than about AWS. Requests are counted at the server (every client: boto3, delta-rs and
pyarrow alike), by kind.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from run import generate, trail_files

from trailduck.convert.schema import EVENT_SCHEMA
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.lake.folder import Lake
from trailduck.lake.layout import part_name, partition_path
from trailduck.lake.table import add_record, commit_run, current_files
from trailduck.lake.views import refresh_views

_REQUEST = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP')


class RequestLog(logging.Handler):
    """Counts the S3 server's requests by kind, from its access log."""

    def __init__(self) -> None:
        super().__init__()
        self.kinds: Counter[str] = Counter()
        self.data_gets = 0

    def emit(self, record: logging.LogRecord) -> None:
        found = _REQUEST.search(record.getMessage())
        if not found:
            return
        method, path = found.groups()
        kind = "LIST" if method == "GET" and "list-type=2" in path else method
        self.kinds[kind] += 1
        if method == "GET" and path.split("?")[0].endswith(".parquet") and "/_delta_log/" not in path:
            self.data_gets += 1


def s3_lake(root: Path, work: Path, events: int) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    requests = RequestLog()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.setLevel(logging.INFO)
    werkzeug.propagate = False
    werkzeug.addHandler(requests)
    try:
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="bench")
        client.create_bucket(Bucket="bench-lake")
        for path in trail_files(root):
            client.put_object(Bucket="bench", Key=path.relative_to(root).as_posix(), Body=path.read_bytes())
        runs: dict[str, list[float]] = {"local": [], "s3": []}
        for turn in range(2):  # taking turns: this machine drifts within minutes
            for kind in ("local", "s3") if turn == 0 else ("s3", "local"):
                lake = str(work / f"lake-{turn}") if kind == "local" else f"s3://bench-lake/lake-{turn}"
                options = IngestOptions(
                    source="s3://bench", lake=Path(lake), endpoint_url=endpoint, workers=1
                )
                start = time.perf_counter()
                summary = ingest(options)
                runs[kind].append(time.perf_counter() - start)
                assert summary.events == events, (kind, summary.events)
        requests.kinds.clear()
        requests.data_gets = 0
        start = time.perf_counter()
        noop = ingest(
            IngestOptions(source="s3://bench", lake=Path("s3://bench-lake/lake-1"), endpoint_url=endpoint)
        )
        noop_s = time.perf_counter() - start
        lake_requests = dict(requests.kinds)
        start = time.perf_counter()
        count = (
            Lake("s3://bench-lake/lake-1", endpoint_url=endpoint)
            .connect()
            .execute("SELECT count(*) FROM events")
        )
        total = count.fetchone()
        query_s = time.perf_counter() - start
        assert noop.files_new == 0 and total is not None and total[0] == events
        return {
            "local_lake_s": min(runs["local"]),
            "s3_lake_s": min(runs["s3"]),
            "s3_over_local": min(runs["s3"]) / min(runs["local"]),
            "noop_s": noop_s,
            "noop_requests": lake_requests,
            "noop_data_file_gets": requests.data_gets,
            "count_through_views_s": query_s,
        }
    finally:
        werkzeug.removeHandler(requests)
        server.stop()


def delta_log_after(work: Path, nights: int, streams: int) -> dict[str, Any]:
    """A lake after ``nights`` nightly runs, each committing one small file to each of ``streams`` streams'
    partitions of that day and the day before (late deliveries): the Delta log's size and files, and what
    reading the table costs then."""
    lake = Lake(work / "year")
    lake.create()
    row = pa.Table.from_pylist([{"eventID": "x", "source_key": "k"}], schema=EVENT_SCHEMA)
    first = dt.date(2025, 1, 1)
    start = time.perf_counter()
    for night in range(nights):
        day = first + dt.timedelta(days=night)
        records = []
        for s in range(streams):
            for date in (day, day - dt.timedelta(days=1)):
                folder = partition_path("events", f"{100000000000 + s:012d}", "us-east-1", date.isoformat())
                key = f"{folder}/{part_name(f'run{night:04d}', '00001')}"
                (lake.root / folder).mkdir(parents=True, exist_ok=True)
                pq.write_table(row, lake.root / key)
                records.append(add_record(lake, key))
        commit_run(lake, "events", records, night + 1, f"run{night:04d}")
    commit_s = time.perf_counter() - start
    log = lake.delta_log("events")
    files = list(log.iterdir())
    load_s, found = _timed(lambda: current_files(lake, "events"))
    views_s, _ = _timed(lambda: refresh_views(lake, force=True))
    con = lake.connect()
    query_s, total = _timed(lambda: con.execute("SELECT count(*) FROM events").fetchone())
    con.close()
    assert total is not None and total[0] == len(found) == nights * streams * 2
    return {
        "nights": nights,
        "data_files": len(found),
        "log_files": len(files),
        "log_json_commits": sum(1 for f in files if f.suffix == ".json"),
        "log_checkpoints": sum(1 for f in files if f.name.endswith(".checkpoint.parquet")),
        "log_bytes": sum(f.stat().st_size for f in files),
        "commit_s_per_night": commit_s / nights,
        "table_load_s": load_s,
        "views_refresh_s": views_s,
        "count_through_views_s": query_s,
    }


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000, help="events in the trail (default 200,000)")
    parser.add_argument("--nights", type=int, default=365, help="nightly runs in the log test (default 365)")
    parser.add_argument("--streams", type=int, default=9, help="account/region streams a night (default 9)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trailduck-lake-bench-"))
    try:
        generate(work / "trail", args.events)
        s3 = s3_lake(work / "trail", work, args.events)
        year = delta_log_after(work, args.nights, args.streams)
        result = {"events": args.events, "s3": s3, "delta_log": year}
        print(
            f"{args.events:,} events from the S3 server: into a local lake {s3['local_lake_s']:.1f} s, into a lake "
            f"on the same server {s3['s3_lake_s']:.1f} s ({s3['s3_over_local']:.2f}x)\n"
            f"no-op run on the S3 lake: {s3['noop_s']:.2f} s, lake and source requests {s3['noop_requests']}, "
            f"GETs of data files {s3['noop_data_file_gets']}; count(*) through the views {s3['count_through_views_s']:.2f} s\n"
            f"after {year['nights']} nightly runs ({year['data_files']:,} data files): Delta log {year['log_files']} files "
            f"({year['log_json_commits']} commits, {year['log_checkpoints']} checkpoints), "
            f"{year['log_bytes'] / 2**20:.1f} MiB; a commit {year['commit_s_per_night'] * 1000:.0f} ms; loading the "
            f"table {year['table_load_s']:.2f} s, refreshing the views {year['views_refresh_s']:.2f} s, count(*) "
            f"through them {year['count_through_views_s']:.2f} s"
        )
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

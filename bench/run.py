"""trailduck benchmark: the floor, the naive script, trailduck (folder and S3), queries, a no-op run, lake size.

Everything is measured in the same run on the same generated files, and reported with ratios, because absolute
times on a shared machine mean little. A script, not a test:

    python bench/run.py                      # 1,000,000 events (the issue's trail), about 15 minutes on 2 cores
    python bench/run.py --events 200000      # 4 to 6 minutes; trailduck's ~1 s of fixed cost weighs more here
    python bench/run.py --json bench-result.json --skip-queries --skip-s3
    python bench/run.py --events 10000000 --ingest-only --trail /var/tmp/trail-10m   # memory at 10M events
    python bench/run.py --sigma rules/cloud/aws --trail /var/tmp/trail-1m   # Sigma rules (bench/sigma_bench.py)
    python bench/run.py --org --trail /var/tmp/org-day      # an organization's day of small files (bench/org_bench.py)
    python bench/run.py --dask --trail /var/tmp/org-day     # the same, the local pool against Dask (bench/dask_bench.py)
    python bench/run.py --org --s3 --latency-ms 20          # the same from an S3 server, 20 ms a request (bench/s3_bench.py)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import multiprocessing
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import duckdb
import msgspec
import pyarrow as pa

import trailduck
from trailduck.convert.decode import decompress, split_records
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.scanner.s3 import S3Source, make_client
from trailduck.synthetic.events import EventFactory, rand_suffix
from trailduck.synthetic.generator import encode_log, log_key

ACCOUNTS = ["111122223333", "444455556666", "777788889999"]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
END = dt.date(2024, 3, 10)


def generate(root: Path, events: int, seed: int = 42) -> tuple[int, int, int]:
    """Files of mixed sizes (log-uniform, 5 to 20,000 events) over 3 accounts, 3 regions and 7 days."""
    rng = random.Random(seed)
    factories = {(a, r): EventFactory(rng, a, r) for a in ACCOUNTS for r in REGIONS}
    made = files = size = 0
    while made < events:
        account, region = rng.choice(ACCOUNTS), rng.choice(REGIONS)
        n = min(events - made, int(math.exp(rng.uniform(math.log(5), math.log(20_000)))))
        day = END - dt.timedelta(days=rng.randrange(7))
        delivered = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(
            minutes=rng.randrange(1440)
        )
        records = [
            factories[(account, region)].event(delivered - dt.timedelta(seconds=rng.randint(30, 900)))
            for _ in range(n)
        ]
        body = encode_log(records)
        path = root / log_key(account, region, delivered, rand_suffix(rng))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        made += n
        files += 1
        size += len(body)
    return made, files, size


def reuse_or_generate(root: Path, events: int) -> tuple[float, tuple[int, int, int]]:
    """The trail in root if a finished generation of the same size left it there, else a new one (a 10M trail
    takes over half an hour to generate: --trail keeps it for the next run)."""
    marker = root / "trail.json"
    if marker.exists():
        made = json.loads(marker.read_text())
        if made["events"] == events:
            return 0.0, (made["events"], made["files"], made["gzip_bytes"])
        raise SystemExit(
            f"{root} holds a trail of {made['events']:,} events, not {events:,}: pick another --trail"
        )
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"{root} is not empty and holds no finished trail: pick an empty or new folder")
    seconds, (made_events, files, size) = timed(lambda: generate(root, events))
    marker.write_text(json.dumps({"events": made_events, "files": files, "gzip_bytes": size}))
    return seconds, (made_events, files, size)


def trail_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json.gz"))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _count_file(path: Path) -> int:
    """The least any converter must do with a file: decompress it and split Records into raw records."""
    return len(split_records(decompress(path.read_bytes())))


def floor(root: Path) -> int:
    """The floor on one core, file after file."""
    return sum(map(_count_file, trail_files(root)))


def floor_all_cores(root: Path) -> int:
    """The floor on every core: one forked process per core, each taking files in turn."""
    with multiprocessing.get_context("fork").Pool(os.cpu_count()) as pool:
        return sum(pool.imap_unordered(_count_file, trail_files(root), chunksize=4))


def _tree_rss(root: int) -> int:
    """The summed resident memory, in bytes, of a process and all its descendants."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/statm") as f:
                rss[int(entry)] = int(f.read().split()[1]) * page
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(rss.get(pid, 0) for pid in tree)


def run_measured(cmd: list[str]) -> tuple[float, str, int]:
    """Run a command in a child process: its wall time, its stdout, and the peak of the summed resident memory
    of it and its descendants, in bytes (sampled every 50 ms)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.05):
            peak = max(peak, _tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    return elapsed, out, peak


def run_cli(args: list[str]) -> tuple[float, dict[str, Any], int]:
    """The real trailduck command: wall time, its --json summary, peak RSS of it and its workers."""
    elapsed, out, peak = run_measured([sys.executable, "-m", "trailduck", *args, "--json"])
    return elapsed, json.loads(out), peak


def naive(root: Path, out: Path) -> tuple[float, int, int]:
    """bench/naive.py in its own process, like trailduck: wall time, events, peak RSS."""
    elapsed, stdout, peak = run_measured(
        [sys.executable, str(Path(__file__).with_name("naive.py")), str(root), str(out)]
    )
    return elapsed, json.loads(stdout)["events"], peak


def du(path: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in path.rglob(pattern))


# Each question twice: over the raw files the way a DuckDB user would write it (read_json_auto's inference fails
# on real CloudTrail: sibling keys differing only by case, "Tag" and "tag"), and over the lake's events view.
RAW = (
    "(SELECT unnest(Records) AS r FROM read_json('{glob}', columns = {{Records: 'JSON[]'}}, "
    "maximum_object_size = 1000000000))"
)
QUERIES = {
    "count by eventSource": (
        "SELECT r->>'eventSource' AS s, count(*) FROM {raw} GROUP BY 1 ORDER BY 2 DESC, 1",
        "SELECT eventSource, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC, 1",
    ),
    "console logins with failures, one week": (
        "SELECT (r->>'eventTime')::TIMESTAMPTZ AS t, r->>'$.userIdentity.userName', r->>'sourceIPAddress' "
        "FROM {raw} WHERE r->>'eventName' = 'ConsoleLogin' AND r->>'errorMessage' = 'Failed authentication' "
        "AND t >= TIMESTAMPTZ '2024-03-04' AND t < TIMESTAMPTZ '2024-03-11' ORDER BY ALL",
        "SELECT eventTime, userIdentity.userName, sourceIPAddress FROM events WHERE eventName = 'ConsoleLogin' "
        "AND errorMessage = 'Failed authentication' AND eventTime >= TIMESTAMPTZ '2024-03-04' "
        "AND eventTime < TIMESTAMPTZ '2024-03-11' ORDER BY ALL",
    ),
    "one principal's activity": (
        "SELECT (r->>'eventTime')::TIMESTAMPTZ, r->>'eventSource', r->>'eventName' FROM {raw} "
        "WHERE r->>'$.userIdentity.arn' = 'arn:aws:iam::111122223333:user/alice' ORDER BY ALL",
        "SELECT eventTime, eventSource, eventName FROM events "
        "WHERE userIdentity.arn = 'arn:aws:iam::111122223333:user/alice' ORDER BY ALL",
    ),
}


def query_times(root: Path, lake: Path) -> dict[str, dict[str, float]]:
    raw = RAW.format(glob=f"{root}/AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz")
    results: dict[str, dict[str, float]] = {}
    con = duckdb.connect(str(lake / "trailduck.duckdb"), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    for name, (raw_sql, lake_sql) in QUERIES.items():
        raw_s, raw_rows = timed(lambda q=raw_sql: con.execute(q.format(raw=raw)).fetchall())
        lake_s = min(timed(lambda q=lake_sql: con.execute(q).fetchall())[0] for _ in range(3))
        lake_rows = con.execute(lake_sql).fetchall()
        if raw_rows != lake_rows:
            raise SystemExit(
                f"{name}: the raw files and the lake disagree ({len(raw_rows)} vs {len(lake_rows)} rows)"
            )
        results[name] = {
            "raw_json_s": raw_s,
            "lake_s": lake_s,
            "ratio": raw_s / lake_s,
            "rows": len(lake_rows),
        }
    con.close()
    return results


def s3_runs(root: Path, work: Path) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    os.environ.update(env)
    try:
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="bench")
        for path in trail_files(root):
            client.put_object(Bucket="bench", Key=path.relative_to(root).as_posix(), Body=path.read_bytes())
        lake = work / "lake-s3"
        elapsed, summary, _ = run_cli(
            [
                "ingest",
                "s3://bench",
                "--lake",
                str(lake),
                "--endpoint-url",
                endpoint,
                "--concurrency",
                "16",
                "--no-progress",
            ]
        )
        # Where the time goes: the GETs alone, with the same concurrency, against the whole run.
        source = S3Source(make_client(endpoint_url=endpoint, region="us-east-1"), "bench")
        keys = [p.relative_to(root).as_posix() for p in trail_files(root)]
        with ThreadPoolExecutor(16) as pool:
            get_s, _ = timed(lambda: sum(map(len, pool.map(source.read, keys))))
        # The no-op run, in process, counting the requests it sends.
        counts: dict[str, int] = {}
        s3 = make_client(endpoint_url=endpoint, region="us-east-1")

        def count(**kw: Any) -> None:
            name = kw["model"].name
            counts[name] = counts.get(name, 0) + 1

        s3.meta.events.register("before-call.s3", count)
        noop_s, noop = timed(
            lambda: ingest(IngestOptions(source="s3://bench", lake=lake), source=S3Source(s3, "bench"))
        )
        return {
            "seconds": elapsed,
            "files": summary["files_converted"],
            "events": summary["events"],
            "files_per_s": summary["files_converted"] / elapsed,
            "events_per_s": summary["events"] / elapsed,
            "get_concurrency": 16,
            "workers": summary["workers"],
            "get_only_seconds": get_s,
            "noop_seconds": noop_s,
            "noop_files_new": noop.files_new,
            "noop_list_requests": counts.get("ListObjectsV2", 0),
            "noop_get_requests": counts.get("GetObject", 0),
            "noop_streams": noop.streams,
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="events in the generated trail (default 1,000,000)"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--trail",
        type=Path,
        help="generate the trail into this folder and keep it, or reuse the one a previous run left there",
    )
    parser.add_argument("--skip-s3", action="store_true", help="skip the S3 server runs")
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="turns of the floor, the naive script and trailduck; each keeps its best time",
    )
    parser.add_argument(
        "--skip-queries",
        action="store_true",
        help="skip the queries over the raw files (minutes at millions of events)",
    )
    parser.add_argument(
        "--ingest-only",
        action="store_true",
        help="only the trailduck ingest and its memory (for large --events: the 10M memory check)",
    )
    parser.add_argument(
        "--sigma",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="only the Sigma rules in these folders or files: conversion and run times against the detections",
    )
    parser.add_argument(
        "--org",
        action="store_true",
        help="only an organization's day of small files (bench/org_bench.py): files/s against the floor, the "
        "naive script, a no-op run, the checkpoint",
    )
    parser.add_argument(
        "--dask",
        action="store_true",
        help="only the organization's day through the local pool and through a Dask LocalCluster of 2 workers "
        "(bench/dask_bench.py)",
    )
    parser.add_argument(
        "--layouts",
        action="store_true",
        help="only the two lake partitionings after --days days of an organization trail (bench/layout_bench.py)",
    )
    parser.add_argument("--days", type=int, default=30, help="--layouts: days of the trail (default 30)")
    parser.add_argument("--accounts", type=int, default=60, help="--org: accounts (default 60)")
    parser.add_argument("--regions", type=int, default=17, help="--org: regions an account (default 17)")
    parser.add_argument("--files-per-day", type=int, help="--org: files a stream (default 96; with --s3, 2)")
    parser.add_argument("--events-per-file", type=int, default=12, help="--org: events a file (default 12)")
    parser.add_argument(
        "--s3",
        action="store_true",
        help="--org: from moto's S3 server through a proxy adding --latency-ms a request (bench/s3_bench.py)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=20.0,
        help="--org --s3: ms injected into every request (default 20)",
    )
    parser.add_argument(
        "--concurrency", type=int, help="--org --s3: trailduck's --concurrency (default: trailduck's own)"
    )
    args = parser.parse_args()
    if args.files_per_day is None:
        args.files_per_day = 2 if args.s3 else 96
    work = Path(tempfile.mkdtemp(prefix="trailduck-bench-"))
    try:
        root = args.trail or work / "trail"
        if args.layouts:
            from layout_bench import layout_bench  # here: it imports this module

            layout_bench(root, work, args, parser)
            return
        if args.dask:
            from dask_bench import dask_bench  # here: it imports this module

            dask_bench(root, work, args)
            return
        if args.org and args.s3:
            from s3_bench import s3_org_bench  # here: s3_bench imports this module

            s3_org_bench(root, work, args)
            return
        if args.org:
            from org_bench import org_bench  # here: org_bench imports this module

            org_bench(root, work, args)
            return
        gen_s, (events, files, gz_bytes) = reuse_or_generate(root, args.events)
        if args.ingest_only:
            ingest_only(root, work, events, files, gz_bytes, args.json)
            return
        if args.sigma:
            from sigma_bench import sigma_bench  # here: sigma_bench imports this module

            sigma_bench(root, work, events, args.sigma, args.repeat, args.json)
            return
        raw_bytes = sum(len(zlib.decompress(p.read_bytes(), 31)) for p in trail_files(root))
        # This machine's speed drifts within minutes: the floor, the naive script and trailduck take turns,
        # --repeat times, and each keeps its best time (its peak memory: the highest).
        floors, floors_all, naives, locals_ = [], [], [], []
        for _ in range(args.repeat):
            floors.append(timed(lambda: floor(root)))
            floors_all.append(timed(lambda: floor_all_cores(root)))
            shutil.rmtree(work / "naive", ignore_errors=True)
            naives.append(naive(root, work / "naive"))
            shutil.rmtree(work / "lake", ignore_errors=True)
            locals_.append(run_cli(["ingest", str(root), "--lake", str(work / "lake"), "--no-progress"]))
        floor_s, floor_events = min(floors)
        floor_all_s, floor_all_events = min(floors_all)
        naive_s, naive_events, _ = min(naives)
        naive_rss = max(n[2] for n in naives)
        local_s, local, _ = min(locals_, key=lambda r: r[0])
        local_rss = max(r[2] for r in locals_)
        single_s, single, single_rss = run_cli(
            ["ingest", str(root), "--lake", str(work / "lake-1"), "--workers", "1", "--no-progress"]
        )
        slim_s, _, _ = run_cli(
            ["ingest", str(root), "--lake", str(work / "lake-slim"), "--no-event-json", "--no-progress"]
        )
        lake_bytes = du(work / "lake" / "events", "*.parquet")
        slim_bytes = du(work / "lake-slim" / "events", "*.parquet")
        queries = {} if args.skip_queries else query_times(root, work / "lake")
        s3 = None if args.skip_s3 else s3_runs(root, work)
        assert floor_events == floor_all_events == naive_events == local["events"] == events
        result = {
            "machine": {
                "cores": os.cpu_count(),
                "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "versions": {
                "trailduck": trailduck.__version__,
                "pyarrow": pa.__version__,
                "duckdb": duckdb.__version__,
                "msgspec": msgspec.__version__,
                "boto3": boto3.__version__,
            },
            "repeat": args.repeat,
            "trail": {
                "events": events,
                "files": files,
                "gzip_bytes": gz_bytes,
                "raw_bytes": raw_bytes,
                "bytes_per_event": raw_bytes / events,
                "generate_s": gen_s,
            },
            "floor": {"seconds": floor_s, "events_per_s": events / floor_s, "processes": 1},
            "floor_all_cores": {
                "seconds": floor_all_s,
                "events_per_s": events / floor_all_s,
                "processes": os.cpu_count(),
            },
            "naive": {
                "seconds": naive_s,
                "events_per_s": events / naive_s,
                "peak_rss_mib": naive_rss / 2**20,
            },
            "trailduck_local": {
                "seconds": local_s,
                "events_per_s": events / local_s,
                "workers": local["workers"],
                "peak_rss_mib": local_rss / 2**20,
                "parquet_files": local["parquet_files_written"],
                "partitions": local["partitions_written"],
                # Where the time went: the command's own phases, and the rest (interpreter, imports, exit).
                "phases_s": local["phases"],
                "startup_and_exit_s": local_s - local["duration_s"],
            },
            "trailduck_local_1_worker": {
                "seconds": single_s,
                "events_per_s": events / single_s,
                "peak_rss_mib": single_rss / 2**20,
                "parquet_files": single["parquet_files_written"],
            },
            "ratios": {
                "local_vs_floor": floor_s / local_s,
                "local_vs_floor_all_cores": floor_all_s / local_s,
                "local_vs_naive": naive_s / local_s,
                "local_1_worker_vs_naive": naive_s / single_s,
            },
            "lake": {
                "bytes": lake_bytes,
                "vs_gzip": lake_bytes / gz_bytes,
                "without_event_json_bytes": slim_bytes,
                "without_event_json_vs_gzip": slim_bytes / gz_bytes,
                "slim_ingest_s": slim_s,
            },
            "queries": queries,
            "s3": s3,
        }
        report(result)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder kept: {work}")


def ingest_only(root: Path, work: Path, events: int, files: int, gz_bytes: int, out: Path | None) -> None:
    """trailduck from the folder, once, with the floor measured on the same files just before it: at 10M
    events, where the rest of the benchmark would take hours."""
    floor_s, floor_events = timed(lambda: floor_all_cores(root))
    elapsed, summary, rss = run_cli(["ingest", str(root), "--lake", str(work / "lake"), "--no-progress"])
    assert summary["events"] == floor_events == events
    result = {
        "events": events,
        "files": files,
        "gzip_bytes": gz_bytes,
        "seconds": elapsed,
        "events_per_s": events / elapsed,
        "workers": summary["workers"],
        "peak_rss_mib": rss / 2**20,
        "parquet_files": summary["parquet_files_written"],
        "phases_s": summary["phases"],
        "startup_and_exit_s": elapsed - summary["duration_s"],
        "floor_all_cores_events_per_s": events / floor_s,
        "vs_floor_all_cores": floor_s / elapsed,
    }
    print(
        f"{events:,} events in {files:,} files ({gz_bytes / 2**20:.0f} MiB gzip): {elapsed:.1f} s, "
        f"{result['events_per_s']:,.0f} events/s in {result['workers']} process(es), "
        f"peak RSS {result['peak_rss_mib']:.0f} MiB (all processes), {result['parquet_files']} Parquet files\n"
        f"floor on {os.cpu_count()} processes {result['floor_all_cores_events_per_s']:,.0f} events/s: "
        f"trailduck is {result['vs_floor_all_cores']:.2f} of it\n"
        f"where the time goes: {time_split(result)}"
    )
    if out:
        out.write_text(json.dumps(result, indent=2))


def time_split(run: dict[str, Any]) -> str:
    """Where a trailduck run's time went: start-up and exit, then the phases of its --json summary."""
    return f"{run['startup_and_exit_s']:.1f} s start-up and exit, " + ", ".join(
        f"{name} {seconds:.2f} s" for name, seconds in run["phases_s"].items()
    )


def report(r: dict[str, Any]) -> None:
    rows: list[tuple[str, str]] = []
    m, t = r["machine"], r["trail"]
    rows.append(("machine", f"{m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}"))
    rows.append(("versions", ", ".join(f"{k} {v}" for k, v in r["versions"].items())))
    rows.append(
        ("method", f"best of {r['repeat']} turns each for the floors, the naive script and trailduck")
    )
    rows.append(
        (
            "trail",
            f"{t['events']:,} events in {t['files']:,} files; {t['gzip_bytes'] / 2**20:.1f} MiB gzip, "
            f"{t['raw_bytes'] / 2**20:.1f} MiB JSON ({t['bytes_per_event']:.0f} B/event)",
        )
    )
    rows.append(("floor (gunzip + split), 1 core", f"{r['floor']['events_per_s']:,.0f} events/s"))
    fa = r["floor_all_cores"]
    rows.append(
        (
            f"floor, {fa['processes']} processes",
            f"{fa['events_per_s']:,.0f} events/s (process start included)",
        )
    )
    rows.append(
        (
            "naive script (bench/naive.py)",
            f"{r['naive']['events_per_s']:,.0f} events/s, peak RSS {r['naive']['peak_rss_mib']:.0f} MiB",
        )
    )
    loc = r["trailduck_local"]
    rows.append(
        (
            "trailduck, folder",
            f"{loc['events_per_s']:,.0f} events/s in {loc['workers']} process(es), "
            f"peak RSS {loc['peak_rss_mib']:.0f} MiB (all processes), {loc['parquet_files']} Parquet files",
        )
    )
    rows.append(
        (
            "  where the time goes",
            time_split(loc),
        )
    )
    one = r["trailduck_local_1_worker"]
    rows.append(
        (
            "trailduck, folder, --workers 1",
            f"{one['events_per_s']:,.0f} events/s, peak RSS {one['peak_rss_mib']:.0f} MiB, "
            f"{one['parquet_files']} Parquet files",
        )
    )
    rows.append(
        (
            "  vs floor / vs naive",
            f"{r['ratios']['local_vs_floor_all_cores']:.2f} of the floor on all cores "
            f"({r['ratios']['local_vs_floor']:.2f} of one core's), "
            f"{r['ratios']['local_vs_naive']:.1f}x the naive script "
            f"(--workers 1: {r['ratios']['local_1_worker_vs_naive']:.1f}x)",
        )
    )
    lake = r["lake"]
    rows.append(
        (
            "lake size",
            f"{lake['vs_gzip']:.2f}x the gzip input; without event_json "
            f"{lake['without_event_json_vs_gzip']:.2f}x",
        )
    )
    for name, q in r["queries"].items():
        rows.append(
            (
                f"query: {name}",
                f"raw JSON {q['raw_json_s']:.2f} s, lake {q['lake_s'] * 1000:.1f} ms: {q['ratio']:,.0f}x",
            )
        )
    if r["s3"]:
        s3 = r["s3"]
        rows.append(
            (
                "trailduck, S3 server",
                f"{s3['files_per_s']:,.0f} files/s, {s3['events_per_s']:,.0f} events/s "
                f"with {s3['get_concurrency']} GETs at once, {s3['workers']} processes",
            )
        )
        rows.append(
            (
                "  where the time goes",
                f"{s3['seconds']:.1f} s in all; the GETs alone take {s3['get_only_seconds']:.1f} s "
                f"({s3['get_only_seconds'] / s3['seconds']:.0%}), overlapped with conversion",
            )
        )
        rows.append(
            (
                "no-op run on S3",
                f"{s3['noop_seconds']:.2f} s, {s3['noop_list_requests']} LIST, "
                f"{s3['noop_get_requests']} GET for {s3['noop_streams']} streams",
            )
        )
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()

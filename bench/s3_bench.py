"""An organization's day from S3 with latency (``python bench/run.py --org --s3``): the same org-shaped trail as
``--org`` (by default 1,020 streams x 2 files, as issue #19 measured), uploaded to moto's S3 server on loopback,
read through a proxy that delays every request (``--latency-ms``, 20 by default: what a request to S3 costs),
the proxy of the fault tests (``tests/faultproxy.py``), which also counts the requests.

moto answers only a few hundred requests a second, so trailduck is measured against that server's own ceiling:
a plain threaded boto3 GET loop over the same keys, at a few concurrencies (the best is the ceiling). In turns,
each keeping its best time: the GET loops, then trailduck's first run (a fresh lake each turn); then its no-op
run. Issue #19's targets: files/s >= 0.8 of the GET loop's, a no-op run over 1,020 streams under 3 s past
start-up. Last, the server's own ceiling with nothing injected: the GET loop straight to moto and through the
proxy with 0 ms.

    python bench/run.py --org --s3                               # 60 accounts x 17 regions x 2 files, 20 ms
    python bench/run.py --org --s3 --latency-ms 50 --files-per-day 4

The GET loop runs in a child process, like trailduck, so that neither shares a GIL with the server and proxy
(which run in this process). Run on its own (``python bench/s3_bench.py get-loop URL BUCKET KEYS N``), it
prints the seconds its GETs took.

Measured on 2 shared cores (2,040 files, 1,020 streams): at 20 ms, GET loop 235 files/s (16 threads; 200 at 32,
174 at 64), trailduck 75 files/s past start-up (0.32), 2,040 GET + 1,143 LIST; no-op 11.6 s past start-up,
where a plain LIST loop over the 1,020 folders takes 7.8 s. At 100 ms: GET loop 173 (64 threads), trailduck 54
files/s paced to 32 at once, 52 with --concurrency 16: moto and the machine's CPU bound the run, not latency.
With 96 files a stream (``--accounts 5 --regions 12 --files-per-day 96``: 5,760 files, 73 LIST), trailduck made
0.79 and 0.86 of the GET loop's files/s in two runs an hour apart (206 of 260, 161 of 187).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.faultproxy

from org_bench import generate_org_day
from run import run_cli, run_measured, timed, trail_files

from tests import faultproxy

BUCKET = "bench"
GET_LOOP_CONCURRENCY = (16, 32, 64)


def get_loop(endpoint: str, bucket: str, keys: list[str], concurrency: int) -> float:
    """The plain way: one boto3 client with a connection per thread, ``concurrency`` threads each GETting a key
    and reading its body. The seconds the GETs took (the client made beforehand)."""
    client = boto3.client(
        "s3", endpoint_url=endpoint, config=Config(max_pool_connections=concurrency, region_name="us-east-1")
    )
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda key: client.get_object(Bucket=bucket, Key=key)["Body"].read(), keys))
    return time.perf_counter() - started


def list_loop(endpoint: str, bucket: str, keys: list[str], concurrency: int) -> float:
    """The plain way to list every stream's folder once (one LIST each: a stream holds under 1,000 keys here),
    ``concurrency`` at once: the server's ceiling for the LISTs a no-op run cannot do without."""
    client = boto3.client(
        "s3", endpoint_url=endpoint, config=Config(max_pool_connections=concurrency, region_name="us-east-1")
    )
    folders = sorted({key.rsplit("/", 4)[0] + "/" for key in keys})
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda prefix: client.list_objects_v2(Bucket=bucket, Prefix=prefix), folders))
    return time.perf_counter() - started


def get_loop_child(endpoint: str, keys_file: Path, concurrency: int, what: str = "get-loop") -> float:
    """:func:`get_loop` (or :func:`list_loop`) in a child process: its seconds."""
    _, out, _ = run_measured(
        [sys.executable, __file__, what, endpoint, BUCKET, str(keys_file), str(concurrency)]
    )
    return float(json.loads(out)["seconds"])


def upload(root: Path, endpoint: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=endpoint, config=Config(max_pool_connections=16))
    client.create_bucket(Bucket=BUCKET)
    keys = [p.relative_to(root).as_posix() for p in trail_files(root)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=BUCKET, Key=k, Body=(root / k).read_bytes()), keys))
    return keys


def s3_org_bench(root: Path, work: Path, args: Any) -> None:
    from moto.server import ThreadedMotoServer

    gen_s, made = timed(
        lambda: generate_org_day(root, args.accounts, args.regions, args.files_per_day, args.events_per_file)
    )
    files = made["files"]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    proxy, url, proxy_server = faultproxy.start(moto_url, delay=args.latency_ms / 1000)
    try:
        upload_s, keys = timed(lambda: upload(root, moto_url))
        keys_file = work / "keys.json"
        keys_file.write_text(json.dumps(keys))
        loops: dict[int, list[float]] = {c: [] for c in GET_LOOP_CONCURRENCY}
        firsts: list[tuple[float, dict[str, Any], dict[str, int], int]] = []
        ingest = [
            "ingest",
            f"s3://{BUCKET}",
            "--lake",
            str(work / "lake"),
            "--endpoint-url",
            url,
            "--no-progress",
        ]
        if args.concurrency:
            ingest += ["--concurrency", str(args.concurrency)]
        for _ in range(args.repeat):  # taking turns: this machine's speed drifts within minutes
            for c in GET_LOOP_CONCURRENCY:
                loops[c].append(get_loop_child(url, keys_file, c))
            shutil.rmtree(work / "lake", ignore_errors=True)
            proxy.reset_counts()
            elapsed, summary, _ = run_cli(ingest)
            firsts.append((elapsed, summary, dict(proxy.counts), proxy.peak_active))
        noops: list[tuple[float, dict[str, Any], dict[str, int]]] = []
        lists: list[float] = []
        for _ in range(args.repeat):
            lists.append(get_loop_child(url, keys_file, 16, "list-loop"))
            proxy.reset_counts()
            elapsed, summary, _ = run_cli(ingest)
            noops.append((elapsed, summary, dict(proxy.counts)))
        startup_s = min(run_measured([sys.executable, "-m", "trailduck", "--version"])[0] for _ in range(3))
        best_c = min(GET_LOOP_CONCURRENCY, key=lambda c: min(loops[c]))
        loop_s = min(loops[best_c])
        # The server's own ceiling: nothing injected, straight to moto and through the proxy.
        proxy.delay = 0.0
        direct_s = min(get_loop_child(moto_url, keys_file, best_c) for _ in range(args.repeat))
        proxied_s = min(get_loop_child(url, keys_file, best_c) for _ in range(args.repeat))
    finally:
        proxy_server.shutdown()
        server.stop()
    first_s, first, first_counts, first_peak = min(firsts, key=lambda r: r[0])
    noop_s, noop, noop_counts = min(noops, key=lambda r: r[0])
    assert first["files_converted"] == files and first["events"] == made["events"], first
    assert noop["files_new"] == 0, noop
    first_past = first_s - startup_s
    result = {
        **made,
        "generate_s": gen_s,
        "upload_s": upload_s,
        "streams": args.accounts * args.regions,
        "latency_ms": args.latency_ms,
        "get_loop_s": {c: min(s) for c, s in loops.items()},
        "get_loop_files_per_s": {c: files / min(s) for c, s in loops.items()},
        "get_loop_best_concurrency": best_c,
        "startup_s": startup_s,
        "first_s": first_s,
        "first_past_startup_s": first_past,
        "first_files_per_s": files / first_past,
        "first_vs_get_loop": loop_s / first_past,
        "first_wall_vs_get_loop": loop_s / first_s,
        "first_phases_s": first.get("phases"),
        "first_requests": first_counts,
        "first_peak_requests_at_once": first_peak,
        "noop_s": noop_s,
        "noop_past_startup_s": noop_s - startup_s,
        "noop_requests": noop_counts,
        "list_loop_s": min(lists),
        "moto_0ms_files_per_s": files / direct_s,
        "proxy_0ms_files_per_s": files / proxied_s,
    }
    loops_line = ", ".join(f"{c} threads {files / min(s):,.0f}" for c, s in loops.items())
    print(
        f"organization day on S3: {result['streams']:,} streams, {files:,} files of {args.events_per_file} "
        f"events ({made['gzip_bytes'] / 2**20:.1f} MiB gzip), {args.latency_ms} ms injected a request "
        f"(uploaded in {upload_s:.0f} s)\n"
        f"plain boto3 GET loop          files/s: {loops_line}; ceiling {files / loop_s:,.0f} ({best_c} threads)\n"
        f"trailduck first run           {first_s:6.1f} s ({first_past:.1f} s past start-up): "
        f"{files / first_past:,.0f} files/s, {result['first_vs_get_loop']:.2f} of the GET loop's (target 0.8; "
        f"{result['first_wall_vs_get_loop']:.2f} with start-up); "
        f"requests {_counts(first_counts)}, {first_peak} at once at most\n"
        f"  where the time goes         {_phases(first)}\n"
        f"trailduck no-op run           {noop_s:6.1f} s ({result['noop_past_startup_s']:.2f} s past start-up; "
        f"target 3 s), requests {_counts(noop_counts)}\n"
        f"plain boto3 LIST loop         {min(lists):6.1f} s for the {result['streams']:,} streams' folders, one "
        f"LIST each, 16 threads\n"
        f"moto's ceiling, 0 ms          {files / direct_s:,.0f} files/s straight, {files / proxied_s:,.0f} "
        f"through the proxy ({best_c} threads)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {kind}" for kind, n in sorted(counts.items())) or "none"


def _phases(summary: dict[str, Any]) -> str:
    return ", ".join(f"{name} {s:.2f} s" for name, s in (summary.get("phases") or {}).items())


if __name__ == "__main__" and sys.argv[1:2] in (["get-loop"], ["list-loop"]):
    endpoint, bucket, keys_path, concurrency = sys.argv[2:6]
    loop = get_loop if sys.argv[1] == "get-loop" else list_loop
    seconds = loop(endpoint, bucket, json.loads(Path(keys_path).read_text()), int(concurrency))
    print(json.dumps({"seconds": seconds}))

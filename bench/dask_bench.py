"""Dask against the local pool (``python bench/run.py --dask``): the same organization's day (bench/org_bench.py)
ingested by ``trailduck ingest`` with its local worker processes, and with ``--scheduler`` on a Dask
``LocalCluster`` of 2 worker processes of one thread each, started once before the turns (as a cluster runs before
its jobs come). Both run as the real command, in turns, each keeping its best time; each turn starts from an
empty lake. On one machine the cluster cannot beat the pool, which has the same cores: the figure says what
sending the work through a scheduler costs, which a cluster of more machines must repay.

    python bench/run.py --dask --accounts 20 --files-per-day 48       # a quicker look
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from distributed import LocalCluster
from org_bench import generate_org_day
from run import run_cli, timed


def dask_bench(root: Path, work: Path, args: Any) -> None:
    gen_s, made = timed(
        lambda: generate_org_day(root, args.accounts, args.regions, args.files_per_day, args.events_per_file)
    )
    files, events = made["files"], made["events"]
    started_s, cluster = timed(
        lambda: LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
    )
    pool, dask = [], []
    with cluster:
        for _ in range(args.repeat):  # taking turns: this machine's speed drifts within minutes
            for runs, extra in ((pool, []), (dask, ["--scheduler", cluster.scheduler_address])):
                shutil.rmtree(work / "lake", ignore_errors=True)
                runs.append(
                    run_cli(["ingest", str(root), "--lake", str(work / "lake"), "--no-progress", *extra])
                )
    pool_s, pool_summary, pool_rss = min(pool, key=lambda r: r[0])
    dask_s, dask_summary, _ = min(dask, key=lambda r: r[0])
    assert pool_summary["events"] == dask_summary["events"] == events, (pool_summary, dask_summary)
    result = {
        **made,
        "generate_s": gen_s,
        "cluster_start_s": started_s,
        "pool_s": pool_s,
        "pool_workers": pool_summary["workers"],
        "pool_phases_s": pool_summary["phases"],
        "pool_files": pool_summary["parquet_files_written"],
        "pool_peak_rss_mib": pool_rss / 2**20,
        "dask_s": dask_s,
        "dask_worker_threads": dask_summary["workers"],
        "dask_phases_s": dask_summary["phases"],
        "dask_files": dask_summary["parquet_files_written"],
        "dask_vs_pool": pool_s / dask_s,
    }
    print(
        f"organization day: {args.accounts * args.regions:,} streams, {files:,} files of {args.events_per_file} "
        f"events ({events:,} events); best of {args.repeat} turns each\n"
        f"local pool ({pool_summary['workers']} processes)       {pool_s:6.1f} s  {files / pool_s:8,.0f} files/s  "
        f"convert {pool_summary['phases']['convert']:.1f} s, {pool_summary['parquet_files_written']:,} Parquet files\n"
        f"Dask LocalCluster (2 x 1 thread)  {dask_s:6.1f} s  {files / dask_s:8,.0f} files/s  "
        f"convert {dask_summary['phases']['convert']:.1f} s, {dask_summary['parquet_files_written']:,} Parquet files"
        f"  ({pool_s / dask_s:.2f}x the pool; the cluster started in {started_s:.1f} s, before the turns)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))

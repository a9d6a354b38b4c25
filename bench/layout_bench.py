"""The two lake partitionings (``python bench/run.py --layouts``) after ``--days`` days of an organization trail.

The trail (the shape of bench/org_bench.py's organization day, over several days) is ingested into a lake of each
partitioning, ``account,region,date`` (the default) and ``date`` (``ingest --partition-by date``), in one run,
and compacted (``--retain 0``: the replaced files go at once). Reported for each: the data files in the lake, their
size, the ingest and compaction times, and query times taken in turns (best of ``--repeat``, at least 3) through
the lake's DuckDB views and through pyarrow's dataset of the Delta table (deltalake): one account's day, every
account's week, a whole day's count, one account's every day.

    python bench/run.py --layouts                                  # 20 accounts x 17 regions x 24 files x 12 events, 30 days
    python bench/run.py --layouts --accounts 60 --files-per-day 96 # the issue's organization (long)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
from deltalake import DeltaTable
from org_bench import write_org_days
from run import run_cli, timed

from trailduck.lake.folder import Lake

#: This benchmark's shape where the command line gives none (run.py's defaults are --org's, a day's worth).
DEFAULTS = {"accounts": 20, "regions": 17, "files_per_day": 24, "events_per_file": 12}
LAYOUTS = ("account,region,date", "date")
LAST_DAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def shape(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, int]:
    """--accounts and friends as given, else this benchmark's :data:`DEFAULTS`."""
    return {
        name: getattr(args, name) if getattr(args, name) != parser.get_default(name) else default
        for name, default in DEFAULTS.items()
    }


def generate_org_days(
    root: Path, days: int, accounts: int, regions: int, files: int, events: int, seed: int = 19
) -> dict[str, Any]:
    """``days`` days (ending yesterday) of an organization trail into ``root``, as
    :func:`org_bench.generate_org_day` makes one: ``files`` files a stream a day, ``events`` events a file."""
    marker = root / "org-days.json"
    wanted = {
        "days": days,
        "accounts": accounts,
        "regions": regions,
        "files_per_day": files,
        "events_per_file": events,
        "last_day": LAST_DAY.isoformat(),
    }
    if marker.exists():
        made = json.loads(marker.read_text())
        if {k: made[k] for k in wanted} == wanted:
            return dict(made)
        raise SystemExit(f"{root} holds another organization trail ({made}): pick another --trail")
    days_made = [LAST_DAY - dt.timedelta(days=days - 1 - d) for d in range(days)]
    made_files, made_events, size = write_org_days(root, days_made, accounts, regions, files, events, seed)
    made = {**wanted, "files": made_files, "events": made_events, "gzip_bytes": size}
    marker.write_text(json.dumps(made))
    return made


def lake_files(lake: Path) -> tuple[int, int]:
    """The data files of the lake's tables on disk (after a vacuum: exactly the tables' files), and their bytes."""
    files = [p for dataset in ("events", "insights") for p in (lake / dataset).rglob("*.parquet")]
    return len(files), sum(p.stat().st_size for p in files)


def queries(first: dt.date, last: dt.date) -> dict[str, str]:
    """Name -> SQL over the views. Each reads a few columns, not only the partition values."""
    account = f"{300000000000:012d}"
    day = last.isoformat()
    week = (last - dt.timedelta(days=6)).isoformat()
    return {
        "one account's day": (
            f"SELECT count(*), count(DISTINCT eventName), max(eventTime) FROM events "
            f"WHERE account = '{account}' AND date = '{day}'"
        ),
        "every account's week": (
            f"SELECT account, count(*), count(DISTINCT eventName) FROM events "
            f"WHERE date BETWEEN '{week}' AND '{day}' GROUP BY account"
        ),
        "a whole day's count": f"SELECT count(*) FROM events WHERE date = '{day}'",
        "one account, every day": (
            f"SELECT date, count(*), count(DISTINCT eventName) FROM events WHERE account = '{account}' GROUP BY date"
        ),
    }


def arrow_queries(last: dt.date) -> dict[str, Callable[[ds.Dataset], int]]:
    """The same questions through pyarrow's dataset of the Delta table (its partition and row-group pruning)."""
    account = f"{300000000000:012d}"
    day = last.isoformat()
    week = (last - dt.timedelta(days=6)).isoformat()
    f = ds.field
    return {
        "one account's day": lambda d: (
            d.to_table(
                columns=["eventName", "eventTime"], filter=(f("account") == account) & (f("date") == day)
            ).num_rows
        ),
        "every account's week": lambda d: (
            d.to_table(
                columns=["account", "eventName"], filter=(f("date") >= week) & (f("date") <= day)
            ).num_rows
        ),
        "a whole day's count": lambda d: d.count_rows(filter=f("date") == day),
        "one account, every day": lambda d: (
            d.to_table(columns=["date", "eventName"], filter=f("account") == account).num_rows
        ),
    }


def layout_bench(root: Path, work: Path, args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    s = shape(args, parser)
    gen_s, made = timed(
        lambda: generate_org_days(
            root, args.days, s["accounts"], s["regions"], s["files_per_day"], s["events_per_file"]
        )
    )
    print(
        f"{args.days} days of an organization: {s['accounts']} accounts x {s['regions']} regions x "
        f"{s['files_per_day']} files a day x {s['events_per_file']} events = {made['files']:,} files, "
        f"{made['events']:,} events, {made['gzip_bytes'] / 2**20:.0f} MiB gzip (generated in {gen_s:.0f} s)",
        flush=True,
    )
    result: dict[str, Any] = {"shape": {**s, "days": args.days}, "trail": made, "layouts": {}}
    lakes = {}
    for layout in LAYOUTS:
        lake = work / f"lake-{layout.replace(',', '-')}"
        shutil.rmtree(lake, ignore_errors=True)
        ingest_s, summary, _ = run_cli(
            ["ingest", str(root), "--lake", str(lake), "--partition-by", layout, "--no-progress"]
        )
        assert summary["events"] == made["events"], summary
        files_ingested, _ = lake_files(lake)
        compact_s, _, _ = run_cli(["compact", "--lake", str(lake), "--retain", "0"])
        files, size = lake_files(lake)
        lakes[layout] = lake
        result["layouts"][layout] = {
            "ingest_s": ingest_s,
            "files_ingested": files_ingested,
            "compact_s": compact_s,
            "files": files,
            "bytes": size,
            "duckdb_s": {},
            "pyarrow_s": {},
        }
        print(
            f"{layout:>20}: ingest {ingest_s:6.1f} s ({files_ingested:,} files), compact {compact_s:6.1f} s: "
            f"{files:,} files, {size / 2**20:,.0f} MiB",
            flush=True,
        )
    first = LAST_DAY - dt.timedelta(days=args.days - 1)
    sql = queries(first, LAST_DAY)
    arrow = arrow_queries(LAST_DAY)
    cons = {layout: Lake(lake).connect() for layout, lake in lakes.items()}
    datasets = {
        layout: DeltaTable(str(lake / "events")).to_pyarrow_dataset() for layout, lake in lakes.items()
    }
    answers: dict[str, dict[str, Any]] = {name: {} for name in sql}
    try:
        for _ in range(max(3, args.repeat)):  # in turns: this machine's speed drifts within minutes
            for name in sql:
                for layout in LAYOUTS:
                    times = result["layouts"][layout]
                    started = time.perf_counter()
                    rows = sorted(cons[layout].execute(sql[name]).fetchall())
                    elapsed = time.perf_counter() - started
                    times["duckdb_s"][name] = min(times["duckdb_s"].get(name, elapsed), elapsed)
                    answers[name][layout] = rows
                    started = time.perf_counter()
                    arrow[name](datasets[layout])
                    elapsed = time.perf_counter() - started
                    times["pyarrow_s"][name] = min(times["pyarrow_s"].get(name, elapsed), elapsed)
    finally:
        for con in cons.values():
            con.close()
    for name, by_layout in answers.items():
        assert by_layout[LAYOUTS[0]] == by_layout[LAYOUTS[1]], f"{name}: the layouts disagree"
    a, b = (result["layouts"][layout] for layout in LAYOUTS)
    print(f"\n{'':24} {LAYOUTS[0]:>22} {LAYOUTS[1]:>12}   ratio (default / date)")
    print(f"{'data files':24} {a['files']:22,} {b['files']:12,}   {a['files'] / b['files']:.1f}x")
    print(
        f"{'MiB':24} {a['bytes'] / 2**20:22,.1f} {b['bytes'] / 2**20:12,.1f}   {a['bytes'] / b['bytes']:.2f}x"
    )
    print(
        f"{'ingest s':24} {a['ingest_s']:22.1f} {b['ingest_s']:12.1f}   {a['ingest_s'] / b['ingest_s']:.2f}x"
    )
    print(
        f"{'compact s':24} {a['compact_s']:22.1f} {b['compact_s']:12.1f}   {a['compact_s'] / b['compact_s']:.2f}x"
    )
    for engine in ("duckdb_s", "pyarrow_s"):
        label = "DuckDB views" if engine == "duckdb_s" else "pyarrow (deltalake)"
        for name in sql:
            x, y = a[engine][name], b[engine][name]
            print(f"{label + ': ' + name:44} {x * 1000:9.0f} ms {y * 1000:9.0f} ms   {x / y:.2f}x")
    print("(ratio > 1: the date layout is faster or smaller; best of", max(3, args.repeat), "turns)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))

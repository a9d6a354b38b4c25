"""An organization's day (``python bench/run.py --org``): many streams of small files, the shape of a large
organization trail (one file per account and region about every five minutes, a few dozen events each).

Measured in turns on the same generated files, each keeping its best time: the floor (gunzip and split Records
on every core) in files and events per second, trailduck's ingest, and the naive script; then trailduck's no-op
run and its checkpoint (bytes a key). Issue #19's targets on this machine: files/s >= 0.8 of the floor's, events/s
>= 3x the naive script's, <= 20 bytes a key, a no-op run over 1,020 streams and 98,000 keys under 1 s after
start-up.

    python bench/run.py --org                                  # 60 accounts x 17 regions x 96 files x 12 events
    python bench/run.py --org --accounts 10 --files-per-day 48 # a quicker look
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import sys
from pathlib import Path
from typing import Any

from run import floor_all_cores, naive, run_cli, run_measured, timed

from trailduck.synthetic.events import EventFactory, rand_suffix
from trailduck.synthetic.generator import encode_log, folder_sink, log_key

ORG = "o-aa00bb11cc"
REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1",
    "ap-southeast-2", "sa-east-1", "me-south-1",
]  # fmt: skip
#: Yesterday: inside the lookback window, so that the checkpoint keeps its keys and a no-op run lists them all.
DAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def generate_org_day(
    root: Path, accounts: int, regions: int, files: int, events: int, seed: int = 19
) -> dict[str, int]:
    """One day of an organization trail into ``root``: ``files`` files a stream, ``events`` events a file."""
    marker = root / "org.json"
    wanted = {
        "accounts": accounts,
        "regions": regions,
        "files_per_day": files,
        "events_per_file": events,
        "day": DAY.isoformat(),
    }
    if marker.exists():
        made = json.loads(marker.read_text())
        if {k: made[k] for k in wanted} == wanted:
            return made
        raise SystemExit(f"{root} holds another organization day ({made}): pick another --trail")
    made_files, made_events, size = write_org_days(root, [DAY], accounts, regions, files, events, seed)
    made = {**wanted, "files": made_files, "events": made_events, "gzip_bytes": size}
    marker.write_text(json.dumps(made))
    return made


def write_org_days(
    root: Path, days: list[dt.date], accounts: int, regions: int, files: int, events: int, seed: int
) -> tuple[int, int, int]:
    """Organization-trail files for ``days`` into ``root``: files, events and gzip bytes written."""
    rng = random.Random(seed)
    sink = folder_sink(root)
    made_files = made_events = size = 0
    for day in days:
        for a in range(accounts):
            account = f"{300000000000 + a:012d}"
            for region in REGIONS[:regions]:
                factory = EventFactory(rng, account, region)
                for i in range(files):
                    delivered = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(
                        minutes=i * 1440 // files + rng.randrange(max(1, 1440 // files))
                    )
                    records = [
                        factory.event(delivered - dt.timedelta(seconds=rng.randint(30, 300)))
                        for _ in range(events)
                    ]
                    body = encode_log(records)
                    sink(log_key(account, region, delivered, rand_suffix(rng), ORG), body)
                    made_files += 1
                    made_events += events
                    size += len(body)
    return made_files, made_events, size


def org_bench(root: Path, work: Path, args: Any) -> None:
    gen_s, made = timed(
        lambda: generate_org_day(root, args.accounts, args.regions, args.files_per_day, args.events_per_file)
    )
    files, events = made["files"], made["events"]
    floors, naives, ingests = [], [], []
    for _ in range(args.repeat):  # taking turns: this machine's speed drifts within minutes
        floors.append(timed(lambda: floor_all_cores(root)))
        shutil.rmtree(work / "naive", ignore_errors=True)
        naives.append(naive(root, work / "naive"))
        shutil.rmtree(work / "lake", ignore_errors=True)
        ingests.append(run_cli(["ingest", str(root), "--lake", str(work / "lake"), "--no-progress"]))
    floor_s, floor_events = min(floors)
    naive_s, naive_events, _ = min(naives)
    ingest_s, summary, rss = min(ingests, key=lambda r: r[0])
    assert floor_events == naive_events == summary["events"] == events, (floor_events, naive_events, summary)
    # A no-op run over the same lake: everything listed, nothing new.
    noop_s, noop, _ = run_cli(["ingest", str(root), "--lake", str(work / "lake"), "--no-progress"])
    startup_s, _, _ = run_measured([sys.executable, "-m", "trailduck", "--version"])
    state = work / "lake" / "_trailduck" / "state.json"
    keys = noop["files_listed"]
    result = {
        **made,
        "generate_s": gen_s,
        "streams": args.accounts * args.regions,
        "floor_s": floor_s,
        "floor_files_per_s": files / floor_s,
        "naive_s": naive_s,
        "trailduck_s": ingest_s,
        "trailduck_files_per_s": files / ingest_s,
        "files_vs_floor": floor_s / ingest_s,
        "events_vs_naive": naive_s / ingest_s,
        "peak_rss_mib": rss / 2**20,
        "phases_s": summary.get("phases"),
        "noop_s": noop_s,
        "noop_past_startup_s": noop_s - startup_s,
        "noop_files_new": noop["files_new"],
        "checkpoint_bytes": state.stat().st_size,
        "checkpoint_bytes_per_key": state.stat().st_size / max(keys, 1),
    }
    print(
        f"organization day: {result['streams']:,} streams, {files:,} files of {args.events_per_file} events "
        f"({events:,} events, {made['gzip_bytes'] / 2**20:.0f} MiB gzip; generated in {gen_s:.0f} s)\n"
        f"floor (gunzip + split, every core)  {floor_s:6.1f} s  {files / floor_s:8,.0f} files/s\n"
        f"naive script                        {naive_s:6.1f} s  {events / naive_s:8,.0f} events/s\n"
        f"trailduck ingest                    {ingest_s:6.1f} s  {files / ingest_s:8,.0f} files/s, "
        f"{events / ingest_s:,.0f} events/s: {result['files_vs_floor']:.2f} of the floor's files/s (target 0.8), "
        f"{result['events_vs_naive']:.1f}x the naive script (target 3x); peak RSS {result['peak_rss_mib']:.0f} MiB\n"
        f"no-op run                           {noop_s:6.1f} s  ({result['noop_past_startup_s']:.2f} s past "
        f"start-up; target 1 s), {noop['files_new']} new\n"
        f"checkpoint                          {state.stat().st_size / 2**20:6.1f} MiB, "
        f"{result['checkpoint_bytes_per_key']:.1f} bytes a key over {keys:,} keys (target 20)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))

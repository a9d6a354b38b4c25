"""What the tests share: a fixed clock, small trails, the real command, and reading a lake back."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb

from trailduck.crashpoints import ENV
from trailduck.lake.folder import Lake
from trailduck.lake.table import current_files, read_facts
from trailduck.scanner.keys import ACCOUNT_RE, REGION_RE
from trailduck.synthetic.generator import Manifest, TrailSpec


def query(lake: Path, sql: str) -> list[tuple[Any, ...]]:
    con = Lake(lake).connect(read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def facts_disagreeing(lake: Lake, dataset: str = "events") -> list[str]:
    """The files of the table's current version whose commit says another size, time (beyond a minute) or
    statistics than the file itself (read back now); a file the log's adds and removes leave that the table's
    current version does not hold, or the reverse; and a table without files."""
    adds: dict[str, dict[str, Any]] = {}
    for key in lake.storage.keys(f"{dataset}/_delta_log", "*.json"):
        for line in (lake.storage.read(key) or b"").decode().splitlines():
            action = json.loads(line)
            if "add" in action:
                adds[action["add"]["path"]] = action["add"]
            elif "remove" in action:
                del adds[action["remove"]["path"]]
    current = [f.path.removeprefix(f"{dataset}/") for f in current_files(lake, dataset)]
    wrong = [path for path in current if path not in adds] + [path for path in adds if path not in current]
    if not current:
        wrong.append(f"no file in the {dataset} table")
    for path, add in adds.items():
        facts = read_facts(lake, f"{dataset}/{path}")
        if (add["size"], json.loads(add["stats"])) != (facts.size, json.loads(facts.stats)) or abs(
            add["modificationTime"] - facts.modification_time
        ) > 60_000:
            wrong.append(path)
    return wrong


def lake_snapshot(lake: Path) -> dict[str, Any]:
    """Everything a second run must leave unchanged: the data files and their content."""
    files = sorted(p.relative_to(lake).as_posix() for p in (lake / "events").rglob("*.parquet"))
    rows = query(lake, "SELECT source_key, eventID, md5(event_json::VARCHAR) FROM events ORDER BY ALL")
    return {"files": files, "rows": rows}


def count(lake: Path, view: str = "events") -> int:
    return query(lake, f"SELECT count(*) FROM {view}")[0][0]


def connect(lake: Path) -> duckdb.DuckDBPyConnection:
    return Lake(lake).connect(read_only=True)


TODAY = dt.date(2024, 3, 10)
NOW = dt.datetime(2024, 3, 10, 18, 0, tzinfo=dt.UTC)


def small_spec(**kw: Any) -> TrailSpec:
    # Digests every 6 hours instead of CloudTrail's hourly: the same chains, a sixth of the PUTs to the S3 server.
    base: dict[str, Any] = {
        "end": TODAY,
        "days": 3,
        "files_per_day": 3,
        "events_per_file": (3, 12),
        "digest_every": dt.timedelta(hours=6),
    }
    base.update(kw)
    return TrailSpec(**base)


def ingest_cmd(source: Path, lake: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "trailduck",
        "ingest",
        str(source),
        "--lake",
        str(lake),
        "--json",
        "--concurrency",
        "4",
    ]


def run_cli(source: Path, lake: Path, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if crash_at:
        env[ENV] = crash_at
    return subprocess.run(
        ingest_cmd(source, lake), env=env, capture_output=True, text=True, timeout=600, check=False
    )


def expected(manifest: Manifest) -> Counter[tuple[str, str]]:
    return Counter(
        (key, json.dumps(rec, sort_keys=True))
        for key, recs in manifest.records_by_key.items()
        if "/CloudTrail/" in key
        for rec in recs
    )


def stored(lake: Path) -> Counter[tuple[str, str]]:
    rows = query(lake, "SELECT source_key, event_json::VARCHAR FROM events")
    return Counter((key, json.dumps(json.loads(ej), sort_keys=True)) for key, ej in rows)


DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "samples" / "awsdocs_examples"


def sample_lines() -> list[str]:
    files = [DATA / "otrf_ec2_proxy_s3_exfiltration.ndjson"]
    if SHARED.is_dir():
        files += sorted(SHARED.glob("*.events.ndjson"))
    return [
        line.rstrip("\n")
        for f in files
        for line in f.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def lay_out(lines: list[str]) -> dict[str, bytes]:
    """Group events into log objects by (account, region, day), keeping each record's bytes as they are."""
    rng = random.Random(3)
    groups: dict[tuple[str, str, dt.date], list[str]] = {}
    for line in lines:
        ev = json.loads(line)
        account = str(ev.get("recipientAccountId") or (ev.get("userIdentity") or {}).get("accountId") or "")
        account = account if ACCOUNT_RE.fullmatch(account) else "123456789012"
        region = ev.get("awsRegion") if REGION_RE.fullmatch(str(ev.get("awsRegion"))) else "us-east-1"
        day = dt.date.fromisoformat((ev.get("eventTime") or ev.get("@timestamp"))[:10])
        groups.setdefault((account, region, day), []).append(line)
    objects: dict[str, bytes] = {}
    for (account, region, day), events in sorted(groups.items()):
        for i in range(0, len(events), 7):
            suffix = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
            key = (
                f"AWSLogs/{account}/CloudTrail/{region}/{day:%Y/%m/%d}/"
                f"{account}_CloudTrail_{region}_{day:%Y%m%d}T2355Z_{suffix}.json.gz"
            )
            objects[key] = gzip.compress(('{"Records":[' + ",".join(events[i : i + 7]) + "]}").encode())
    return objects


def empty_lake(root: Path) -> Path:
    """A lake with its two tables and no data, as a first ingest of an empty trail leaves one."""
    from trailduck.lake.layout import DATASETS
    from trailduck.lake.table import create_table

    lake = Lake(root)
    lake.create()
    for dataset in DATASETS:
        create_table(lake, dataset)
    return lake.root

"""Compaction (Delta optimize + vacuum): fewer files, the same rows, atomic for readers, idempotent and
crash-safe, replaced files kept for --retain."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.helpers import NOW, query, small_spec
from trailduck.crashpoints import ENV
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.lake.compact import compact
from trailduck.lake.folder import Lake
from trailduck.lake.table import current_files
from trailduck.synthetic.generator import folder_sink, write_trail


def fragmented_lake(tmp_path: Path, runs: int = 4) -> tuple[Path, Path, int]:
    """A lake whose partitions hold one file per run: a day of deliveries ingested run by run."""
    root, lake = tmp_path / "bucket", tmp_path / "lake"
    total = 0
    for i in range(runs):
        spec = small_spec(days=2, files_per_day=2, seed=100 + i, insights=False, digests=False)
        total += write_trail(spec, folder_sink(root)).events
        ingest(IngestOptions(source=str(root), lake=lake), now=NOW + dt.timedelta(minutes=i))
    return root, lake, total


def rows(lake: Path) -> Counter[str]:
    return Counter(r[0] for r in query(lake, "SELECT event_json::VARCHAR FROM events"))


def per_partition(lake: Path) -> Counter[str]:
    """Files per partition in the events table now (what readers read)."""
    return Counter(f.path.rsplit("/", 1)[0] for f in current_files(Lake(lake), "events"))


def on_disk(lake: Path) -> set[Path]:
    return set((lake / "events").rglob("*.parquet"))


def test_compaction_merges_files_and_keeps_every_row(tmp_path: Path) -> None:
    root, lake, total = fragmented_lake(tmp_path)
    before = rows(lake)
    assert sum(before.values()) == total and max(per_partition(lake).values()) == 4
    files_before = on_disk(lake)
    summary = compact(Lake(lake))
    partitions = len(per_partition(lake))
    assert summary.partitions_compacted == sum(
        1
        for n in Counter(
            f.rsplit("/", 1)[0] for f in (str(p.relative_to(lake / "events")) for p in files_before)
        ).values()
        if n > 1
    )
    assert summary.partitions_compacted >= partitions - 2 and summary.files_vacuumed == 0
    assert set(per_partition(lake).values()) == {1}
    assert rows(lake) == before
    # The replaced files stay on disk for --retain (24 h by default), for queries that still read them.
    assert files_before <= on_disk(lake)
    version = DeltaTable(str(lake / "events")).version()
    again = compact(Lake(lake))  # idempotent: nothing to merge, no commit
    assert again.partitions_compacted == 0 and again.files_after == 0 and rows(lake) == before
    assert DeltaTable(str(lake / "events")).version() == version
    # Ingest still knows what is done, and adds to compacted partitions normally.
    assert ingest(IngestOptions(source=str(root), lake=lake), now=NOW + dt.timedelta(hours=1)).files_new == 0


def test_vacuum_deletes_replaced_files_older_than_the_retention(tmp_path: Path) -> None:
    _, lake, _ = fragmented_lake(tmp_path, runs=3)
    before = rows(lake)
    replaced = on_disk(lake)
    compact(Lake(lake))
    assert replaced <= on_disk(lake)
    summary = compact(Lake(lake), retain=dt.timedelta(0))
    assert summary.files_vacuumed == len(
        replaced - {Path(lake / f.path) for f in current_files(Lake(lake), "events")}
    )
    assert on_disk(lake) == {lake / f.path for f in current_files(Lake(lake), "events")}
    assert rows(lake) == before


def test_vacuum_deletes_files_no_commit_named_once_older_than_the_retention(tmp_path: Path) -> None:
    # What a Dask task that went on writing after its run failed leaves on S3: a data file under a run's name that
    # no commit names (readers never see it; compaction's vacuum deletes it once older than --retain).
    _, lake, _ = fragmented_lake(tmp_path, runs=1)
    before = rows(lake)
    named = on_disk(lake)
    some = sorted(named)[0]
    old = some.with_name("part-20260101T000000Z-deadbeef-t0001-abcdef12-00001.parquet")
    young = some.with_name("part-20260101T000000Z-deadbeef-t0002-abcdef12-00001.parquet")
    for orphan in (old, young):
        orphan.write_bytes(some.read_bytes())
    two_days_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).timestamp()
    os.utime(old, (two_days_ago, two_days_ago))
    summary = compact(Lake(lake))  # --retain 24h
    assert summary.files_vacuumed == 1
    assert on_disk(lake) == named | {young}
    assert rows(lake) == before  # never read: the tables name neither


def test_compaction_respects_the_day_range(tmp_path: Path) -> None:
    _, lake, _ = fragmented_lake(tmp_path, runs=2)
    before = per_partition(lake)
    summary = compact(Lake(lake), since=dt.date(2024, 3, 10), until=dt.date(2024, 3, 10))
    after = per_partition(lake)
    assert summary.partitions_compacted > 0
    for folder, n in after.items():
        assert n == (1 if folder.endswith("date=2024-03-10") else before[folder])
    assert any(n > 1 for n in after.values())  # days outside the range were left as they were


@pytest.mark.parametrize("point", ["compact_committed"])
def test_a_killed_compaction_leaves_a_complete_lake(tmp_path: Path, point: str) -> None:
    _, lake, _ = fragmented_lake(tmp_path)
    before = rows(lake)
    env = {**os.environ, ENV: point}
    killed = subprocess.run(
        [sys.executable, "-m", "trailduck", "compact", "--lake", str(lake), "--retain", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert rows(lake) == before  # readable and complete before the next run
    assert DeltaTable(str(lake / "events")).to_pyarrow_table().num_rows == sum(before.values())
    env.pop(ENV)
    done = subprocess.run(
        [sys.executable, "-m", "trailduck", "compact", "--lake", str(lake), "--json", "--retain", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["files_vacuumed"] > 0  # the files the killed run replaced
    assert rows(lake) == before and set(per_partition(lake).values()) == {1}
    assert on_disk(lake) == {lake / f.path for f in current_files(Lake(lake), "events")}


_COUNTER = """
import sys, pathlib
from deltalake import DeltaTable
import trailduck
from trailduck.errors import LakeError
lake, stop = sys.argv[1], pathlib.Path(sys.argv[2])
while not stop.exists():
    try:
        con = trailduck.open_lake(lake).connect()
    except LakeError:  # the database is being rewritten by the compaction's view refresh: try again
        continue
    print("views", con.execute("SELECT count(*) FROM events").fetchone()[0], flush=True)
    con.close()
    print("delta", DeltaTable(lake + "/events").to_pyarrow_table(columns=["eventID"]).num_rows, flush=True)
"""


def test_readers_never_see_both_sets_or_neither(tmp_path: Path) -> None:
    _, lake, total = fragmented_lake(tmp_path, runs=6)
    stop = tmp_path / "stop"
    # Another process counts in a loop, through trailduck's views and through an independent Delta reader.
    reader = subprocess.Popen(
        [sys.executable, "-c", _COUNTER, str(lake), str(stop)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout is not None
        first = reader.stdout.readline()  # counting has begun
        compact(Lake(lake))
        assert set(per_partition(lake).values()) == {1}
        stop.touch()
        out, _ = reader.communicate(timeout=120)
    finally:
        stop.touch()
        reader.kill()
    counts = [line.split() for line in [first, *out.splitlines()]]
    assert {kind for kind, _ in counts} == {"views", "delta"}
    assert {int(n) for _, n in counts} == {total}


def test_compacting_a_missing_lake_is_a_clear_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from trailduck.cli.app import app

    result = CliRunner().invoke(app, ["compact", "--lake", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "no such lake" in result.stderr


@pytest.mark.parametrize("retain", ["1w", "-1h", "h", "1.5h", "forever"])
def test_a_bad_retention_is_a_usage_error(tmp_path: Path, retain: str) -> None:
    from typer.testing import CliRunner

    from trailduck.cli.app import app

    _, lake, _ = fragmented_lake(tmp_path, runs=1)
    version = DeltaTable(str(lake / "events")).version()
    result = CliRunner().invoke(app, ["compact", "--lake", str(lake), "--retain", retain])
    assert result.exit_code == 2 and "--retain" in result.stderr and "24h or 7d" in result.stderr
    assert DeltaTable(str(lake / "events")).version() == version

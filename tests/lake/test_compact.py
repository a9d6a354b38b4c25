"""Compaction: fewer files, the same rows, atomic for readers, idempotent and crash-safe."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from tests.helpers import NOW, query, small_spec
from trailduck.crashpoints import ENV
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.lake.compact import compact
from trailduck.lake.folder import Lake
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


def per_partition(lake: Path) -> Counter[Path]:
    return Counter(p.parent for p in (lake / "events").rglob("*.parquet"))


def test_compaction_merges_files_and_keeps_every_row(tmp_path: Path) -> None:
    root, lake, total = fragmented_lake(tmp_path)
    before = rows(lake)
    assert sum(before.values()) == total and max(per_partition(lake).values()) == 4
    summary = compact(Lake(lake))
    partitions = len(per_partition(lake))
    assert summary.partitions_compacted + summary.partitions_already_compact == partitions
    assert summary.partitions_compacted >= partitions - 2
    assert set(per_partition(lake).values()) == {1}
    assert rows(lake) == before
    assert not (lake / "_trailduck" / "compact").exists()
    again = compact(Lake(lake))  # idempotent
    assert again.partitions_compacted == 0 and rows(lake) == before
    # Ingest still knows what is done, and adds to compacted partitions normally.
    assert ingest(IngestOptions(source=str(root), lake=lake), now=NOW + dt.timedelta(hours=1)).files_new == 0


def test_compaction_respects_the_day_range(tmp_path: Path) -> None:
    _, lake, _ = fragmented_lake(tmp_path, runs=2)
    before = per_partition(lake)
    summary = compact(Lake(lake), since=dt.date(2024, 3, 10), until=dt.date(2024, 3, 10))
    after = per_partition(lake)
    assert summary.partitions_compacted > 0
    for folder, n in after.items():
        assert n == (1 if folder.name == "date=2024-03-10" else before[folder])
    assert any(n > 1 for n in after.values())  # days outside the range were left as they were


@pytest.mark.parametrize("point", ["compact_merged", "compact_swapped", "compact_swapped:3"])
def test_a_killed_compaction_leaves_a_complete_lake(tmp_path: Path, point: str) -> None:
    _, lake, total = fragmented_lake(tmp_path)
    before = rows(lake)
    env = {**os.environ, ENV: point}
    killed = subprocess.run(
        [sys.executable, "-m", "trailduck", "compact", "--lake", str(lake)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert rows(lake) == before  # readable and complete even before the next run cleans up
    env.pop(ENV)
    done = subprocess.run(
        [sys.executable, "-m", "trailduck", "compact", "--lake", str(lake), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] <= total
    assert rows(lake) == before and set(per_partition(lake).values()) == {1}
    assert not (lake / "_trailduck" / "compact").exists()


def test_readers_never_see_both_sets_or_neither(tmp_path: Path) -> None:
    _, lake, total = fragmented_lake(tmp_path, runs=6)
    glob = f"{lake}/events/*/*/*/*.parquet"
    seen: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        con = duckdb.connect()
        while not stop.is_set():
            # A query that listed a folder before its swap and opens the files after it fails; never wrong.
            with contextlib.suppress(duckdb.IOException):
                seen.append(con.execute(f"SELECT count(*) FROM read_parquet('{glob}')").fetchone()[0])
        con.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        compact(Lake(lake))
    finally:
        stop.set()
        thread.join()
    assert len(seen) > 5 and set(seen) == {total}


def test_compacting_a_missing_lake_is_a_clear_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from trailduck.cli.app import app

    result = CliRunner().invoke(app, ["compact", "--lake", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "no such lake" in result.stderr


def test_compaction_with_a_small_cap_is_idempotent_and_keeps_big_files(tmp_path: Path) -> None:
    _, lake, total = fragmented_lake(tmp_path, runs=6)
    before = rows(lake)
    sizes = sorted(p.stat().st_size for p in (lake / "events").rglob("*.parquet"))
    cap = sizes[len(sizes) // 2] * 3  # some merged files reach half the cap, so they count as done
    first = compact(Lake(lake), max_file_bytes=cap)
    assert first.partitions_compacted > 0 and rows(lake) == before
    layout = sorted((p.relative_to(lake), p.stat().st_ino) for p in (lake / "events").rglob("*.parquet"))
    second = compact(Lake(lake), max_file_bytes=cap)
    assert second.partitions_compacted == 0  # nothing left to merge: nothing rewritten
    assert (
        sorted((p.relative_to(lake), p.stat().st_ino) for p in (lake / "events").rglob("*.parquet")) == layout
    )
    assert rows(lake) == before and sum(before.values()) == total

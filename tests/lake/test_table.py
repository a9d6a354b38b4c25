"""The lake's Delta Lake tables: what other readers see, runs as commits, an earlier lake made a table in place,
and the tables trailduck refuses to write into."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from typer.testing import CliRunner

from tests.helpers import NOW, count, facts_disagreeing, query, small_spec
from trailduck.cli.app import app
from trailduck.convert.schema import EVENT_SCHEMA
from trailduck.errors import LakeError, StateError
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.lake import table as table_module
from trailduck.lake.folder import Lake
from trailduck.lake.table import APP_ID, TABLE_SCHEMA, add_record, current_files
from trailduck.synthetic.generator import Manifest, folder_sink, write_trail

runner = CliRunner()


def delta_ids(lake: Path, dataset: str = "events") -> Counter[str]:
    table = DeltaTable(str(lake / dataset)).to_pyarrow_table(columns=["eventID"])
    return Counter(table.column("eventID").to_pylist())


def test_independent_readers_see_exactly_the_rows_trailduck_sql_sees(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = local_trail
    lake = tmp_path / "lake"
    summary = ingest(IngestOptions(source=str(root), lake=lake), now=NOW)
    assert summary.events == manifest.events and summary.insight_events == manifest.insight_events
    sql = Counter(r[0] for r in query(lake, "SELECT eventID FROM events"))
    assert sum(sql.values()) == summary.events
    assert delta_ids(lake) == sql
    # Polars, by the README's one line; the partition values stay strings.
    frame = pl.scan_delta(str(lake / "events")).select("eventID", "account", "date").collect()
    assert Counter(frame["eventID"].to_list()) == sql
    assert frame.schema["account"] == pl.String
    by_partition = Counter(zip(frame["account"].to_list(), frame["date"].to_list(), strict=True))
    assert by_partition == Counter(
        {(a, d): n for a, d, n in query(lake, "SELECT account, date, count(*) FROM events GROUP BY ALL")}
    )
    # Insights too, and each table names its run's sequence as trailduck's application transaction.
    assert delta_ids(lake, "insights") == Counter(r[0] for r in query(lake, "SELECT eventID FROM insights"))
    for dataset in ("events", "insights"):
        assert DeltaTable(str(lake / dataset)).transaction_version(APP_ID) == 1
    assert json.loads((lake / "_trailduck" / "state.json").read_text())["sequence"] == 1


def test_one_run_is_one_commit_and_a_run_with_nothing_new_commits_nothing(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, _ = local_trail
    lake = tmp_path / "lake"
    ingest(IngestOptions(source=str(root), lake=lake), now=NOW)
    table = DeltaTable(str(lake / "events"))
    history = table.history()
    assert [h["operation"] for h in history] == ["WRITE", "CREATE TABLE"]
    version = table.version()
    again = ingest(IngestOptions(source=str(root), lake=lake), now=NOW + dt.timedelta(hours=1))
    assert again.files_new == 0 and again.parquet_files_written == 0
    assert DeltaTable(str(lake / "events")).version() == version


def test_statistics_give_engines_each_files_rows_and_time_range(lake: Path) -> None:
    actions = pa.table(DeltaTable(str(lake / "events")).get_add_actions(flatten=True))
    assert actions.num_rows == len(current_files(Lake(lake), "events"))
    for path, rows, low, high in zip(
        actions["path"].to_pylist(),
        actions["num_records"].to_pylist(),
        actions["min.eventTime"].to_pylist(),
        actions["max.eventTime"].to_pylist(),
        strict=True,
    ):
        data = pq.read_table(lake / "events" / path, columns=["eventTime"]).column("eventTime")
        assert rows == len(data)
        # Whole milliseconds, widened: never narrower than the file's own range.
        assert low <= pa.compute.min(data).as_py() and high >= pa.compute.max(data).as_py()


def test_the_commit_says_of_each_file_what_the_file_says(lake: Path) -> None:
    """Sizes, times and statistics come from the writers that closed the files; read back, every file agrees."""
    opened = Lake(lake)
    assert len(current_files(opened, "events")) > 2
    assert facts_disagreeing(opened) == [] and facts_disagreeing(opened, "insights") == []


def test_a_run_reads_no_file_back_to_commit_it(
    local_trail: tuple[Path, Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its writers knew each file's size and footer: reading them back cost three requests a file on S3. (Only a
    lake of an earlier trailduck, adopted as a table, has its files read.)"""
    read: list[str] = []
    real = table_module.read_facts
    monkeypatch.setattr(table_module, "read_facts", lambda lake, key: read.append(key) or real(lake, key))
    summary = ingest(IngestOptions(source=str(local_trail[0]), lake=tmp_path / "lake"), now=NOW)
    assert summary.parquet_files_written > 2 and read == []
    monkeypatch.setattr(table_module, "read_facts", real)
    assert facts_disagreeing(Lake(tmp_path / "lake")) == []


def test_views_never_read_a_file_that_no_commit_names(lake: Path) -> None:
    before = count(lake)
    partition = (lake / current_files(Lake(lake), "events")[0].path).parent
    stray = partition / "part-20000101T000000Z-deadbeef-00001.parquet"
    shutil.copy(next(partition.glob("*.parquet")), stray)  # a file no commit names (a crashed writer's, say)
    assert runner.invoke(app, ["views", "--refresh", "--lake", str(lake)]).exit_code == 0
    assert count(lake) == before
    assert sum(delta_ids(lake).values()) == before


def _as_an_earlier_trailduck_left_it(lake: Path) -> None:
    """What a lake of the previous release looked like: the same folders and files, no Delta log, a
    checkpoint without a sequence number, views reading through globs."""
    for dataset in ("events", "insights"):
        shutil.rmtree(lake / dataset / "_delta_log", ignore_errors=True)
    state = lake / "_trailduck" / "state.json"
    data = json.loads(state.read_text())
    data.pop("sequence")
    state.write_text(json.dumps(data))


def test_a_lake_of_an_earlier_trailduck_becomes_a_table_in_place(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, _ = local_trail
    lake = tmp_path / "lake"
    first = ingest(IngestOptions(source=str(root), lake=lake), now=NOW)
    _as_an_earlier_trailduck_left_it(lake)
    files = {p: p.stat().st_ino for p in lake.rglob("*.parquet") if "_trailduck" not in p.parts}
    # Read as before, until it is written to.
    assert count(lake) == first.events and not (lake / "events" / "_delta_log").exists()
    more = small_spec(seed=99, days=1)
    write_trail(more, folder_sink(root))
    second = ingest(IngestOptions(source=str(root), lake=lake), now=NOW + dt.timedelta(hours=1))
    assert second.upgraded == ["events", "insights"]
    # No byte copied: the same files (same inodes), now named by the table, plus the new run's.
    assert {f: f.stat().st_ino for f in files} == files
    table_files = {lake / f.path for f in current_files(Lake(lake), "events")}
    assert {f for f in files if f.parts[len(lake.parts)] == "events"} <= table_files
    assert count(lake) == first.events + second.events == sum(delta_ids(lake).values())
    assert DeltaTable(str(lake / "events")).transaction_version(APP_ID) == 1


def test_a_checkpoint_older_than_the_tables_is_refused(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, _ = local_trail
    lake = tmp_path / "lake"
    ingest(IngestOptions(source=str(root), lake=lake), now=NOW)
    state = lake / "_trailduck" / "state.json"
    backup = state.read_text()
    write_trail(small_spec(seed=5, days=1), folder_sink(root))
    ingest(IngestOptions(source=str(root), lake=lake), now=NOW + dt.timedelta(hours=1))
    before = count(lake)
    state.write_text(backup)  # a restore from last night's backup
    with pytest.raises(StateError, match=r"older than the lake .*trailduck state rebuild --force"):
        ingest(IngestOptions(source=str(root), lake=lake), now=NOW + dt.timedelta(hours=2))
    assert count(lake) == before
    assert runner.invoke(app, ["state", "rebuild", "--force", "--lake", str(lake)]).exit_code == 0
    after = ingest(IngestOptions(source=str(root), lake=lake), now=NOW + dt.timedelta(hours=3))
    assert after.events == 0 and count(lake) == before


def test_a_delta_table_made_by_another_tool_is_never_written(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, _ = local_trail
    lake = tmp_path / "lake"
    write_deltalake(str(lake / "events"), pa.table({"id": [1, 2], "name": ["a", "b"]}))
    version = DeltaTable(str(lake / "events")).version()
    result = runner.invoke(app, ["ingest", str(root), "--lake", str(lake), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "a Delta table that trailduck did not make (columns id, name" in result.stderr
    assert "choose another --lake" in result.stderr and "Traceback" not in result.output
    assert DeltaTable(str(lake / "events")).version() == version
    assert not list((lake / "events").rglob("account=*"))


def test_a_damaged_delta_log_is_named_and_nothing_is_guessed(lake: Path, tmp_path: Path) -> None:
    log = lake / "events" / "_delta_log"
    commit = sorted(log.glob("*.json"))[-1]
    commit.write_text("{not json")
    before = {p: p.read_bytes() for p in log.iterdir()}
    result = runner.invoke(app, ["sql", "SELECT count(*) FROM events", "--lake", str(lake)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{commit}: a commit of the Delta log that cannot be read" in result.stderr
    with pytest.raises(LakeError, match="a commit of the Delta log that cannot be read"):
        ingest(IngestOptions(source=str(tmp_path / "bucket"), lake=lake), now=NOW)
    assert {p: p.read_bytes() for p in log.iterdir()} == before


@pytest.mark.parametrize("uri", ["gs://bucket/lake", "https://example.com/lake"])
def test_a_url_lake_is_refused_and_no_local_folder_is_made(tmp_path: Path, uri: str) -> None:
    os.chdir(tmp_path)
    for command in (["ingest", str(tmp_path)], ["sql", "SELECT 1"], ["compact"], ["state", "show"]):
        result = runner.invoke(app, [*command, "--lake", uri])
        assert result.exit_code == 2, (command, result.output)
        assert "give a local folder or s3://bucket/prefix; other URLs are not supported" in result.stderr
        assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_table_schema_is_the_file_schema_and_string_partitions() -> None:
    assert TABLE_SCHEMA.names == [*EVENT_SCHEMA.names, "account", "region", "date"]
    assert all(TABLE_SCHEMA.field(k).type == pa.string() for k in ("account", "region", "date"))


def test_a_commit_written_ahead_by_a_writer_that_lost_the_lake_is_rolled_back(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    """A writer stalled past its lease wakes up after another run committed the same sequence number and writes
    its commit ahead: the next run must roll it back, never commit it on top (duplicates, or files deleted)."""
    root, _ = local_trail
    lake_dir = tmp_path / "lake"
    ingest(IngestOptions(source=str(root), lake=lake_dir), now=NOW)
    before = count(lake_dir)
    lake = Lake(lake_dir)
    saved = lake.state_store().load()
    assert saved is not None and saved.sequence == 1
    # The stale writer: its own copy of a data file, and a commit ahead for the sequence already taken.
    partition = (lake_dir / current_files(lake, "events")[0].path).parent
    stale = partition / "part-20000101T000000Z-5ta1e000-00001.parquet"
    shutil.copy(next(partition.glob("*.parquet")), stale)
    run_id = "20000101T000000Z-5ta1e000"
    lake.begin_run(run_id, lake.state_store().location)
    lake.prepare_commit(run_id, lake.state_store().location, saved, [add_record(lake, lake.relative(stale))])
    again = ingest(IngestOptions(source=str(root), lake=lake_dir), now=NOW + dt.timedelta(hours=1))
    assert again.rolled_back_runs == [run_id] and again.finished_runs == []
    assert not stale.exists() and count(lake_dir) == before == sum(delta_ids(lake_dir).values())


def test_recovery_never_deletes_a_file_a_table_names(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    """A marker without a commit ahead whose run a table names (the checkpoint lost track of it): a clear error,
    nothing deleted; never a guess."""
    root, _ = local_trail
    lake_dir = tmp_path / "lake"
    first = ingest(IngestOptions(source=str(root), lake=lake_dir), now=NOW)
    lake = Lake(lake_dir)
    lake.begin_run(first.run_id, lake.state_store().location)
    state = lake_dir / "_trailduck" / "state.json"
    data = json.loads(state.read_text())
    data["runs"] = []
    state.write_text(json.dumps(data))
    before = sorted(lake_dir.rglob("*.parquet"))
    with pytest.raises(
        StateError, match=rf"the interrupted run {first.run_id} has no commit written ahead, yet"
    ):
        ingest(IngestOptions(source=str(root), lake=lake_dir), now=NOW + dt.timedelta(hours=1))
    assert sorted(lake_dir.rglob("*.parquet")) == before and count(lake_dir) == first.events

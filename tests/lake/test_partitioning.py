"""A lake partitioned by date (``--partition-by date``): one folder a day, account and region sorted columns in the
files. The same rows, views, commits, compaction, lineage and DDL as a lake of the default partitioning; chosen
once, when the lake is created, and never mixed."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from tests.helpers import NOW, expected, lake_snapshot, query, small_spec, stored
from trailduck.cli.app import app
from trailduck.errors import ConfigError, ExitCode
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.lake.compact import compact
from trailduck.lake.engines import lake_ddl
from trailduck.lake.folder import Lake
from trailduck.lake.layout import BY_DATE, BY_STREAM, parse_partitioning
from trailduck.lake.lineage import lake_source_keys
from trailduck.lake.rebuild import rebuild_checkpoint
from trailduck.lake.table import TABLE_SCHEMA, current_files, lake_partitioning
from trailduck.lake.views import all_views
from trailduck.scanner.keys import parse_key
from trailduck.synthetic.generator import Manifest, folder_sink, write_trail

runner = CliRunner()
SORT = [("account", "ascending"), ("region", "ascending"), ("eventTime", "ascending")]


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    root = tmp_path_factory.mktemp("trail") / "bucket"
    return root, write_trail(small_spec(detections=True), folder_sink(root))


@pytest.fixture(scope="module")
def lakes(trail: tuple[Path, Manifest], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same trail in a lake of each partitioning (read only: a test that changes one copies it)."""
    base = tmp_path_factory.mktemp("lakes")
    made = {}
    for name in ("account,region,date", "date"):
        made[name] = base / name.replace(",", "-")
        ingest(IngestOptions(source=str(trail[0]), lake=made[name], partition_by=name), now=NOW)
    return made


def copy_of(lake: Path, tmp_path: Path) -> Path:
    shutil.copytree(lake, tmp_path / "lake")
    return tmp_path / "lake"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("date", BY_DATE),
        (" Date ", BY_DATE),
        ("account,region,date", BY_STREAM),
        ("account, region, date", BY_STREAM),
    ],
)
def test_partitionings_by_name(text: str, found: Any) -> None:
    assert parse_partitioning(text) == found and parse_partitioning(found.name) == found


@pytest.mark.parametrize("text", ["", "account", "region,date", "date,account,region", "day", "date=x"])
def test_other_partitionings_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="choose account,region,date or date"):
        parse_partitioning(text)


def test_the_same_rows_in_every_column(lakes: dict[str, Path], trail: tuple[Path, Manifest]) -> None:
    by_stream, by_date = lakes["account,region,date"], lakes["date"]
    assert stored(by_date) == expected(trail[1])
    sql = "SELECT * FROM events ORDER BY eventID, source_key, event_json::VARCHAR"
    con_a, con_b = Lake(by_stream).connect(), Lake(by_date).connect()
    try:
        a, b = con_a.execute(sql), con_b.execute(sql)
        names = [d[0] for d in a.description]
        assert names == [d[0] for d in b.description]  # the same columns, by name and position
        assert a.fetchall() == b.fetchall()
    finally:
        con_a.close()
        con_b.close()
    assert query(by_date, "SELECT count(*) FROM insights") == query(
        by_stream, "SELECT count(*) FROM insights"
    )


def test_every_view_reads_the_same(lakes: dict[str, Path]) -> None:
    """Detections, analysis views and all: they read the same columns, whatever the partitioning."""
    for view in all_views():
        sql = f"SELECT count(*), count(DISTINCT {view.name}::VARCHAR) FROM {view.name}"
        assert query(lakes["date"], sql) == query(lakes["account,region,date"], sql), view.name
    assert query(lakes["date"], "SELECT count(*) FROM cis_4_03_root_account_usage")[0][0] > 0


def test_every_lake_gives_the_columns_in_the_delta_tables_order(
    lakes: dict[str, Path], tmp_path: Path
) -> None:
    """account, region, date last, as Athena, Spark and a lake on S3 give them: DuckDB alone would put Hive
    columns in name order (account, date, region), and a lake partitioned by date has two of them in its files."""
    (tmp_path / "nothing" / "AWSLogs").mkdir(parents=True)
    ingest(IngestOptions(source=str(tmp_path / "nothing"), lake=tmp_path / "empty"), now=NOW)
    for lake in [*lakes.values(), tmp_path / "empty"]:
        for view in ("events", "insights"):
            columns = [row[0] for row in query(lake, f"SELECT column_name FROM (DESCRIBE {view})")]
            assert columns == TABLE_SCHEMA.names, (lake, view)


def test_one_folder_a_day_with_sorted_rows_and_statistics(lakes: dict[str, Path]) -> None:
    lake = Lake(lakes["date"])
    assert lake_partitioning(lake) == BY_DATE
    assert DeltaTable(str(lakes["date"] / "events")).metadata().partition_columns == ["date"]
    files = current_files(lake, "events")
    days = {f.partition["date"] for f in files}
    assert len(files) == len(days) == 3  # one run, one file a day, every account and region in it
    assert {f.path.rsplit("/", 2)[1] for f in files} == {f"date={d}" for d in days}
    for f in files:
        meta = pq.read_metadata(lakes["date"] / f.path)
        table = pq.read_table(lakes["date"] / f.path)
        assert table.schema.names[-2:] == ["account", "region"]
        assert table.equals(table.sort_by(SORT))
        column = meta.schema.names.index("account")
        stats = meta.row_group(0).column(column).statistics
        assert stats.has_min_max and stats.min == min(table["account"].to_pylist())
    # Delta's statistics of each file carry the accounts' and regions' range, for other engines.
    log = (lakes["date"] / "events" / "_delta_log" / f"{1:020d}.json").read_text()
    adds = [json.loads(line)["add"] for line in log.splitlines() if '"add"' in line]
    assert len(adds) == 3
    for add in adds:
        stats = json.loads(add["stats"])
        assert stats["minValues"]["account"] <= stats["maxValues"]["account"]
        assert set(stats["minValues"]) == {"eventTime", "account", "region"}


def test_ingesting_again_changes_nothing(
    lakes: dict[str, Path], trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    lake = copy_of(lakes["date"], tmp_path)
    before = lake_snapshot(lake)
    version = DeltaTable(str(lake / "events")).version()
    again = ingest(IngestOptions(source=str(trail[0]), lake=lake), now=NOW)
    assert again.partition_by == "date" and again.files_new == 0 and again.parquet_files_written == 0
    assert lake_snapshot(lake) == before and DeltaTable(str(lake / "events")).version() == version


def test_a_lake_keeps_its_partitioning(lakes: dict[str, Path], trail: tuple[Path, Manifest]) -> None:
    source = str(trail[0])
    for lake, other in ((lakes["date"], "account,region,date"), (lakes["account,region,date"], "date")):
        before = lake_snapshot(lake)
        result = runner.invoke(app, ["ingest", source, "--lake", str(lake), "--partition-by", other])
        assert result.exit_code == ExitCode.USAGE, result.output
        assert "a lake keeps its partitioning" in result.output and "--partition-by" in result.output
        assert lake_snapshot(lake) == before
    result = runner.invoke(app, ["ingest", source, "--lake", str(lakes["date"]), "--partition-by", "day"])
    assert result.exit_code == ExitCode.USAGE and "choose account,region,date or date" in result.output


def test_a_new_lake_that_found_nothing_keeps_its_partitioning(tmp_path: Path) -> None:
    (tmp_path / "empty" / "AWSLogs").mkdir(parents=True)
    lake = tmp_path / "lake"
    ingest(IngestOptions(source=str(tmp_path / "empty"), lake=lake, partition_by="date"), now=NOW)
    assert lake_partitioning(Lake(lake)) == BY_DATE
    with pytest.raises(ConfigError, match="partitioned by date"):
        ingest(IngestOptions(source=str(tmp_path / "empty"), lake=lake, partition_by="account,region,date"))


def test_compaction_sorts_each_day_whole(tmp_path: Path) -> None:
    root, lake = tmp_path / "bucket", tmp_path / "lake"
    for i in range(3):
        spec = small_spec(days=2, files_per_day=2, seed=100 + i, insights=False, digests=False)
        write_trail(spec, folder_sink(root))
        ingest(
            IngestOptions(source=str(root), lake=lake, partition_by="date"), now=NOW + dt.timedelta(minutes=i)
        )
    rows = stored(lake)
    before = current_files(Lake(lake), "events")
    summary = compact(Lake(lake), now=NOW + dt.timedelta(hours=1))
    after = current_files(Lake(lake), "events")
    days = {f.partition["date"] for f in after}
    several = [d for d in days if sum(f.partition["date"] == d for f in before) > 1]
    assert len(before) > len(after) == len(days) and summary.partitions_compacted == len(several) >= 2
    assert stored(lake) == rows
    for f in after:
        table = pq.read_table(lake / f.path)
        assert table.equals(table.sort_by(SORT)) and table.num_rows > 0
    again = compact(Lake(lake), now=NOW + dt.timedelta(hours=2))
    assert again.partitions_compacted == 0 and current_files(Lake(lake), "events") == after
    # Replaced files stay for --retain, then go.
    replaced = {f.path for f in before} - {f.path for f in after}
    assert compact(Lake(lake), retain=dt.timedelta(0)).files_vacuumed == len(replaced)
    assert stored(lake) == rows


def test_lineage_and_a_rebuilt_checkpoint(
    lakes: dict[str, Path], trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    keys = sorted(k for k in trail[1].records_by_key if "/CloudTrail/" in k)
    stream = parse_key(keys[0]).stream
    day = parse_key(keys[0]).day
    found = [lake_source_keys(Lake(lakes[name]), stream, None, day) for name in lakes]
    assert found[0] == found[1] and found[0]
    lake = copy_of(lakes["date"], tmp_path)
    rebuilt = rebuild_checkpoint(Lake(lake), force=True)
    assert rebuilt.keys == len({k for k in trail[1].records_by_key if "/CloudTrail" in k})
    again = ingest(IngestOptions(source=str(trail[0]), lake=lake), now=NOW)
    assert again.files_new == 0 and again.parquet_files_written == 0


@pytest.mark.parametrize("engine", ["athena", "trino", "spark"])
def test_other_engines_read_either_from_the_delta_log(lakes: dict[str, Path], engine: str) -> None:
    """The DDL names only where each table is: the engine reads the partitioning from the Delta log."""
    a, b = (lake_ddl(engine, str(lake), "s3://bucket/lake") for lake in lakes.values())
    assert a == b and "PARTITIONED" not in a
    assert DeltaTable(str(lakes["date"] / "insights")).metadata().partition_columns == ["date"]

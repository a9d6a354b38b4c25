"""Spark is a user too: in local mode, it reads the lake's Parquet files as trailduck's own views do.

Spark reads the plain Parquet files here, not the Delta tables: Spark's Delta Lake reader is a jar
(io.delta:delta-spark_2.13) that Spark fetches from Maven at start-up, which the test machines cannot reach.
The README's settings are the ones used: the session in UTC, and partition values kept as strings.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import trailduck
from tests.helpers import NOW, small_spec
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.lake.compact import compact
from trailduck.lake.engines import ddl
from trailduck.lake.layout import EVENTS, PARTITION_FILES
from trailduck.lake.table import current_files
from trailduck.synthetic.generator import Manifest, folder_sink, write_trail

pytestmark = pytest.mark.slow

#: Accounts with leading zeros, which Spark's partition type inference would turn into numbers.
ACCOUNTS = ["000000000000", "012345678901"]


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if shutil.which("java") is None:
        pytest.skip(
            "Spark needs a Java runtime: java is not on PATH (apt-get install openjdk-17-jre-headless)"
        )
    sql = pytest.importorskip("pyspark.sql", reason="pyspark is not installed (pip install -e '.[test]')")
    scratch = tmp_path_factory.mktemp("spark")
    session = (
        sql.SparkSession.builder.master("local[1]")
        .appName("trailduck-test")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.local.dir", str(scratch / "local"))
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={scratch / 'derby'}")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def spark_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    base = tmp_path_factory.mktemp("spark-lake")
    spec = small_spec(accounts=ACCOUNTS, org_accounts=["000000000042"], days=2, digests=False)
    manifest = write_trail(spec, folder_sink(base / "bucket"))
    # Two runs, each with every other file of the trail, so partitions hold two files; then compacted and
    # vacuumed at once: the Parquet files on disk are then exactly the table's, which plain Parquet reads need.
    files = sorted((base / "bucket").rglob("*.json.gz"))
    aside = [(f, f.with_name(f.name + ".aside")) for f in files[::2]]
    for f, hidden in aside:
        f.rename(hidden)
    lake = base / "lake"
    ingest(IngestOptions(source=str(base / "bucket"), lake=lake), now=NOW)
    for f, hidden in aside:
        hidden.rename(f)
    ingest(IngestOptions(source=str(base / "bucket"), lake=lake), now=NOW + dt.timedelta(minutes=5))
    assert compact(trailduck.open_lake(lake), retain=dt.timedelta(0)).partitions_compacted > 0
    table_files = {lake / f.path for f in current_files(trailduck.open_lake(lake), EVENTS)}
    assert set((lake / EVENTS).rglob("*.parquet")) == table_files
    return lake, manifest


def read_events(spark: Any, lake: Path) -> Any:
    folder = trailduck.open_lake(lake).dataset_dir(EVENTS)
    # The partition folders' files only: the table's _delta_log/ (and any file beside the partitions) is not data.
    return spark.read.option("basePath", str(folder)).parquet(str(folder / PARTITION_FILES))


def duckdb_rows(lake: Path, sql: str) -> list[tuple[Any, ...]]:
    con = trailduck.open_lake(lake).connect(read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_spark_reads_what_duckdb_reads(spark: Any, spark_lake: tuple[Path, Manifest]) -> None:
    lake, manifest = spark_lake
    events = read_events(spark, lake)

    (total,) = duckdb_rows(lake, "SELECT count(*) FROM events")[0]
    assert total > 0 and events.count() == total

    by_partition = duckdb_rows(lake, "SELECT account, date, count(*) FROM events GROUP BY ALL ORDER BY ALL")
    spark_partitions = events.groupBy("account", "date").count().orderBy("account", "date").collect()
    assert [tuple(r) for r in spark_partitions] == by_partition
    assert {r[0] for r in by_partition} >= set(ACCOUNTS)  # the leading zeros kept

    types = dict(events.dtypes)
    assert (types["account"], types["region"], types["date"]) == ("string", "string", "string")
    assert types["eventTime"] == "timestamp"

    # eventTime: the same instants as DuckDB's, for every event, and shown in UTC as CloudTrail wrote them.
    duck_times = dict(duckdb_rows(lake, "SELECT eventID, epoch_us(eventTime) FROM events"))
    spark_rows = events.selectExpr(
        "eventID", "unix_micros(eventTime)", "date_format(eventTime, \"yyyy-MM-dd'T'HH:mm:ss'Z'\")"
    ).collect()
    assert {r[0]: r[1] for r in spark_rows} == duck_times
    shown = {r[0]: r[2] for r in spark_rows}
    written = {
        rec["eventID"]: rec["eventTime"]
        for key, recs in sorted(manifest.records_by_key.items())
        if "/CloudTrail/" in key
        for rec in recs[:2]
    }
    assert written and {i: shown[i] for i in written} == written
    day = dt.datetime.fromtimestamp(spark_rows[0][1] / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert day == spark_rows[0][2]


def test_without_the_setting_spark_reads_accounts_as_numbers(
    spark: Any, spark_lake: tuple[Path, Manifest]
) -> None:
    """Why the README asks for partitionColumnTypeInference.enabled=false: account 000000000000 becomes 0."""
    lake, _ = spark_lake
    key = "spark.sql.sources.partitionColumnTypeInference.enabled"
    spark.conf.set(key, "true")
    try:
        events = read_events(spark, lake)
        assert dict(events.dtypes)["account"] in ("int", "bigint")
        assert {r[0] for r in events.select("account").distinct().collect()} >= {0, 12345678901}
    finally:
        spark.conf.set(key, "false")


def test_spark_parses_the_ddl_and_lacks_only_delta_lake(spark: Any, tmp_path: Path) -> None:
    """`trailduck ddl --engine spark`'s statements parse in Spark; offline, without the Delta Lake jar, the
    CREATE TABLE fails for want of the delta data source, not for its syntax."""
    statements = [
        line for line in ddl("spark", str(tmp_path), database="td_test").splitlines() if line[:2] != "--"
    ]
    spark.sql(statements[0].rstrip(";"))  # CREATE DATABASE
    try:
        for statement in statements[1:]:
            # Spark 4 raises a Java exception here (SparkClassNotFoundException), not a Python AnalysisException.
            try:
                spark.sql(statement.rstrip(";"))
            except Exception as exc:
                said = str(exc)
            else:
                pytest.fail(f"Spark ran {statement} without Delta Lake")
            assert "[DATA_SOURCE_NOT_FOUND]" in said and "data source: delta" in said, said[:500]
    finally:
        spark.sql("DROP DATABASE IF EXISTS td_test CASCADE")

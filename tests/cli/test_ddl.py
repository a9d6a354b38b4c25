"""`trailduck ddl` through typer's runner: the SQL on stdout, exit codes and error text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import empty_lake
from trailduck.cli.app import app
from trailduck.errors import ExitCode

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, ["ddl", *args], env=env)


@pytest.fixture
def local_lake(tmp_path: Path) -> Path:
    return empty_lake(tmp_path / "lake")


def test_athena_from_an_s3_lake_prints_plain_sql() -> None:
    result = invoke("--engine", "athena", "--lake", "s3://my-bucket/cloudtrail-lake/")
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stderr == ""
    assert result.stdout == (
        "CREATE DATABASE IF NOT EXISTS cloudtrail;\n"
        "CREATE EXTERNAL TABLE cloudtrail.events LOCATION 's3://my-bucket/cloudtrail-lake/events/' "
        "TBLPROPERTIES ('table_type'='DELTA');\n"
        "CREATE EXTERNAL TABLE cloudtrail.insights LOCATION 's3://my-bucket/cloudtrail-lake/insights/' "
        "TBLPROPERTIES ('table_type'='DELTA');\n"
    )


def test_spark_reads_a_local_lake_by_its_absolute_path(local_lake: Path) -> None:
    result = invoke("--engine", "spark", "--lake", str(local_lake), "--database", "Audit")
    assert result.exit_code == ExitCode.OK, result.output
    assert (
        f"CREATE TABLE IF NOT EXISTS audit.events USING delta LOCATION '{local_lake}/events';"
        in result.stdout
    )
    assert "spark.sql.session.timeZone=UTC" in result.stdout


def test_the_lake_from_the_environment_may_be_an_s3_uri() -> None:
    result = invoke("--engine", "trino", "--catalog", "lakehouse", env={"TRAILDUCK_LAKE": "s3://bucket/lake"})
    assert result.exit_code == ExitCode.OK, result.output
    assert (
        "CALL lakehouse.system.register_table(schema_name => 'cloudtrail', table_name => 'insights', "
        "table_location => 's3://bucket/lake/insights/');" in result.stdout
    )


def test_a_local_lake_with_a_location(local_lake: Path) -> None:
    result = invoke("--engine", "athena", "--lake", str(local_lake), "--location", "s3://bucket/copy")
    assert result.exit_code == ExitCode.OK, result.output
    assert "LOCATION 's3://bucket/copy/events/'" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--engine", "hive", "--lake", "s3://b-1/p"],
            "error: --engine 'hive': choose athena, trino or spark",
        ),
        (
            ["--engine", "athena", "--lake", "s3://b-1/p", "--database", "my-db"],
            "error: --database 'my-db': give a name of letters, digits and underscores that starts with a letter",
        ),
        (
            ["--engine", "athena", "--lake", "s3://"],
            "error: --lake 's3://': name the bucket, as in s3://bucket/prefix",
        ),
        (
            ["--engine", "spark", "--lake", "s3://b-1/p", "--location", "s3://"],
            "error: --location 's3://': name the bucket",
        ),
        (
            ["--engine", "athena", "--lake", "s3://b-1/it's"],
            'error: --lake "s3://b-1/it\'s": an S3 location for SQL may not contain any of "\'"',
        ),
    ],
)
def test_bad_options(args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    assert result.stderr.startswith(message), result.stderr


def test_athena_and_trino_need_a_location_for_a_local_lake(local_lake: Path) -> None:
    for engine in ("athena", "trino"):
        result = invoke("--engine", engine, "--lake", str(local_lake))
        assert result.exit_code == ExitCode.USAGE
        assert result.stdout == ""
        assert result.stderr.replace("\n", " ").startswith(
            f"error: {local_lake} is a local folder and {engine} reads the lake from S3 only: copy it there "
            f"(aws s3 sync {local_lake} s3://bucket/prefix) and give --location s3://bucket/prefix"
        ), result.stderr


def test_a_lake_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere"
    result = invoke("--engine", "spark", "--lake", str(missing))
    assert result.exit_code == ExitCode.USAGE
    said = result.stderr.replace("\n", " ")
    assert said.startswith(
        f"error: {missing}: no such lake; run `trailduck ingest SOURCE --lake {missing}` first"
    )
    # The default lake, in the folder the command runs in, is named the same way.
    monkeypatch.chdir(tmp_path)
    result = invoke("--engine", "spark")
    assert result.exit_code == ExitCode.USAGE
    assert f"{tmp_path / 'cloudtrail-lake'}: no such lake" in result.stderr.replace("\n", " ")


def test_the_engine_is_required() -> None:
    result = invoke("--lake", "s3://b-1/p")
    assert result.exit_code == ExitCode.USAGE
    assert "--engine" in result.stderr


def test_help_explains() -> None:
    result = runner.invoke(app, ["ddl", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for part in (
        "Delta Lake tables in Athena, Trino or Spark",
        "athena, trino, spark",
        "--location",
        "s3://",
    ):
        assert part in text

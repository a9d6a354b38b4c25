"""The SQL that registers the lake in other engines, and where they find it: pure functions, tables of cases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import empty_lake
from trailduck.errors import ConfigError
from trailduck.lake.engines import (
    ENGINES,
    check_engine,
    check_name,
    ddl,
    lake_ddl,
    lake_location,
    parse_s3_uri,
)
from trailduck.lake.layout import DATASETS


@pytest.mark.parametrize(
    ("engine", "location", "expected"),
    [
        (
            "athena",
            "s3://my-bucket/lake",
            [
                "CREATE DATABASE IF NOT EXISTS cloudtrail;",
                "CREATE EXTERNAL TABLE cloudtrail.events LOCATION 's3://my-bucket/lake/events/' "
                "TBLPROPERTIES ('table_type'='DELTA');",
                "CREATE EXTERNAL TABLE cloudtrail.insights LOCATION 's3://my-bucket/lake/insights/' "
                "TBLPROPERTIES ('table_type'='DELTA');",
            ],
        ),
        (
            "trino",
            "s3://my-bucket",
            [
                "CREATE SCHEMA IF NOT EXISTS delta.cloudtrail;",
                "CALL delta.system.register_table(schema_name => 'cloudtrail', table_name => 'events', "
                "table_location => 's3://my-bucket/events/');",
                "CALL delta.system.register_table(schema_name => 'cloudtrail', table_name => 'insights', "
                "table_location => 's3://my-bucket/insights/');",
            ],
        ),
        (
            "spark",
            "/data/cloudtrail-lake",
            [
                "CREATE DATABASE IF NOT EXISTS cloudtrail;",
                "CREATE TABLE IF NOT EXISTS cloudtrail.events USING delta LOCATION '/data/cloudtrail-lake/events';",
                "CREATE TABLE IF NOT EXISTS cloudtrail.insights USING delta "
                "LOCATION '/data/cloudtrail-lake/insights';",
            ],
        ),
    ],
)
def test_the_statements_of_each_engine(engine: str, location: str, expected: list[str]) -> None:
    assert statements(ddl(engine, location)) == expected


def test_names_options_and_a_trailing_slash() -> None:
    text = ddl("TRINO", "s3://b-1/p/", database="Trail_Logs", catalog="lake2")
    assert statements(text)[:2] == [
        "CREATE SCHEMA IF NOT EXISTS lake2.trail_logs;",
        "CALL lake2.system.register_table(schema_name => 'trail_logs', table_name => 'events', "
        "table_location => 's3://b-1/p/events/');",
    ]
    assert "delta.register-table-procedure.enabled=true" in text


def test_spark_says_the_settings_it_needs() -> None:
    comments = "\n".join(line for line in ddl("spark", "/l").splitlines() if line.startswith("--"))
    for setting in (
        "spark.sql.session.timeZone=UTC",
        "spark.sql.sources.partitionColumnTypeInference.enabled=false",
        "io.delta:delta-spark_2.13",
    ):
        assert setting in comments


def statements(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("--")]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("location", ["s3://bucket/a/b", "s3://bucket", "/srv/lake it's"])
def test_the_sql_is_sane(engine: str, location: str) -> None:
    """Every line a comment or one whole statement ending with ``;``, its quotes balanced; each table's location
    quoted exactly once, the lake's other tables' never inside it."""
    text = ddl(engine, location)
    assert text.endswith("\n") and "{" not in text and "}" not in text
    lines = statements(text)
    assert len(lines) == 1 + len(DATASETS)
    for line in lines:
        assert line.endswith(";") and line.count(";") == 1, line
        assert line.count("'") % 2 == 0, line
    quoted = re.findall(r"'((?:[^']|'')*)'", text)
    for name in DATASETS:
        suffix = "" if engine == "spark" else "/"
        literal = f"{location}/{name}{suffix}".replace("'", "''")
        assert quoted.count(literal) == 1, (literal, quoted)
        assert sum(f".{name} " in line or f"'{name}'" in line for line in lines) == 1


@pytest.mark.parametrize(
    ("text", "engine", "expected"),
    [
        ("s3://bucket", "athena", "s3://bucket"),
        ("s3://bucket/", "athena", "s3://bucket"),
        ("s3://bucket/prefix/lake///", "trino", "s3://bucket/prefix/lake"),
        ("S3://my.bucket-1/Lake", "athena", "s3://my.bucket-1/Lake"),
        ("  s3://bucket/p  ", "athena", "s3://bucket/p"),
        ("s3a://bucket/p/", "spark", "s3a://bucket/p"),
        ("s3://bucket/with space/p", "spark", "s3://bucket/with space/p"),
    ],
)
def test_s3_uris(text: str, engine: str, expected: str) -> None:
    assert parse_s3_uri(text, "--lake", engine) == expected


@pytest.mark.parametrize(
    ("text", "engine", "message"),
    [
        ("s3://", "athena", "name the bucket"),
        ("s3:///prefix", "athena", "name the bucket"),
        ("s3:/bucket/p", "athena", "give s3://bucket/prefix"),
        ("s3:bucket", "athena", "give s3://bucket/prefix"),
        ("s3a://bucket/p", "athena", "athena reads s3:// locations"),
        ("s3a://bucket/p", "trino", "trino reads s3:// locations"),
        ("s3://bucket/it's", "athena", 'may not contain any of "\'"'),
        ('s3://bucket/"x"', "spark", "may not contain any of '\"'"),
        ("s3://bucket/a\\b", "spark", "may not contain any of '\\\\'"),
        ("s3://bucket/a`b", "spark", "may not contain any of '`'"),
        ("s3://bucket/a\nb", "spark", "may not contain any of '\\n'"),
        ("s3://My_Bucket/p", "athena", "'My_Bucket' is not an S3 bucket name"),
        ("s3://ab/p", "athena", "'ab' is not an S3 bucket name"),
        ("s3://a..b/p", "athena", "'a..b' is not an S3 bucket name"),
        ("s3://-bucket/p", "athena", "'-bucket' is not an S3 bucket name"),
    ],
)
def test_bad_s3_uris(text: str, engine: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_s3_uri(text, "--location", engine)
    assert str(raised.value).startswith(f"--location {text!r}: ")
    assert message in str(raised.value)


@given(
    st.from_regex(r"s3://[a-z0-9][a-z0-9-]{1,20}[a-z0-9](/[A-Za-z0-9_.= -]{1,8}){0,3}/{0,2}", fullmatch=True)
)
def test_a_parsed_uri_parses_to_itself(text: str) -> None:
    once = parse_s3_uri(text, "--lake", "athena")
    assert parse_s3_uri(once, "--lake", "athena") == once and not once.endswith("/")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("cloudtrail", "cloudtrail"), ("CloudTrail_2", "cloudtrail_2"), ("a", "a"), ("x" * 255, "x" * 255)],
)
def test_names(name: str, expected: str) -> None:
    assert check_name(name, "--database") == expected


@pytest.mark.parametrize(
    "name", ["", "2024logs", "_private", "a-b", "a.b", "a b", "événements", "x;DROP", "a'b", "x" * 256]
)
def test_bad_names(name: str) -> None:
    with pytest.raises(ConfigError, match=r"^--database .*: give a name of letters, digits and underscores"):
        check_name(name, "--database")
    with pytest.raises(ConfigError, match=r"^--database "):
        ddl("spark", "/lake", database=name)


def test_engines() -> None:
    assert [check_engine(e) for e in ("athena", "Trino", " spark ")] == ["athena", "trino", "spark"]
    with pytest.raises(ConfigError, match=r"^--engine 'hive': choose athena, trino or spark$"):
        check_engine("hive")


@pytest.fixture
def local_lake(tmp_path: Path) -> Path:
    return empty_lake(tmp_path / "lake")


@pytest.mark.parametrize(
    ("engine", "lake", "location", "expected"),
    [
        ("athena", "s3://bucket/lake/", None, "s3://bucket/lake"),
        ("trino", "s3://bucket/lake", "s3://other/copy", "s3://other/copy"),
        ("spark", "s3a://bucket/lake", None, "s3a://bucket/lake"),
        ("athena", "LOCAL", "s3://bucket/copy/", "s3://bucket/copy"),
        ("spark", "LOCAL", None, "LOCAL"),
        ("spark", "LOCAL", "s3://bucket/copy", "s3://bucket/copy"),
    ],
)
def test_where_the_engine_finds_the_lake(
    local_lake: Path, engine: str, lake: str, location: str | None, expected: str
) -> None:
    def local(text: str) -> str:
        return text.replace("LOCAL", local_lake.as_posix())

    assert lake_location(engine, local(lake), location) == local(expected)


def test_the_default_lake_is_an_absolute_path(local_lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(local_lake.parent)
    assert lake_location("spark", "lake") == local_lake.as_posix()
    monkeypatch.setenv("TRAILDUCK_LAKE", "lake")
    assert lake_location("spark") == local_lake.as_posix()


@pytest.mark.parametrize("engine", ["athena", "trino"])
def test_a_local_lake_needs_a_location_for_athena_and_trino(local_lake: Path, engine: str) -> None:
    with pytest.raises(ConfigError) as raised:
        lake_location(engine, str(local_lake))
    assert str(raised.value) == (
        f"{local_lake} is a local folder and {engine} reads the lake from S3 only: copy it there (aws s3 sync "
        f"{local_lake} s3://bucket/prefix) and give --location s3://bucket/prefix"
    )


def test_a_local_lake_that_is_not_there(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(missing))}: no such lake; run `trailduck ingest"
    ):
        lake_location("spark", str(missing), "s3://bucket/copy")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match=r"plain: not a trailduck lake \(.* is missing\); give --lake$"):
        lake_location("spark", str(tmp_path / "plain"))
    (tmp_path / "plain" / "_trailduck").mkdir()  # a lake never ingested into: no tables to register yet
    with pytest.raises(
        ConfigError, match=r"plain: its tables have no Delta log yet .* which makes them in place$"
    ):
        lake_location("spark", str(tmp_path / "plain"))


def test_the_cheap_checks_come_first(tmp_path: Path) -> None:
    """A bad name is told before a missing lake is looked for."""
    with pytest.raises(ConfigError, match=r"^--database"):
        lake_ddl("spark", str(tmp_path / "nowhere"), database="no-dash")
    with pytest.raises(ConfigError, match=r"^--catalog"):
        lake_ddl("trino", "s3://bucket", catalog="1st")
    assert "LOCATION 's3://bucket/events/'" in lake_ddl("athena", "s3://bucket")

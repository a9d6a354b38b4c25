"""A lake folder that is moved or copied reads its own files: through trailduck, and through plain DuckDB."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from tests.conftest import NOW
from tests.helpers import count, query
from trailduck.cli import app
from trailduck.crashpoints import ENV
from trailduck.generator import Manifest
from trailduck.ingest import IngestOptions, ingest
from trailduck.lake import Lake, open_lake

runner = CliRunner()
ACCOUNT = "111122223333"


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture
def lake(local_trail: tuple[Path, Manifest], tmp_path: Path) -> Path:
    root, _ = local_trail
    lake = tmp_path / "lake"
    ingest(IngestOptions(source=str(root), lake=lake), now=NOW)
    return lake


def sql_count(lake: Path, where: str = "true") -> int:
    result = invoke(
        "sql", f"SELECT count(*) AS n FROM events WHERE {where}", "--lake", str(lake), "--format", "json"
    )
    assert result.exit_code == 0, result.output
    return int(json.loads(result.stdout)[0]["n"])


def plain_count(lake: Path) -> int:
    """What the DuckDB CLI or a notebook's duckdb.connect() sees, without trailduck."""
    con = duckdb.connect(str(lake / "trailduck.duckdb"), read_only=True)
    try:
        return int(con.sql("SELECT count(*) FROM events").fetchall()[0][0])
    finally:
        con.close()


def test_every_command_reads_a_moved_lake_where_it_now_is(lake: Path, tmp_path: Path) -> None:
    report_before = json.loads(invoke("report", "--lake", str(lake), "--format", "json").stdout)
    rows = sql_count(lake)
    assert rows > 0
    moved = tmp_path / "moved"
    lake.rename(moved)

    result = invoke("report", "--lake", str(moved), "--format", "json")
    assert result.exit_code == 0, result.output
    assert [(f["id"], f["count"]) for f in json.loads(result.stdout)] == [
        (f["id"], f["count"]) for f in report_before
    ]
    assert sql_count(moved) == rows
    con = open_lake(moved).connect()
    assert con.sql("SELECT count(*) FROM events").fetchall()[0][0] == rows
    con.close()
    # Its files, not the old folder's (which is gone): every row comes from a file below the new folder.
    con = duckdb.connect(str(moved / "trailduck.duckdb"), read_only=True)
    files = con.sql(
        "SELECT DISTINCT filename FROM read_parquet(trailduck_path('events/*/*/*/*.parquet'), filename=true)"
    )
    assert {Path(f).parent.parent.parent.parent.parent for (f,) in files.fetchall()} == {moved}
    con.close()


def test_a_copy_reads_its_own_files_not_the_originals(lake: Path, tmp_path: Path) -> None:
    rows = sql_count(lake)
    mine = sql_count(lake, f"account = '{ACCOUNT}'")
    assert 0 < mine < rows
    copy = tmp_path / "copy"
    shutil.copytree(lake, copy)
    shutil.rmtree(copy / "events" / f"account={ACCOUNT}")

    assert sql_count(copy) == rows - mine
    assert sql_count(lake) == rows  # the original is untouched, views included
    assert plain_count(lake) == rows


@pytest.mark.parametrize("how", ["moved", "copied"])
def test_plain_duckdb_on_a_moved_or_copied_lake_says_how_to_fix_it(
    lake: Path, tmp_path: Path, how: str
) -> None:
    rows = count(lake)
    mine = query(lake, f"SELECT count(*) FROM events WHERE account = '{ACCOUNT}'")[0][0]
    other = tmp_path / how
    if how == "moved":
        lake.rename(other)
    else:
        shutil.copytree(lake, other)
        shutil.rmtree(other / "events" / f"account={ACCOUNT}")  # so reading the original's files would show
    with pytest.raises(duckdb.Error) as caught:
        plain_count(other)
    assert f"trailduck views --refresh --lake {other}" in str(caught.value)
    assert "No files found" not in str(caught.value)

    result = invoke("views", "--refresh", "--lake", str(other))
    assert result.exit_code == 0, result.output
    assert plain_count(other) == (rows if how == "moved" else rows - mine)


def test_a_lake_whose_database_cannot_be_written_gets_views_in_memory(lake: Path, tmp_path: Path) -> None:
    """Another process holding the copy's database open (read-only) keeps trailduck from recreating its views:
    the connection then makes its own, in memory, and still reads the copy's files."""
    rows = count(lake)
    copy = tmp_path / "copy"
    shutil.copytree(lake, copy)
    shutil.rmtree(copy / "events" / f"account={ACCOUNT}")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; c = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); "
            "sys.stdin.read()",
            str(copy / "trailduck.duckdb"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        con = Lake(copy).connect()
        try:
            assert con.sql("SELECT count(*) FROM events").fetchall()[0][0] < rows
            assert (
                con.sql("SELECT count(*) FROM events WHERE account = ?", params=[ACCOUNT]).fetchall()[0][0]
                == 0
            )
            assert con.sql("SELECT count(*) FROM cis_4_03_root_account_usage").fetchall()[0][0] >= 0
        finally:
            con.close()
    finally:
        holder.communicate("")
    assert holder.returncode == 0


def test_an_interrupted_run_in_a_moved_lake_is_rolled_back(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    """The run marker names the lake's own checkpoint relative to the lake, so it still names it after a move."""
    root, manifest = local_trail
    lake = tmp_path / "lake"
    env = {**os.environ, ENV: "parquet_written"}
    command = [sys.executable, "-m", "trailduck", "ingest", str(root), "--json"]
    killed = subprocess.run(
        [*command, "--lake", str(lake)], env=env, capture_output=True, text=True, check=False
    )
    assert killed.returncode != 0 and list((lake / "_trailduck" / "runs").glob("*.run"))
    moved = tmp_path / "moved"
    lake.rename(moved)
    env.pop(ENV)
    result = subprocess.run(
        [*command, "--lake", str(moved)], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rolled_back_runs"]
    rows = sum(len(v) for k, v in manifest.records_by_key.items() if "/CloudTrail/" in k)
    assert count(moved) == rows

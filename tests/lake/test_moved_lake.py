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
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.helpers import count, query
from trailduck.cli.app import app
from trailduck.convert.schema import EVENT_SCHEMA
from trailduck.crashpoints import ENV
from trailduck.lake.folder import Lake, open_lake
from trailduck.lake.table import TABLE_SCHEMA
from trailduck.synthetic.generator import Manifest

runner = CliRunner()
ACCOUNT = "111122223333"


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def sql_count(lake: Path, where: str = "true") -> int:
    result = invoke(
        "sql", f"SELECT count(*) AS n FROM events WHERE {where}", "--lake", str(lake), "--format", "json"
    )
    assert result.exit_code == 0, result.output
    return int(json.loads(result.stdout)[0]["n"])


def parquet_count(lake: Path, account: str = "*") -> int:
    """The rows of the lake's files, read without its views."""
    glob = f"{lake}/events/account={account}/*/*/*.parquet"
    return int(duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}')").fetchall()[0][0])


def hollow(folder: Path) -> None:
    """Empty every data file under ``folder`` (the same schema, no rows), leaving the table's log as it is: a copy
    made this way holds fewer rows than its original, which shows whose files a view reads."""
    for path in folder.rglob("*.parquet"):
        pq.write_table(EVENT_SCHEMA.empty_table(), path)


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
    hollow(copy / "events" / f"account={ACCOUNT}")

    assert sql_count(copy) == rows - mine
    assert sql_count(lake) == rows  # the original is untouched, views included
    assert plain_count(lake) == rows


def _moved_or_copied(lake: Path, tmp_path: Path, how: str) -> tuple[Path, int]:
    """``lake`` moved, or copied with one account's folder deleted (so that reading the original's files would
    show); returns the new folder and the rows it holds."""
    rows, mine = parquet_count(lake), parquet_count(lake, ACCOUNT)
    other = tmp_path / how / "lake"
    other.parent.mkdir()
    if how == "moved":
        lake.rename(other)
        return other, rows
    shutil.copytree(lake, other)
    hollow(other / "events" / f"account={ACCOUNT}")
    return other, rows - mine


@pytest.mark.parametrize("how", ["moved", "copied"])
def test_plain_duckdb_on_a_moved_or_copied_lake_reads_its_own_files(
    lake: Path, tmp_path: Path, how: str
) -> None:
    other, rows = _moved_or_copied(lake, tmp_path, how)
    assert plain_count(other) == rows


@pytest.mark.parametrize("how", ["moved", "copied"])
@pytest.mark.parametrize("where", ["from its parent", "from inside it", "through a link"])
def test_the_duckdb_cli_reads_a_moved_or_copied_lakes_own_files_by_any_path(
    lake: Path, tmp_path: Path, how: str, where: str
) -> None:
    """The DuckDB program keeps a relative database path relative (the Python module makes it absolute)."""
    cli = shutil.which("duckdb")
    assert cli, "the DuckDB command-line program is a test dependency (pip install duckdb-cli)"
    other, rows = _moved_or_copied(lake, tmp_path, how)
    if where == "from its parent":
        cwd, db = other.parent, f"{other.name}/trailduck.duckdb"
    elif where == "from inside it":
        cwd, db = other, "trailduck.duckdb"
    else:
        (tmp_path / "link").symlink_to(other)
        cwd, db = tmp_path, "link/trailduck.duckdb"
    shown = subprocess.run(
        [cli, "-readonly", "-csv", "-noheader", db, "-c", "SELECT count(*) FROM events"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert int(shown.stdout.strip()) == rows


def test_an_attached_copy_reads_the_folder_its_views_were_last_made_for(lake: Path, tmp_path: Path) -> None:
    """ATTACHed, the database cannot tell where it is: it reads the folder the views were made for, which
    `trailduck views --refresh` (or an ingest) sets to where the lake is now."""
    copy, rows = _moved_or_copied(lake, tmp_path, "copied")
    con = duckdb.connect()
    con.execute(f"ATTACH '{copy / 'trailduck.duckdb'}' AS copy (READ_ONLY)")
    assert con.sql("SELECT count(*) FROM copy.events").fetchall()[0][0] == count(lake)  # the original's
    con.close()
    result = invoke("views", "--refresh", "--lake", str(copy))
    assert result.exit_code == 0, result.output
    con = duckdb.connect()
    con.execute(f"ATTACH '{copy / 'trailduck.duckdb'}' AS copy (READ_ONLY)")
    assert con.sql("SELECT count(*) FROM copy.events").fetchall()[0][0] == rows
    con.close()


def _as_an_older_trailduck_made_it(lake: Path) -> None:
    """The views as trailduck made them before they found their folder: absolute paths, no folder in the mark."""
    con = duckdb.connect(str(lake / "trailduck.duckdb"))
    con.execute(
        f"CREATE OR REPLACE VIEW events AS SELECT * FROM read_parquet('{lake}/events/*/*/*/*.parquet', "
        "hive_partitioning = true, hive_types = {'account': VARCHAR, 'region': VARCHAR, 'date': VARCHAR})"
    )
    con.execute("COMMENT ON VIEW events IS 'trailduck views 0123456789abcdef'")
    con.close()


def test_a_copy_of_an_older_lake_gets_new_views(lake: Path, tmp_path: Path) -> None:
    _as_an_older_trailduck_made_it(lake)
    copy, rows = _moved_or_copied(lake, tmp_path, "copied")
    assert plain_count(copy) == parquet_count(lake) != rows  # the old views read the original's files
    assert sql_count(copy) == rows
    assert plain_count(copy) == rows  # remade: they read their own folder from now on


def test_views_made_from_other_sql_texts_are_remade_before_a_lake_is_read(lake: Path) -> None:
    """An upgrade that changed a view's SQL, then only reading (no ingest since): the reader gets the views of
    the SQL it has, not those the database kept, for the same folder and table versions."""
    con = duckdb.connect(str(lake / "trailduck.duckdb"))
    (mark,) = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'events'").fetchone() or (
        None,
    )
    made = json.loads(mark)
    assert made["sql"] != "0" * 16
    con.execute("CREATE OR REPLACE VIEW events AS SELECT 1 AS made_by_other_sql")
    con.execute(f"COMMENT ON VIEW events IS '{json.dumps({**made, 'sql': '0' * 16})}'")
    con.close()
    assert [row[0] for row in query(lake, "SELECT column_name FROM (DESCRIBE events)")] == TABLE_SCHEMA.names


def test_an_older_lake_whose_database_cannot_be_written_gets_views_in_memory(
    lake: Path, tmp_path: Path
) -> None:
    """Another process holding the copy's database open (read-only) keeps trailduck from remaking its views:
    the connection then makes its own, in memory, and still reads the copy's files."""
    _as_an_older_trailduck_made_it(lake)
    copy, rows = _moved_or_copied(lake, tmp_path, "copied")
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
            assert con.sql("SELECT count(*) FROM events").fetchall()[0][0] == rows
            assert con.sql("SELECT count(*) FROM cis_4_03_root_account_usage").fetchall()[0][0] >= 0
        finally:
            con.close()
    finally:
        holder.communicate("")
    assert holder.returncode == 0
    assert plain_count(copy) == parquet_count(lake) != rows  # the file itself was left as it was


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


def test_a_lock_held_by_another_program_is_named_as_such(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    """A backup under flock(1) holds the lake's lock: an ingest then says so, not that a long-gone pid writes."""
    root, _ = local_trail
    lake = tmp_path / "lake"
    command = [sys.executable, "-m", "trailduck", "ingest", str(root), "--lake", str(lake), "--no-progress"]
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0  # its pid is in the lock
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); "
            "sys.stdin.read()",
            str(lake / "_trailduck" / "lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        holder.communicate("")
    assert refused.returncode == 1
    assert "another process holds the lake's lock" in refused.stderr and "pid" not in refused.stderr

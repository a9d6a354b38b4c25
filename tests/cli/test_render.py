"""How query rows and messages reach the terminal: trailduck.cli.render, and through the CLI on a real lake."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from trailduck.cli.app import app
from trailduck.cli.render import MIN_COLUMN, fitting_table, line_per_column, printable, readable
from trailduck.synthetic.generator import Manifest

runner = CliRunner()


@pytest.fixture
def lake(local_trail: tuple[Path, Manifest], tmp_path: Path) -> Path:
    root, _ = local_trail
    lake = tmp_path / "lake"
    result = runner.invoke(app, ["ingest", str(root), "--lake", str(lake), "--json"])
    assert result.exit_code == 0, result.output
    return lake


def sql(lake: Path, query: str, columns: int) -> Any:
    return runner.invoke(app, ["sql", query, "--lake", str(lake)], env={"COLUMNS": str(columns)})


def event_columns(lake: Path) -> list[str]:
    result = runner.invoke(app, ["sql", "DESCRIBE events", "--lake", str(lake), "--format", "csv"])
    return [line.split(",")[0] for line in result.stdout.splitlines()[1:]]


@pytest.mark.parametrize("columns", [80, 200])
def test_select_star_is_one_line_per_column_within_the_width(lake: Path, columns: int) -> None:
    result = sql(lake, "SELECT * FROM events ORDER BY eventID LIMIT 3", columns)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= columns
    # Three rows of every column, each column on a line of its own with its whole name: 3 x 36 lines, not 1,300.
    names = event_columns(lake)
    assert len(names) > 30
    for name in names:
        assert sum(1 for line in lines if line.lstrip().startswith(f"{name} =")) == 3, name
    assert [line for line in lines if line.startswith("-- row ")] == [
        "-- row 1 --",
        "-- row 2 --",
        "-- row 3 --",
    ]
    assert len(lines) < 3 * (len(names) + 2) + 5
    # Long values are cut with an ellipsis, and the last line says how to see them whole.
    assert any(line.endswith("…") for line in lines) and "--format json" in lines[-1]


def test_a_narrow_result_stays_a_table(lake: Path) -> None:
    q = "SELECT eventSource, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC, 1"
    result = sql(lake, q, 80)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["┃", "eventSource", "┃", "n", "┃"]
    assert lines[0].startswith("┏") and lines[-1].startswith("└") and " = " not in result.stdout


def test_a_table_that_fits_only_by_folding_keeps_columns_readable() -> None:
    # Five columns of 40 characters in 80: rich alone would fold some to a few characters wide.
    columns = ["first", "second", "third", "fourth"]
    rows = [tuple("x" * 40 for _ in columns)]
    table = fitting_table(columns, rows, 80)
    assert table is not None
    console = Console(file=io.StringIO(), width=80)
    console.print(table)
    header = console.file.getvalue().splitlines()[0]  # type: ignore[attr-defined]
    widths = [len(cell) - 2 for cell in header.strip("┏┓").split("┳")]
    assert len(widths) == 4 and min(widths) >= MIN_COLUMN and cell_len(header) <= 80
    assert fitting_table([*columns, "fifth", "sixth"], [tuple("x" * 40 for _ in range(6))], 80) is None


def test_line_per_column_shows_hostile_values_on_one_line_and_cuts_wide_characters() -> None:
    lines = line_per_column(
        ["k", "userAgent", "nested"],
        [("evil\x1b]0;pwned\x07\nnext", "日本語" * 40, {"a": [1, "x\ny"]})],
        40,
    )
    text = [line.plain for line in lines]
    assert "        k = evil\\x1b]0;pwned\\x07\\x0anext" in text
    assert max(cell_len(t) for t in text if " = " in t) <= 40  # the notes at the end wrap when printed
    agent = next(t for t in text if t.lstrip().startswith("userAgent"))
    assert agent.endswith("…") and cell_len(agent) <= 40
    assert '   nested = {"a": [1, "x\\ny"]}' in text  # a struct or list as JSON, as --format csv writes it
    assert line_per_column(["a", "b"], [], 40)[-1].plain == "0 rows (columns: a, b)"


def test_messages_keep_line_breaks_and_tabs_but_nothing_else_raw() -> None:
    assert readable("line 1\n\tline 2\x1b[2J\r") == "line 1\n\tline 2\\x1b[2J\\x0d"
    assert printable("a\nb\tc") == "a\\x0ab\\x09c"  # data: never a raw control character


def test_a_sql_error_prints_real_line_breaks(lake: Path) -> None:
    result = sql(lake, "SELEC eventName FROM events", 80)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "\\x0a" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: query failed: Parser Error: syntax error at or near")
    assert "LINE 1: SELEC eventName FROM events" in lines


def test_a_message_escapes_markup_and_terminal_escapes(lake: Path) -> None:
    result = sql(lake, "SELECT [bold]x\x1b[2J FROM events", 80)
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "\\x1b[2J" in result.stderr and "[bold]x" in result.stderr


def test_setup_dry_run_ends_with_a_real_line() -> None:
    result = runner.invoke(
        app, ["setup", "--bucket", "render-logs", "--trail", "t-1", "--dry-run", "--region", "eu-west-1"]
    )
    assert result.exit_code == 0, result.output
    assert "\\x0a" not in result.stdout
    assert (
        result.stdout.splitlines()[-1] == "next: trailduck ingest s3://render-logs --lake ./cloudtrail-lake"
    )


@pytest.mark.parametrize(
    ("marks", "says"),
    [
        ({}, "nothing was committed for the files in progress, the next run redoes them"),
        (
            {"committed_ahead": True},
            "the run had written its commit ahead, so it is kept: the next run finishes it",
        ),
        ({"committed": True}, "the run was committed first"),
    ],
)
def test_a_stop_says_what_became_of_the_run(
    marks: dict[str, bool], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    from trailduck.cli import console

    console.reset()
    stop = KeyboardInterrupt()
    for name, value in marks.items():
        setattr(stop, name, value)
    with pytest.raises(typer.Exit) as exited, console.exit_on_error():
        raise stop
    assert exited.value.exit_code == 130
    said = " ".join(capsys.readouterr().err.split())
    assert said.startswith("error: interrupted; ") and says in said

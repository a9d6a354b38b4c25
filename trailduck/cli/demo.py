"""`trailduck demo`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated

import typer

from trailduck.cli import console
from trailduck.cli.console import exit_on_error, print_rows, show
from trailduck.cli.ingest import render_summary
from trailduck.cli.options import (
    JsonOpt,
)
from trailduck.errors import ConfigError, ExitCode
from trailduck.lake.folder import LAKE_ENV, Lake
from trailduck.synthetic.demo import DEMO_LAKE, example_sigma_rules

DemoLakeOpt = Annotated[
    Path | None,
    typer.Option(
        "--lake",
        help=f"Lake folder for the demo: a new one, or one an earlier demo made (never a lake of real events). "
        f"Default: ./{DEMO_LAKE}, not ${LAKE_ENV}.",
        show_default=False,
    ),
]


def _demo_hint(lake: Lake) -> list[str]:
    """How to query the demo lake: `pip install` brings DuckDB's Python module, not its command-line program."""
    one_liner = f"import duckdb; print(duckdb.connect('{lake.db_path}', read_only=True).sql('SELECT count(*) FROM events'))"
    return [
        f"Run Sigma rules on it: trailduck sigma {shlex.quote(str(example_sigma_rules()))} --lake "
        f"{shlex.quote(str(lake.root))}   (the example rules; or a clone of SigmaHQ's rules/cloud/aws/cloudtrail)",
        f'Query it: trailduck sql "SELECT count(*) FROM events" --lake {shlex.quote(str(lake.root))}',
        f'  or from Python: python -c "{one_liner}"',
        "  or with the DuckDB command-line program (pip install duckdb-cli, or see https://duckdb.org/install): "
        f"duckdb -readonly {shlex.quote(str(lake.db_path))}",
    ]


def demo_cmd(
    lake: DemoLakeOpt = None,
    days: Annotated[
        int,
        typer.Option(help="Days of trail to generate, ending yesterday (whole days, nothing in the future)."),
    ] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Generate a realistic synthetic trail, ingest it, and run a few example queries. Offline."""
    from trailduck.synthetic.demo import EXAMPLE_QUERIES, run_demo

    with exit_on_error():
        if not 1 <= days <= 366:
            raise ConfigError(f"--days {days}: give 1 to 366")
        the_lake = Lake(lake or DEMO_LAKE)  # never $TRAILDUCK_LAKE: that names a lake of real events
        result = run_demo(the_lake, days=days)
        if as_json:
            print(
                json.dumps(
                    {
                        "summary": result.summary.to_json(),
                        "trail": str(result.trail),
                        "integrity": result.integrity.counts(),
                        "queries": result.query_results,
                    },
                    indent=2,
                    default=str,
                )
            )
            raise typer.Exit(result.summary.exit_code)
        console.out.print(f"generated a demo trail in {show(str(result.trail))}", highlight=False)
        render_summary(result.summary)
        checked = result.integrity
        verdict = (
            "all valid or not yet covered"
            if checked.exit_code == ExitCode.OK
            else f"{len(checked.problems())} problems"
        )
        console.out.print(
            show(
                f"verified {len(checked.digests):,} signed digests and {len(checked.log_files):,} log files: {verdict} "
                f"(again: trailduck verify {result.trail} --public-keys {result.public_keys})"
            ),
            highlight=False,
        )
        for line in _demo_hint(the_lake):
            console.out.print(show(line), highlight=False)
        for (title, sql), (columns, rows) in zip(EXAMPLE_QUERIES, result.results, strict=True):
            shown = show(f'$ trailduck sql "{" ".join(sql.split())}" --lake {the_lake.root}')
            console.out.print(f"\n[bold]{show(title)}[/]\n[dim]{shown}[/]", highlight=False)
            print_rows(columns, rows, "table")
    raise typer.Exit(result.summary.exit_code)

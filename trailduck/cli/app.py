"""The ``trailduck`` command: a thin layer that parses options, calls the library and renders the result.

Exit codes: :class:`trailduck.errors.ExitCode` (0 done, 1 fatal, 2 usage, 3 files quarantined, 4 findings,
128 + a signal's number when stopped).
"""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from trailduck import __version__
from trailduck.cli import console, ddl, demo, ingest, query, setup, sigma, state, verify
from trailduck.cli.console import exit_on_error, raise_stop_signal, show
from trailduck.convert import native
from trailduck.errors import ExitCode

app = typer.Typer(
    name="trailduck",
    help="Turn an AWS CloudTrail bucket into a Hive-partitioned Parquet lake you can query with DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
state_app = typer.Typer(
    help="Inspect the checkpoint: what was processed and what was quarantined.", no_args_is_help=True
)
app.add_typer(state_app, name="state")


def _version_line() -> str:
    chosen = native.choose()  # $TRAILDUCK_CONVERTER, checked there, else the default
    line = f"trailduck {__version__} (converter: {native.CONVERTERS[chosen]}"
    if not native.AVAILABLE:
        line += f"; {native.not_compiled()}"
    elif chosen != native.DEFAULT:
        line += f", chosen by {native.CONVERTER_ENV}"
    return line + ")"


def _print_version(value: bool) -> None:
    if value:
        with exit_on_error():
            console.out.print(show(_version_line()), highlight=False)
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and the converter this install uses, then exit.",
        ),
    ] = False,
) -> None:
    # Consoles made for each command rather than at import: a caller that runs several commands in one process
    # (tests, notebooks) gets the terminal width and $COLUMNS of each.
    console.reset()


# The commands, in the order --help lists them.
app.command("ingest")(ingest.ingest_cmd)
app.command("sql")(query.sql_cmd)
app.command("report")(query.report_cmd)
app.command("sigma")(sigma.sigma_cmd)
app.command("views")(query.views_cmd)
app.command("ddl")(ddl.ddl_cmd)
state_app.command("show")(state.state_show)
state_app.command("failed")(state.state_failed)
state_app.command("rebuild")(state.state_rebuild)
app.command("compact")(state.compact_cmd)
app.command("demo")(demo.demo_cmd)
app.command("verify")(verify.verify_cmd)
app.command("setup")(setup.setup_cmd)


def main() -> None:
    # Here, in the command's entry point, never at import: a library caller keeps its own signal handling.
    signal.signal(signal.SIGTERM, raise_stop_signal)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

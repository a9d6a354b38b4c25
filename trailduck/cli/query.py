"""`trailduck sql`, `report` and `views`: reading the lake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from trailduck.cli import console
from trailduck.cli.console import exit_on_error, print_rows
from trailduck.cli.options import (
    PROGRESS_ON_A_TERMINAL,
    LakeEndpointOpt,
    LakeOpt,
    LakeProfileOpt,
    LakeRegionOpt,
    parse_day,
    parse_since,
)
from trailduck.cli.sigma import run_with_progress, say_unsupported, sigma_table
from trailduck.errors import ConfigError, ExitCode
from trailduck.lake.folder import open_lake

if TYPE_CHECKING:
    from trailduck.sigma.rules import Rule
    from trailduck.sigma.run import SigmaFinding

SigmaOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--sigma",
        help="A Sigma rule file or folder (searched recursively); give it again for more.",
        show_default=False,
    ),
]


def sql_cmd(
    query: Annotated[str, typer.Argument(help="A DuckDB query over the views (events, insights, ...).")],
    lake: LakeOpt = None,
    profile: LakeProfileOpt = None,
    region: LakeRegionOpt = None,
    endpoint_url: LakeEndpointOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help="table, csv or json (an array of row objects).")
    ] = "table",
) -> None:
    """Run a SQL query against the lake's DuckDB views."""
    with exit_on_error():
        if fmt not in ("table", "csv", "json"):
            raise ConfigError(f"--format {fmt!r}: choose table, csv or json")
        from trailduck.analysis.query import run_query

        columns, rows = run_query(
            open_lake(lake, profile=profile, region=region, endpoint_url=endpoint_url), query
        )
        print_rows(columns, rows, fmt)


_SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}


def report_cmd(
    lake: LakeOpt = None,
    profile: LakeProfileOpt = None,
    region: LakeRegionOpt = None,
    endpoint_url: LakeEndpointOpt = None,
    since: Annotated[
        str | None, typer.Option(help="First day (YYYY-MM-DD, today or Nd). Default: the first day.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day (YYYY-MM-DD, today or Nd). Default: the last day.")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", help="table, json (an array, one object per detection) or markdown."),
    ] = "table",
    fail_on_findings: Annotated[
        bool,
        typer.Option(
            "--fail-on-findings",
            help=f"Exit with {int(ExitCode.FINDINGS)} when any detection matched (for cron).",
        ),
    ] = False,
    sigma: SigmaOpt = None,
) -> None:
    """Run every detection (CIS AWS Foundations v3.0 4.1-4.15, then trailduck's own, then any --sigma rules) over
    a window of days.

    The window applies to the partition date (the UTC day of eventTime). Counts are events as delivered.
    Each detection is a view in the lake's database: query it for every row, e.g.
    trailduck sql "SELECT * FROM cis_4_03_root_account_usage".
    """
    from trailduck.analysis.report import run_report, to_markdown

    sigma_findings: list[SigmaFinding] = []
    with exit_on_error():
        if fmt not in ("table", "json", "markdown"):
            raise ConfigError(f"--format {fmt!r}: choose table, json or markdown")
        first, last = parse_since(since), parse_day(until, "--until")
        the_lake = open_lake(lake, profile=profile, region=region, endpoint_url=endpoint_url)
        rules: list[Rule] = []
        if sigma:  # pySigma is imported only then; a bad path is said before any detection runs
            from trailduck.sigma.rules import load_rules

            rules = load_rules(sigma)
        findings = run_report(the_lake, first, last)
        if rules:
            sigma_findings = run_with_progress(the_lake, rules, first, last, PROGRESS_ON_A_TERMINAL)
        if fmt == "json":
            entries = [f.to_json() for f in findings] + [
                s.to_json() | {"severity": s.level} for s in sigma_findings
            ]
            print(json.dumps(entries, indent=2, ensure_ascii=False))
        elif fmt == "markdown":
            print(to_markdown(findings, first, last), end="")
            if sigma_findings:
                from trailduck.sigma.run import sigma_markdown

                print("\n" + sigma_markdown(sigma_findings, first, last), end="")
        else:
            window = f"{first or 'first day'} to {last or 'last day'} (partition date)"
            table = Table(title=f"trailduck report: {window}", title_justify="left")
            table.add_column("id", no_wrap=True)
            table.add_column("severity")
            table.add_column("events", justify="right")
            table.add_column("detection (view)")
            for f in findings:
                style = _SEVERITY_STYLE[f.severity] if f.count else "dim"
                label = Text(f.title + "\n", style=style) + Text(f.view, style="dim")
                table.add_row(f.id, f.severity, f"{f.count:,}", label, style=style)
            console.out.print(table)
            matched = [f for f in findings if f.count]
            console.out.print(
                f"{len(matched)} of {len(findings)} detections matched "
                f'{sum(f.count for f in matched):,} events; see the rows with trailduck sql "SELECT * FROM <view>"',
                highlight=False,
            )
            if sigma_findings:
                console.out.print(sigma_table(sigma_findings, first, last))
        say_unsupported(sigma_findings)
    if fail_on_findings and (any(f.count for f in findings) or any(s.count for s in sigma_findings)):
        raise typer.Exit(ExitCode.FINDINGS)


def views_cmd(
    lake: LakeOpt = None,
    profile: LakeProfileOpt = None,
    region: LakeRegionOpt = None,
    endpoint_url: LakeEndpointOpt = None,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Re-create the views, for the folder the lake is in now (before ATTACHing a moved or copied "
            "lake's database to another DuckDB database, which cannot tell where it is).",
        ),
    ] = False,
    sigma: SigmaOpt = None,
) -> None:
    """List the views in <lake>/trailduck.duckdb with a line on each (a lake on S3 keeps no database: every
    connection to it makes the same views in memory). With --sigma, install one view per Sigma rule first
    (sigma_<name>: every event the rule matches), for the DuckDB CLI and notebooks."""
    from trailduck.lake.views import all_views, refresh_views

    with exit_on_error():
        the_lake = open_lake(lake, profile=profile, region=region, endpoint_url=endpoint_url)
        if refresh:
            refresh_views(the_lake, force=True)
        rows = [(v.name, v.description) for v in all_views()]
        if sigma:
            from trailduck.sigma.run import install_sigma_views

            installed = install_sigma_views(the_lake, sigma)
            rows += [
                (r.view, f"[sigma, {r.level or 'no level'}] {r.title}")
                for r in installed
                if r.condition is not None
            ]
            cannot = [r for r in installed if r.condition is None]
            for r in cannot:
                console.err.print(
                    console.say(f"{r.file}: {r.title}: not installed: {r.unsupported}"), highlight=False
                )
        print_rows(["view", "description"], rows, "table")

"""`trailduck sigma`: Sigma rules on the lake; the table ``report --sigma`` shares."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from trailduck.cli import console
from trailduck.cli.console import exit_on_error
from trailduck.cli.options import (
    PROGRESS_ON_A_TERMINAL,
    LakeEndpointOpt,
    LakeOpt,
    LakeProfileOpt,
    LakeRegionOpt,
    ProgressOpt,
    parse_day,
    parse_since,
)
from trailduck.errors import ConfigError, ExitCode
from trailduck.lake.folder import Lake, open_lake

if TYPE_CHECKING:
    from trailduck.sigma.rules import Rule
    from trailduck.sigma.run import SigmaFinding

FORMATS = ("table", "json", "markdown")
_LEVEL_STYLE = {"critical": "bold red", "high": "bold red", "medium": "yellow", "low": "cyan"}

RulesArg = Annotated[
    list[Path],
    typer.Argument(
        help="Sigma rule files, or folders searched recursively for *.yml and *.yaml (for example a clone of "
        "SigmaHQ's rules/cloud/aws/cloudtrail).",
        show_default=False,
    ),
]
SinceOpt = Annotated[
    str | None, typer.Option(help="First day (YYYY-MM-DD, today or Nd). Default: the first day.")
]
UntilOpt = Annotated[
    str | None, typer.Option(help="Last day (YYYY-MM-DD, today or Nd). Default: the last day.")
]
FailOpt = Annotated[
    bool,
    typer.Option(
        "--fail-on-findings",
        help=f"Exit with {int(ExitCode.FINDINGS)} when any rule matched (for cron).",
    ),
]


def sigma_cmd(
    rules: RulesArg,
    lake: LakeOpt = None,
    profile: LakeProfileOpt = None,
    region: LakeRegionOpt = None,
    endpoint_url: LakeEndpointOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="table, json (an array, one object per rule: id, title, level, status, tags, count, sample; "
            "'unsupported' with the reason for a rule that cannot run) or markdown.",
        ),
    ] = "table",
    fail_on_findings: FailOpt = False,
    progress: ProgressOpt = PROGRESS_ON_A_TERMINAL,
) -> None:
    """Run Sigma rules written for CloudTrail (product: aws, service: cloudtrail) over the lake's events.

    Each rule is converted by pySigma into DuckDB SQL over the events view, with Sigma's semantics (string
    values compare case-insensitively over the whole value unless |cased; see trailduck/sigma/README.md). A rule
    that cannot run (a correlation rule, an aggregation, another log source, a file that is not a rule) is
    listed with the reason and never stops the others. The window applies to the partition date (the UTC day of
    eventTime). `trailduck views --sigma RULES` installs one view per rule to query every match.
    """
    from trailduck.sigma.run import sigma_markdown

    with exit_on_error():
        if fmt not in FORMATS:
            raise ConfigError(f"--format {fmt!r}: choose table, json or markdown")
        first, last = parse_since(since), parse_day(until, "--until")
        the_lake = open_lake(lake, profile=profile, region=region, endpoint_url=endpoint_url)
        findings = run_with_progress(the_lake, rules, first, last, progress)
        if fmt == "json":
            print(json.dumps([f.to_json() for f in findings], indent=2, ensure_ascii=False))
        elif fmt == "markdown":
            print(sigma_markdown(findings, first, last), end="")
        else:
            console.out.print(sigma_table(findings, first, last))
            matched = [f for f in findings if f.count]
            ran = [f for f in findings if f.unsupported is None]
            console.out.print(
                f"{len(matched)} of {len(ran)} rules matched {sum(f.count or 0 for f in matched):,} events; "
                'see every match with trailduck views --sigma RULES, then trailduck sql "SELECT * FROM <view>"',
                highlight=False,
            )
        say_unsupported(findings)
    if fail_on_findings and any(f.count for f in findings):
        raise typer.Exit(ExitCode.FINDINGS)


def run_with_progress(
    lake: Lake, rules: list[Path] | list[Rule], first: dt.date | None, last: dt.date | None, show: bool
) -> list[SigmaFinding]:
    """:func:`run_sigma`, with a progress bar on stderr when ``show`` (a rule takes up to a second a million
    events: a folder of SigmaHQ's takes a minute or more on a large lake)."""
    from trailduck.sigma.run import run_sigma

    if not show:
        return run_sigma(lake, rules, first, last)
    with Progress(
        TextColumn("running Sigma rules"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console.err,
        transient=True,
    ) as bar:
        task = bar.add_task("rules", total=None)
        return run_sigma(
            lake,
            rules,
            first,
            last,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )


def sigma_table(findings: list[SigmaFinding], first: dt.date | None, last: dt.date | None) -> Table:
    """The rules and their counts, one row each; a rule that cannot run dimmed, with the reason."""
    window = f"{first or 'first day'} to {last or 'last day'} (partition date)"
    table = Table(title=f"Sigma rules: {window}", title_justify="left")
    table.add_column("level")
    table.add_column("events", justify="right")
    table.add_column("rule (view)")
    for f in findings:
        if f.unsupported is not None:
            label = Text(f.title + "\n", style="dim") + Text(
                f"cannot run: {f.unsupported}", style="dim italic"
            )
            table.add_row(f.level or "", "-", label, style="dim")
            continue
        style = _LEVEL_STYLE.get(f.level or "", "") if f.count else "dim"
        label = Text(f.title + "\n", style=style) + Text(f.view, style="dim")
        table.add_row(f.level or "", f"{f.count:,}", label, style=style)
    return table


def say_unsupported(findings: list[SigmaFinding]) -> None:
    """On stderr: how many rules could not run, and a rule's note (once for all the rules it concerns)."""
    noted = [f for f in findings if f.note]
    if noted:
        console.err.print(
            console.say(f"{len(noted)} rules {noted[0].note} (--format json: 'note')"), highlight=False
        )
    cannot = [f for f in findings if f.unsupported is not None]
    if cannot:
        console.err.print(
            console.say(
                f"{len(cannot)} of {len(findings)} rules cannot run on CloudTrail here; the reasons are in the "
                "table ('cannot run') and in --format json ('unsupported')"
            ),
            highlight=False,
        )

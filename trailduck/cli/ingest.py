"""`trailduck ingest`: the progress bar and the summary."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from trailduck.cli import console
from trailduck.cli.console import exit_on_error, say, show
from trailduck.cli.options import (
    DEFAULT_STATE,
    PROGRESS_ON_A_TERMINAL,
    EndpointOpt,
    FetchConcurrencyOpt,
    JsonOpt,
    LakeOpt,
    ProfileOpt,
    ProgressOpt,
    RegionOpt,
    parse_day,
    parse_since,
    split_list,
)
from trailduck.cli.render import printable
from trailduck.convert import native
from trailduck.convert.decode import Limits
from trailduck.errors import ConfigError
from trailduck.ingestion.cluster import SCHEDULER_ENV
from trailduck.ingestion.libc import tune_allocator
from trailduck.ingestion.pacing import MAX_CONCURRENCY
from trailduck.ingestion.run import IngestOptions, IngestSummary, ingest
from trailduck.lake.folder import lake_root


class _RichProgress:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("listing", total=None, events=0)
        self.events = 0

    def planned(self, files: int, size: int) -> None:
        self.progress.update(self.task, total=files, description="converting")

    def advance(self, files: int, events: int, size: int) -> None:
        self.events += events
        self.progress.update(self.task, advance=files, events=self.events)


def render_summary(summary: IngestSummary) -> None:
    table = Table(title="trailduck ingest", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("source", summary.source),
        ("lake", summary.lake),
        ("streams (account x region)", f"{summary.streams:,}"),
        ("files listed", f"{summary.files_listed:,}"),
        ("files new", f"{summary.files_new:,}"),
        ("files converted", f"{summary.files_converted:,}"),
        ("files failed (quarantined)", f"{summary.files_failed:,}"),
        ("objects skipped (not CloudTrail)", f"{summary.files_skipped:,}"),
        ("events", f"{summary.events:,}"),
        ("insight events", f"{summary.insight_events:,}"),
        ("bytes read", f"{summary.bytes_read:,}"),
        ("partitioned by", summary.partition_by),
        ("partitions written", f"{summary.partitions_written:,}"),
        ("parquet files written", f"{summary.parquet_files_written:,}"),
        *(
            [("Dask scheduler", summary.scheduler), ("Dask worker threads", f"{summary.workers}")]
            if summary.scheduler
            else [("worker processes", f"{summary.workers}")]
        ),
        ("converter", native.CONVERTERS[summary.converter]),
        ("duration", f"{summary.duration_s:.2f} s"),
        ("events/s", f"{summary.events_per_s:,.0f}"),
    ]
    for name, value in rows:
        table.add_row(name, Text(printable(value)))
    console.out.print(table)
    if note := _converter_note(summary):
        console.out.print(f"[yellow]note:[/] {say(note)}", highlight=False)
    if summary.note:
        console.out.print(f"[yellow]note:[/] {show(summary.note)}", highlight=False)
    if summary.views_error:
        console.out.print(f"[yellow]views not refreshed:[/] {say(summary.views_error)}", highlight=False)
    for key in summary.gone:
        console.out.print(
            f"[yellow]gone[/] {show(key)}: quarantined earlier, now deleted from the source",
            highlight=False,
        )
    for run in summary.rolled_back_runs:
        console.out.print(f"rolled back the files of interrupted run {run}; its objects were converted again")
    for run in summary.finished_runs:
        console.out.print(f"finished the commit of interrupted run {run}, which it had written ahead")
    for dataset in summary.upgraded:
        console.out.print(
            f"made a Delta Lake table of {dataset}/ in place (a lake of an earlier trailduck; no file copied)"
        )
    for f in summary.failures[:20]:
        console.out.print(
            f"[red]quarantined[/] {show(f['reason'])} (attempt {f['attempts']})", highlight=False
        )
    if len(summary.failures) > 20:
        console.out.print(f"... and {len(summary.failures) - 20} more: see `trailduck state failed`")
    for s in summary.skipped[:10]:
        console.out.print(f"[yellow]skipped[/] {show(s['key'])}: {show(s['reason'])}", highlight=False)
    if len(summary.skipped) > 10:
        console.out.print(f"... and {len(summary.skipped) - 10} more skipped objects (use --json to see all)")


def _converter_note(summary: IngestSummary) -> str | None:
    """Once per run, when the C column builder could not be used because it is not compiled."""
    if summary.converter == native.C or native.AVAILABLE:
        return None
    return f"converted in pure Python (slower): {native.not_compiled()}"


def run_ingest(options: IngestOptions, as_json: bool, show_progress: bool) -> IngestSummary:
    if show_progress:
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files · {task.fields[events]:,} events"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console.err,
            transient=True,
        ) as bar:
            summary = ingest(options, progress=_RichProgress(bar))
    else:
        summary = ingest(options)
    if as_json:
        print(json.dumps(summary.to_json(), indent=2))
        if note := _converter_note(summary):
            console.err.print(f"[yellow]note:[/] {say(note)}", highlight=False)
    else:
        render_summary(summary)
    return summary


def ingest_cmd(
    source: Annotated[str, typer.Argument(help="s3://bucket[/prefix] or a local folder holding AWSLogs/.")],
    lake: LakeOpt = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="First day to list (YYYY-MM-DD or Nd). A backfill: "
            "adds only what the lake lacks. Default: from the checkpoint; "
            "the whole history on a first run."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day to list (YYYY-MM-DD or Nd). Default: today.")
    ] = None,
    accounts: Annotated[
        str | None, typer.Option(help="Comma-separated account ids to ingest. Default: all.")
    ] = None,
    regions: Annotated[
        str | None, typer.Option(help="Comma-separated regions to ingest. Default: all.")
    ] = None,
    lookback: Annotated[int, typer.Option(help="Days re-listed on every run for late deliveries.")] = 2,
    state: Annotated[
        Path | None,
        typer.Option(help=f"Checkpoint file. Default: {DEFAULT_STATE}.", show_default=False),
    ] = None,
    concurrency: FetchConcurrencyOpt = MAX_CONCURRENCY,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes converting at once. Default: one per core for runs over 16 MiB "
            "of compressed logs, else 1.",
            show_default=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            envvar=SCHEDULER_ENV,
            help="A Dask scheduler (tcp://host:8786): convert on its workers, for more than one machine. "
            "This machine still lists, publishes and commits. Needs trailduck[dask]. Default: convert here.",
            show_default=False,
        ),
    ] = None,
    partition_by: Annotated[
        str | None,
        typer.Option(
            help="A new lake's partition columns: account,region,date (a folder per account, region and day) "
            "or date (a folder per day, its rows sorted by account and region: far fewer files for an "
            "organization's trail). A lake keeps the one it was created with. Default: the lake's own; "
            "account,region,date for a new lake.",
            show_default=False,
        ),
    ] = None,
    event_json: Annotated[
        bool,
        typer.Option(
            "--event-json/--no-event-json", help="Keep each complete original record in event_json."
        ),
    ] = True,
    max_decompressed_mb: Annotated[
        int, typer.Option(help="Refuse an object that inflates beyond this.")
    ] = 1024,
    max_records: Annotated[
        int, typer.Option(help="Refuse an object with more records than this.")
    ] = 1_000_000,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    as_json: JsonOpt = False,
    progress: ProgressOpt = PROGRESS_ON_A_TERMINAL,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log each quarantined file as it fails.")
    ] = False,
) -> None:
    """Scan a CloudTrail trail and convert new log files into the lake.

    Re-lists the last --lookback days on every run, so late deliveries are found; a second run with nothing
    new converts nothing. Exit code 0: all done; 3: some files quarantined; 1: fatal error; 2: usage error.
    """
    logging.basicConfig(
        level=logging.WARNING if verbose else logging.ERROR, format="%(levelname)s %(message)s"
    )
    tune_allocator()
    with exit_on_error():
        if max_decompressed_mb < 1 or max_records < 1:
            raise ConfigError("--max-decompressed-mb and --max-records must be at least 1")
        options = IngestOptions(
            source=source,
            lake=lake_root(lake),
            state=state,
            since=parse_since(since),
            until=parse_day(until, "--until"),
            accounts=split_list(accounts),
            regions=split_list(regions),
            lookback=lookback,
            concurrency=concurrency,
            workers=workers,
            keep_event_json=event_json,
            limits=Limits(max_decompressed_bytes=max_decompressed_mb << 20, max_records=max_records),
            profile=profile,
            region=region,
            endpoint_url=endpoint_url,
            converter=None,  # the library's default: $TRAILDUCK_CONVERTER, else C when compiled
            scheduler=scheduler or None,
            partition_by=partition_by,
        )
        summary = run_ingest(options, as_json, progress and not as_json)
    raise typer.Exit(summary.exit_code)

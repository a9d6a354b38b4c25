"""The ``trailduck`` command: a thin layer that parses options, calls the library and renders the result.

Exit codes: :class:`trailduck.errors.ExitCode` (0 done, 1 fatal, 2 usage, 3 files quarantined, 4 findings,
128 + a signal's number when stopped).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import logging
import os
import re
import shlex
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
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

from trailduck import __version__
from trailduck.analysis.query import jsonable
from trailduck.cli.render import fitting_table, line_per_column, printable, readable
from trailduck.convert import native
from trailduck.convert.decode import Limits
from trailduck.errors import ConfigError, ExitCode, TrailduckError
from trailduck.ingestion.libc import tune_allocator
from trailduck.ingestion.run import IngestOptions, IngestSummary, ingest
from trailduck.lake.folder import Lake
from trailduck.lake.layout import LakeLayout
from trailduck.lake.verdicts import ACCEPTABLE
from trailduck.synthetic.demo import DEMO_LAKE

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

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

#: Chooses the converter for `ingest` ("c" or "python"); unset: the C column builder when it is compiled.
CONVERTER_ENV = "TRAILDUCK_CONVERTER"

LakeOpt = Annotated[
    Path | None,
    typer.Option(
        "--lake",
        help="Lake folder. Default: $TRAILDUCK_LAKE, then ./cloudtrail-lake.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", help="Objects fetched at once.")]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="AWS profile (standard credential chain if unset).")
]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region of the bucket's endpoint.")]
EndpointOpt = Annotated[
    str | None, typer.Option("--endpoint-url", help="S3-compatible endpoint, e.g. http://127.0.0.1:9000.")
]
#: Progress bars go to stderr, so they are on by default only when stderr is a terminal.
PROGRESS_ON_A_TERMINAL = sys.stderr.isatty()
ProgressOpt = Annotated[
    bool,
    typer.Option("--progress/--no-progress", help="Progress bar (default: on when stderr is a terminal)."),
]
#: Where the checkpoint is, as --help says it.
_DEFAULT_STATE = LakeLayout(Path("<lake>")).state_path.as_posix()
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        help=f"Checkpoint file, if it was moved with ingest --state. Default: {_DEFAULT_STATE}.",
        show_default=False,
    ),
]


def _lake_path(lake: Path | None) -> Path:
    return lake or Path(os.environ.get("TRAILDUCK_LAKE") or "cloudtrail-lake")


def _show(text: str) -> str:
    """A key or value for rich's markup, on one line: control characters made visible, markup escaped."""
    return escape(printable(text))


def _say(text: str) -> str:
    """A message for rich's markup: as :func:`_show`, but its line breaks and tabs are kept."""
    return escape(readable(text))


class StopSignal(KeyboardInterrupt):
    """A stop asked by the system: SIGTERM, which `docker stop`, Kubernetes and systemd send. Raised in the main
    thread and unwound like Ctrl-C (a KeyboardInterrupt too), so the files in progress are deleted, nothing is
    committed, and the command exits 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop_signal(signum: int, frame: FrameType | None) -> None:
    # A second one must not interrupt the clean-up that the first one started.
    signal.signal(signum, signal.SIG_IGN)
    raise StopSignal(signum)


_NOTHING_COMMITTED = "nothing was committed for the files in progress, the next run redoes them"


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {_say(message)}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Map the library's exceptions to a message and an exit code; never a traceback for a known error."""
    try:
        yield
    except ConfigError as exc:
        _fail(str(exc), ExitCode.USAGE)
    except TrailduckError as exc:
        _fail(str(exc), ExitCode.FATAL)
    except BrokenPipeError:
        # The reader went away (`trailduck report | head`): not an error worth a message.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the interpreter's final flush stays quiet
        raise typer.Exit(ExitCode.FATAL) from None
    except StopSignal as exc:
        _fail(
            f"stopped by {signal.Signals(exc.signum).name}; {_NOTHING_COMMITTED}",
            ExitCode.SIGNALLED + exc.signum,
        )
    except KeyboardInterrupt:
        _fail(f"interrupted; {_NOTHING_COMMITTED}", ExitCode.SIGNALLED + signal.SIGINT)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}", ExitCode.FATAL)


def _converter() -> str:
    """The converter `ingest` uses: $TRAILDUCK_CONVERTER if set, else the C column builder when compiled."""
    value = os.environ.get(CONVERTER_ENV) or None
    if value is not None and value not in native.CONVERTERS:
        raise ConfigError(
            f"{CONVERTER_ENV}={value!r}: set it to {' or '.join(native.CONVERTERS)}, or unset it for the default"
        )
    try:
        return native.choose(value)
    except ConfigError as exc:
        raise ConfigError(f"{CONVERTER_ENV}={value}: {exc}") from None


def _version_line() -> str:
    converter = _converter()
    line = f"trailduck {__version__} (converter: {native.CONVERTERS[converter]}"
    if not native.AVAILABLE:
        line += f"; {native.not_compiled()}"
    elif converter != native.choose():
        line += f", chosen by {CONVERTER_ENV}"
    return line + ")"


def _print_version(value: bool) -> None:
    if value:
        with _errors():
            out.print(_show(_version_line()), highlight=False)
        raise typer.Exit(0)


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
    global out, err
    out = Console(soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True)


_RELATIVE = re.compile(r"([0-9]+)d")


def parse_day(value: str | None, option: str, today: dt.date | None = None) -> dt.date | None:
    """``YYYY-MM-DD``, ``today``, or ``Nd`` (N days ago, UTC)."""
    if value is None:
        return None
    today = today or dt.datetime.now(dt.UTC).date()
    text = value.strip().lower()
    if text == "today":
        return today
    m = _RELATIVE.fullmatch(text)
    if m:
        days = int(m.group(1))
        if days > 36500:
            raise ConfigError(f"{option} {value!r}: give at most 36500d")
        return today - dt.timedelta(days=days)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{option} {value!r}: give a date as YYYY-MM-DD, 'today', or Nd for N days ago"
        ) from None


def parse_since(value: str | None, today: dt.date | None = None) -> dt.date | None:
    """``--since`` as :func:`parse_day` reads it, and not after today: nothing can be there yet."""
    today = today or dt.datetime.now(dt.UTC).date()
    day = parse_day(value, "--since", today)
    if day is not None and day > today:
        raise ConfigError(
            f"--since {value!r}: {day} is after today ({today} UTC), nothing can be there yet; give today "
            "or an earlier day"
        )
    return day


def _split_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


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


def _render_summary(summary: IngestSummary) -> None:
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
        ("partitions written", f"{summary.partitions_written:,}"),
        ("parquet files written", f"{summary.parquet_files_written:,}"),
        ("worker processes", f"{summary.workers}"),
        ("converter", native.CONVERTERS[summary.converter]),
        ("duration", f"{summary.duration_s:.2f} s"),
        ("events/s", f"{summary.events_per_s:,.0f}"),
    ]
    for name, value in rows:
        table.add_row(name, Text(printable(value)))
    out.print(table)
    if note := _converter_note(summary):
        out.print(f"[yellow]note:[/] {_say(note)}", highlight=False)
    if summary.note:
        out.print(f"[yellow]note:[/] {_show(summary.note)}", highlight=False)
    if summary.views_error:
        out.print(f"[yellow]views not refreshed:[/] {_say(summary.views_error)}", highlight=False)
    for key in summary.gone:
        out.print(
            f"[yellow]gone[/] {_show(key)}: quarantined earlier, now deleted from the source",
            highlight=False,
        )
    for run in summary.rolled_back_runs:
        out.print(f"rolled back the files of interrupted run {run}; its objects were converted again")
    for f in summary.failures[:20]:
        out.print(f"[red]quarantined[/] {_show(f['reason'])} (attempt {f['attempts']})", highlight=False)
    if len(summary.failures) > 20:
        out.print(f"... and {len(summary.failures) - 20} more: see `trailduck state failed`")
    for s in summary.skipped[:10]:
        out.print(f"[yellow]skipped[/] {_show(s['key'])}: {_show(s['reason'])}", highlight=False)
    if len(summary.skipped) > 10:
        out.print(f"... and {len(summary.skipped) - 10} more skipped objects (use --json to see all)")


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
            console=err,
            transient=True,
        ) as bar:
            summary = ingest(options, progress=_RichProgress(bar))
    else:
        summary = ingest(options)
    if as_json:
        print(json.dumps(summary.to_json(), indent=2))
        if note := _converter_note(summary):
            err.print(f"[yellow]note:[/] {_say(note)}", highlight=False)
    else:
        _render_summary(summary)
    return summary


@app.command("ingest")
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
        typer.Option(help=f"Checkpoint file. Default: {_DEFAULT_STATE}.", show_default=False),
    ] = None,
    concurrency: ConcurrencyOpt = 16,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes converting at once. Default: one per core for runs over 16 MiB "
            "of compressed logs, else 1.",
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
    with _errors():
        if max_decompressed_mb < 1 or max_records < 1:
            raise ConfigError("--max-decompressed-mb and --max-records must be at least 1")
        options = IngestOptions(
            source=source,
            lake=_lake_path(lake),
            state=state,
            since=parse_since(since),
            until=parse_day(until, "--until"),
            accounts=_split_list(accounts),
            regions=_split_list(regions),
            lookback=lookback,
            concurrency=concurrency,
            workers=workers,
            keep_event_json=event_json,
            limits=Limits(max_decompressed_bytes=max_decompressed_mb << 20, max_records=max_records),
            profile=profile,
            region=region,
            endpoint_url=endpoint_url,
            converter=_converter(),
        )
        summary = run_ingest(options, as_json, progress and not as_json)
    raise typer.Exit(summary.exit_code)


def print_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str, title: str | None = None) -> None:
    if fmt == "json":
        print(
            json.dumps(
                [dict(zip(columns, map(jsonable, r), strict=True)) for r in rows],
                indent=2,
                ensure_ascii=False,
            )
        )
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for r in rows:
            writer.writerow(
                ["" if v is None else json.dumps(jsonable(v)) if isinstance(v, dict | list) else v for v in r]
            )
    else:
        table = fitting_table(columns, rows, out.width, title)
        if table is not None:
            out.print(table)
            return
        for line in line_per_column(columns, rows, out.width, title):
            out.print(line, soft_wrap=False)  # the values are cut to the width already; a long note wraps


@app.command("sql")
def sql_cmd(
    query: Annotated[str, typer.Argument(help="A DuckDB query over the views (events, insights, ...).")],
    lake: LakeOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help="table, csv or json (an array of row objects).")
    ] = "table",
) -> None:
    """Run a SQL query against the lake's DuckDB views."""
    with _errors():
        if fmt not in ("table", "csv", "json"):
            raise ConfigError(f"--format {fmt!r}: choose table, csv or json")
        from trailduck.analysis.query import run_query

        columns, rows = run_query(Lake(_lake_path(lake)), query)
        print_rows(columns, rows, fmt)


_SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}


@app.command("report")
def report_cmd(
    lake: LakeOpt = None,
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
) -> None:
    """Run every detection (CIS AWS Foundations v3.0 4.1-4.15, then trailduck's own) over a window of days.

    The window applies to the partition date (the UTC day of eventTime). Counts are events as delivered.
    Each detection is a view in the lake's database: query it for every row, e.g.
    trailduck sql "SELECT * FROM cis_4_03_root_account_usage".
    """
    from trailduck.analysis.report import run_report, to_markdown

    with _errors():
        if fmt not in ("table", "json", "markdown"):
            raise ConfigError(f"--format {fmt!r}: choose table, json or markdown")
        first, last = parse_since(since), parse_day(until, "--until")
        findings = run_report(Lake(_lake_path(lake)), first, last)
        if fmt == "json":
            print(json.dumps([f.to_json() for f in findings], indent=2, ensure_ascii=False))
        elif fmt == "markdown":
            print(to_markdown(findings, first, last), end="")
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
            out.print(table)
            matched = [f for f in findings if f.count]
            out.print(
                f"{len(matched)} of {len(findings)} detections matched "
                f'{sum(f.count for f in matched):,} events; see the rows with trailduck sql "SELECT * FROM <view>"',
                highlight=False,
            )
    if fail_on_findings and any(f.count for f in findings):
        raise typer.Exit(ExitCode.FINDINGS)


@app.command("views")
def views_cmd(
    lake: LakeOpt = None,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Re-create the views, for the folder the lake is in now (before ATTACHing a moved or copied "
            "lake's database to another DuckDB database, which cannot tell where it is).",
        ),
    ] = False,
) -> None:
    """List the views in <lake>/trailduck.duckdb with a line on each."""
    from trailduck.lake.views import all_views, refresh_views

    with _errors():
        the_lake = Lake(_lake_path(lake))
        if refresh:
            refresh_views(the_lake, force=True)
        print_rows(["view", "description"], [(v.name, v.description) for v in all_views()], "table")


@state_app.command("show")
def state_show(
    lake: LakeOpt = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What the checkpoint holds: per source and stream, the watermark and the open days."""
    from trailduck.lake.status import checkpoint_report

    with _errors():
        report = checkpoint_report(Lake(_lake_path(lake)), state)
        if as_json:
            print(json.dumps(report, indent=2))
            return
        out.print(f"checkpoint {_show(report['location'])} (updated {report['updated']})", highlight=False)
        out.print(f"sources read: {_show(', '.join(report['sources']))}", highlight=False)
        table = Table(title="streams", title_justify="left")
        for c in ("stream", "watermark", "open days", "keys"):
            table.add_column(c, overflow="fold")
        for st in report["streams"]:
            table.add_row(
                Text(printable(st["stream"])),
                st["watermark"] or "-",
                ", ".join(st["open_days"]) or "-",
                str(st["keys"]),
            )
        out.print(table)
        out.print(f"quarantined files: {len(report['failed'])} (see `trailduck state failed`)")
        out.print(f"keys held in all: {report['keys']}")


@state_app.command("failed")
def state_failed(
    lake: LakeOpt = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The quarantined files with their reason and attempts; each is retried on the next ingest."""
    from trailduck.lake.status import checkpoint_report

    with _errors():
        report = checkpoint_report(Lake(_lake_path(lake)), state)
        failed = report["failed"]
        if as_json:
            print(json.dumps(failed, indent=2))
            return
        print_rows(
            ["key", "reason", "attempts", "last_failed"],
            [(f["key"], f["reason"], f["attempts"], f["last_failed"]) for f in failed],
            "table",
        )


@state_app.command("rebuild")
def state_rebuild(
    lake: LakeOpt = None,
    state: StateOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a checkpoint that is still readable.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild a lost or corrupt checkpoint from the lake's source_key lineage.

    The next ingest then lists the whole history once and converts only what the lake lacks.
    """
    from trailduck.lake.rebuild import rebuild_checkpoint

    with _errors():
        result = rebuild_checkpoint(Lake(_lake_path(lake)), state, force=force)
        if as_json:
            print(json.dumps(result.__dict__, indent=2))
            return
        if result.moved_aside:
            out.print(f"kept the old checkpoint as {_show(result.moved_aside)}", highlight=False)
        out.print(
            f"rebuilt {_show(result.location)}: {result.keys:,} objects in {result.streams} streams; the next "
            "ingest lists the whole history once and converts only what the lake lacks",
            highlight=False,
        )


@app.command("compact")
def compact_cmd(
    lake: LakeOpt = None,
    since: Annotated[str | None, typer.Option(help="First partition day (YYYY-MM-DD or Nd).")] = None,
    until: Annotated[str | None, typer.Option(help="Last partition day (YYYY-MM-DD or Nd).")] = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge each partition's small Parquet files into large ones, atomically and crash-safely.

    Readers see the old files or the new ones, never both. Safe to run again; partitions already in one file
    are left alone.
    """
    from trailduck.lake.compact import compact

    with _errors():
        summary = compact(
            Lake(_lake_path(lake)),
            since=parse_since(since),
            until=parse_day(until, "--until"),
            state_path=state,
        )
        if as_json:
            print(json.dumps(summary.__dict__, indent=2))
            return
        out.print(
            f"compacted {summary.partitions_compacted} partitions ({summary.files_before} files into "
            f"{summary.files_after}, {summary.rows:,} rows, {summary.bytes_before:,} -> {summary.bytes_after:,} "
            f"bytes) in {summary.duration_s:.2f} s; {summary.partitions_already_compact} already compact",
            highlight=False,
        )


DemoLakeOpt = Annotated[
    Path | None,
    typer.Option(
        "--lake",
        help=f"Lake folder for the demo: a new one, or one an earlier demo made (never a lake of real events). "
        f"Default: ./{DEMO_LAKE}, not $TRAILDUCK_LAKE.",
        show_default=False,
    ),
]


def _demo_hint(lake: Lake) -> list[str]:
    """How to query the demo lake: `pip install` brings DuckDB's Python module, not its command-line program."""
    one_liner = f"import duckdb; print(duckdb.connect('{lake.db_path}', read_only=True).sql('SELECT count(*) FROM events'))"
    return [
        f'Query it: trailduck sql "SELECT count(*) FROM events" --lake {shlex.quote(str(lake.root))}',
        f'  or from Python: python -c "{one_liner}"',
        "  or with the DuckDB command-line program (pip install duckdb-cli, or see https://duckdb.org/install): "
        f"duckdb -readonly {shlex.quote(str(lake.db_path))}",
    ]


@app.command("demo")
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

    with _errors():
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
        out.print(f"generated a demo trail in {_show(str(result.trail))}", highlight=False)
        _render_summary(result.summary)
        checked = result.integrity
        verdict = (
            "all valid or not yet covered"
            if checked.exit_code == 0
            else f"{len(checked.problems())} problems"
        )
        out.print(
            _show(
                f"verified {len(checked.digests):,} signed digests and {len(checked.log_files):,} log files: {verdict} "
                f"(again: trailduck verify {result.trail} --public-keys {result.public_keys})"
            ),
            highlight=False,
        )
        for line in _demo_hint(the_lake):
            out.print(_show(line), highlight=False)
        for (title, sql), (columns, rows) in zip(EXAMPLE_QUERIES, result.results, strict=True):
            shown = _show(f'$ trailduck sql "{" ".join(sql.split())}" --lake {the_lake.root}')
            out.print(f"\n[bold]{_show(title)}[/]\n[dim]{shown}[/]", highlight=False)
            print_rows(columns, rows, "table")
    raise typer.Exit(result.summary.exit_code)


@app.command("verify")
def verify_cmd(
    source: Annotated[str, typer.Argument(help="s3://bucket[/prefix] or a local folder holding AWSLogs/.")],
    lake: Annotated[
        Path | None,
        typer.Option(
            "--lake",
            help="Keep the verdicts in this lake (views integrity and integrity_digests) and cross-check "
            "each file with the content ingest converted. Default: $TRAILDUCK_LAKE if set, else not kept.",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="First day (YYYY-MM-DD, today or Nd). Default: everything.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day (YYYY-MM-DD, today or Nd). Default: everything.")
    ] = None,
    public_keys: Annotated[
        Path | None,
        typer.Option(
            "--public-keys",
            help="Verify offline with this file: the output of `aws cloudtrail list-public-keys`. "
            "Default: ask CloudTrail (needs cloudtrail:ListPublicKeys).",
            show_default=False,
        ),
    ] = None,
    trust_lake_hashes: Annotated[
        bool,
        typer.Option(
            "--trust-lake-hashes",
            help="With --lake: check the files ingest already converted by the SHA-256 it recorded, without "
            "downloading them again (proves the lake's rows; only digests and other files are read).",
        ),
    ] = False,
    concurrency: ConcurrencyOpt = 16,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print {"digests": [{key, status, detail}], "log_files": [...], "note": null} instead of '
            "text.",
        ),
    ] = False,
    progress: ProgressOpt = PROGRESS_ON_A_TERMINAL,
) -> None:
    """Prove the log files are what CloudTrail delivered: walk the signed digest chains, check every file.

    Digest statuses: valid, bad_signature, moved, missing, gap (logging or validation was off), unknown_key.
    Log file statuses: valid, hash_mismatch, missing, trailing_data, unreferenced, not_yet_covered (newer than
    the last digest: normal on a live trail). In a local folder a digest's signature is read from the sidecar
    file <digest key>.signature (hex). Exit code 0: everything valid or not yet covered; 4: a problem was
    found (a gap included); 1: fatal error; 2: usage error.
    """
    from trailduck.integrity.verify import VerifyOptions, keep_result, lake_hashes, verify

    with _errors():
        options = VerifyOptions(
            source=source,
            since=parse_since(since),
            until=parse_day(until, "--until"),
            public_keys=public_keys,
            trust_lake_hashes=trust_lake_hashes,
            concurrency=concurrency,
            profile=profile,
            region=region,
            endpoint_url=endpoint_url,
        )
        named_lake = lake or (
            Path(os.environ["TRAILDUCK_LAKE"]) if os.environ.get("TRAILDUCK_LAKE") else None
        )
        the_lake = Lake(named_lake) if named_lake else None
        if trust_lake_hashes and the_lake is None:
            raise ConfigError(
                "--trust-lake-hashes needs --lake (or $TRAILDUCK_LAKE): the hashes are the lake's"
            )
        converted = lake_hashes(the_lake) if the_lake else None
        if progress:
            with Progress(
                TextColumn("verifying"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("objects"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("verify", total=None)
                result = verify(
                    options,
                    converted_hashes=converted,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        else:
            result = verify(options, converted_hashes=converted)
        if the_lake is not None:
            keep_result(the_lake, result)
        if as_json:
            print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        else:
            _render_verify(result, the_lake)
    raise typer.Exit(result.exit_code)


def _render_verify(result: Any, lake: Lake | None) -> None:
    counts = result.counts()
    table = Table(title=f"trailduck verify: {printable(result.source)}", title_justify="left")
    table.add_column("status")
    table.add_column("digests", justify="right")
    table.add_column("log files", justify="right")
    statuses = dict.fromkeys([*counts["digests"], *counts["log_files"]])
    for status in statuses:
        d, f = counts["digests"].get(status), counts["log_files"].get(status)
        style = "" if status in ACCEPTABLE or not (d or f) else "bold red"
        table.add_row(status, "" if d is None else f"{d:,}", "" if f is None else f"{f:,}", style=style)
    out.print(table)
    if result.note:
        out.print(f"[yellow]note:[/] {_show(result.note)}", highlight=False)
    problems = result.problems()
    by_where: dict[tuple[str, str], int] = {}
    for _, v in problems:
        by_where[(v.account, v.region)] = by_where.get((v.account, v.region), 0) + 1
    for kind, v in problems[:50]:
        out.print(
            f"[red]{v.status}[/] {kind} {_show(result.object_key(v.key))}: {_show(v.detail)}", highlight=False
        )
    if len(problems) > 50:
        out.print(f"... and {len(problems) - 50} more (use --json to see all)")
    for account, region in result.unvouched_streams:
        out.print(
            f"[yellow]note[/] account {account} region {region}: no verified digest at all; is log file "
            "validation on for its trail?",
            highlight=False,
        )
    if problems:
        where = ", ".join(f"{a} {r}: {n}" for (a, r), n in sorted(by_where.items()))
        noun = "problem" if len(problems) == 1 else "problems"
        out.print(f"[bold red]{len(problems)} {noun}[/] ({where})", highlight=False)
    else:
        out.print(
            f"all {len(result.digests):,} digests and {len(result.log_files):,} log files are valid or not yet "
            f"covered ({result.duration_s:.1f} s)",
            highlight=False,
        )
    if lake is not None:
        out.print(_show(f'kept in the lake: trailduck sql "SELECT * FROM integrity" --lake {lake.root}'))


@app.command("setup")
def setup_cmd(
    bucket: Annotated[str, typer.Option(help="Bucket for the logs; created if absent.", show_default=False)],
    trail: Annotated[str, typer.Option(help="Trail name; created if absent.", show_default=False)],
    region: Annotated[
        str | None,
        typer.Option(help="Home region of the trail and the bucket. Default: the profile's, else us-east-1."),
    ] = None,
    organization: Annotated[
        bool, typer.Option("--organization", help="An organization trail (run from the management account).")
    ] = False,
    kms_key: Annotated[
        str | None,
        typer.Option("--kms-key", help="Encrypt logs with this KMS key ARN (SSE-KMS). Default: SSE-S3."),
    ] = None,
    profile: ProfileOpt = None,
    endpoint_url: Annotated[
        str | None, typer.Option(help="Endpoint for every AWS call, e.g. a local test server.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and the policies; call nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create the S3 bucket and the CloudTrail trail that trailduck reads; safe to run again.

    The bucket gets public access blocked, default encryption and a policy that lets only this trail's
    CloudTrail write under AWSLogs/. The trail is multi-region with log file validation on (so `trailduck
    verify` can prove the logs), and logging is started. Each step reads first and changes only what differs: a
    second run reports no changes. Also prints the least-privilege policy for a reader running ingest and
    verify. No SNS or SQS: trailduck scans the bucket.
    """
    from trailduck.trail_setup import CHANGES, SetupOptions, client_factory, default_region, setup_trail

    with _errors():
        if region is None:
            region = default_region(profile)
        options = SetupOptions(bucket, trail, region, organization, kms_key, dry_run)
        clients = None if dry_run else client_factory(region, profile, endpoint_url)
        result = setup_trail(options, clients)
        if as_json:
            print(json.dumps(result.to_json(), indent=2))
            return
        title = "trailduck setup (dry run: nothing was called)" if dry_run else "trailduck setup"
        table = Table(title=title, title_justify="left")
        table.add_column("step")
        table.add_column("outcome")
        for step, outcome in result.steps:
            style = "green" if outcome in CHANGES else ""
            table.add_row(Text(printable(step)), outcome, style=style)
        out.print(table)
        if dry_run:
            out.print("nothing changed (dry run)")
        elif result.changed:
            out.print(
                f"done: trail {_show(result.trail_arn)} logs to s3://{_show(bucket)}/AWSLogs/",
                highlight=False,
            )
        else:
            out.print("no changes: the bucket and the trail were already set up", highlight=False)
        out.print("\n[bold]bucket policy[/] (for CloudTrail):")
        print(json.dumps(result.bucket_policy, indent=2))
        out.print("\n[bold]reader policy[/] (attach to the role that runs trailduck ingest and verify):")
        print(json.dumps(result.reader_policy, indent=2))
        out.print(_say(f"\nnext: trailduck ingest s3://{bucket} --lake ./cloudtrail-lake"), highlight=False)


def main() -> None:
    # Here, in the command's entry point, never at import: a library caller keeps its own signal handling.
    signal.signal(signal.SIGTERM, _raise_stop_signal)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

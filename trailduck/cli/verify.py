"""`trailduck verify`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from trailduck.cli import console
from trailduck.cli.console import exit_on_error, show
from trailduck.cli.options import (
    PROGRESS_ON_A_TERMINAL,
    ConcurrencyOpt,
    EndpointOpt,
    ProfileOpt,
    ProgressOpt,
    RegionOpt,
    parse_day,
    parse_since,
)
from trailduck.cli.render import printable
from trailduck.errors import ConfigError
from trailduck.lake.folder import LAKE_ENV, Lake
from trailduck.lake.verdicts import ACCEPTABLE


def verify_cmd(
    source: Annotated[str, typer.Argument(help="s3://bucket[/prefix] or a local folder holding AWSLogs/.")],
    lake: Annotated[
        Path | None,
        typer.Option(
            "--lake",
            help="Keep the verdicts in this lake (views integrity and integrity_digests) and cross-check "
            f"each file with the content ingest converted. Default: ${LAKE_ENV} if set, else not kept.",
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

    with exit_on_error():
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
        named_lake = lake or (Path(os.environ[LAKE_ENV]) if os.environ.get(LAKE_ENV) else None)
        the_lake = (
            Lake(named_lake, profile=profile, region=region, endpoint_url=endpoint_url)
            if named_lake
            else None
        )
        if trust_lake_hashes and the_lake is None:
            raise ConfigError(f"--trust-lake-hashes needs --lake (or ${LAKE_ENV}): the hashes are the lake's")
        converted = lake_hashes(the_lake) if the_lake else None
        if progress:
            with Progress(
                TextColumn("verifying"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("objects"),
                TimeElapsedColumn(),
                console=console.err,
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
    console.out.print(table)
    if result.note:
        console.out.print(f"[yellow]note:[/] {show(result.note)}", highlight=False)
    problems = result.problems()
    by_where: dict[tuple[str, str], int] = {}
    for _, v in problems:
        by_where[(v.account, v.region)] = by_where.get((v.account, v.region), 0) + 1
    for kind, v in problems[:50]:
        console.out.print(
            f"[red]{v.status}[/] {kind} {show(result.object_key(v.key))}: {show(v.detail)}", highlight=False
        )
    if len(problems) > 50:
        console.out.print(f"... and {len(problems) - 50} more (use --json to see all)")
    for account, region in result.unvouched_streams:
        console.out.print(
            f"[yellow]note[/] account {account} region {region}: no verified digest at all; is log file "
            "validation on for its trail?",
            highlight=False,
        )
    if problems:
        where = ", ".join(f"{a} {r}: {n}" for (a, r), n in sorted(by_where.items()))
        noun = "problem" if len(problems) == 1 else "problems"
        console.out.print(f"[bold red]{len(problems)} {noun}[/] ({where})", highlight=False)
    else:
        console.out.print(
            f"all {len(result.digests):,} digests and {len(result.log_files):,} log files are valid or not yet "
            f"covered ({result.duration_s:.1f} s)",
            highlight=False,
        )
    if lake is not None:
        console.out.print(
            show(f'kept in the lake: trailduck sql "SELECT * FROM integrity" --lake {lake.root}')
        )

"""`trailduck state show|failed|rebuild` and `trailduck compact`: the checkpoint and the lake's upkeep."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from trailduck.cli import console
from trailduck.cli.console import exit_on_error, print_rows, show
from trailduck.cli.options import (
    JsonOpt,
    LakeEndpointOpt,
    LakeOpt,
    LakeProfileOpt,
    LakeRegionOpt,
    StateOpt,
    parse_day,
    parse_since,
)
from trailduck.cli.render import printable
from trailduck.lake.folder import open_lake


def state_show(
    lake: LakeOpt = None,
    profile: LakeProfileOpt = None,
    region: LakeRegionOpt = None,
    endpoint_url: LakeEndpointOpt = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What the checkpoint holds: per source and stream, the watermark and the open days."""
    from trailduck.lake.status import checkpoint_report

    with exit_on_error():
        report = checkpoint_report(
            open_lake(lake, profile=profile, region=region, endpoint_url=endpoint_url), state
        )
        if as_json:
            print(json.dumps(report, indent=2))
            return
        console.out.print(
            f"checkpoint {show(report['location'])} (updated {report['updated']})", highlight=False
        )
        console.out.print(f"sources read: {show(', '.join(report['sources']))}", highlight=False)
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
        console.out.print(table)
        console.out.print(f"quarantined files: {len(report['failed'])} (see `trailduck state failed`)")
        console.out.print(f"keys held in all: {report['keys']}")


def state_failed(
    lake: LakeOpt = None,
    profile: LakeProfileOpt = None,
    region: LakeRegionOpt = None,
    endpoint_url: LakeEndpointOpt = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The quarantined files with their reason and attempts; each is retried on the next ingest."""
    from trailduck.lake.status import checkpoint_report

    with exit_on_error():
        report = checkpoint_report(
            open_lake(lake, profile=profile, region=region, endpoint_url=endpoint_url), state
        )
        failed = report["failed"]
        if as_json:
            print(json.dumps(failed, indent=2))
            return
        print_rows(
            ["key", "reason", "attempts", "last_failed"],
            [(f["key"], f["reason"], f["attempts"], f["last_failed"]) for f in failed],
            "table",
        )


def state_rebuild(
    lake: LakeOpt = None,
    profile: LakeProfileOpt = None,
    region: LakeRegionOpt = None,
    endpoint_url: LakeEndpointOpt = None,
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

    with exit_on_error():
        result = rebuild_checkpoint(
            open_lake(lake, profile=profile, region=region, endpoint_url=endpoint_url), state, force=force
        )
        if as_json:
            print(json.dumps(result.__dict__, indent=2))
            return
        if result.moved_aside:
            console.out.print(f"kept the old checkpoint as {show(result.moved_aside)}", highlight=False)
        console.out.print(
            f"rebuilt {show(result.location)}: {result.keys:,} objects in {result.streams} streams; the next "
            "ingest lists the whole history once and converts only what the lake lacks",
            highlight=False,
        )


def compact_cmd(
    lake: LakeOpt = None,
    profile: LakeProfileOpt = None,
    region: LakeRegionOpt = None,
    endpoint_url: LakeEndpointOpt = None,
    since: Annotated[str | None, typer.Option(help="First partition day (YYYY-MM-DD or Nd).")] = None,
    until: Annotated[str | None, typer.Option(help="Last partition day (YYYY-MM-DD or Nd).")] = None,
    state: StateOpt = None,
    retain: Annotated[
        str,
        typer.Option(
            help="Keep the files a compaction replaces this long (24h, 7d; 0: delete at once) so that queries "
            "already reading them finish; older ones are deleted (Delta's vacuum)."
        ),
    ] = "24h",
    as_json: JsonOpt = False,
) -> None:
    """Merge each partition's small Parquet files into large ones (Delta's optimize, one commit per table),
    then delete replaced files, and data files no commit named, older than --retain (Delta's full vacuum).

    Readers see the old files or the new ones, never both. Safe to run again; partitions already in one file
    are left alone.
    """
    from trailduck.lake.compact import compact, parse_retention

    with exit_on_error():
        summary = compact(
            open_lake(lake, profile=profile, region=region, endpoint_url=endpoint_url),
            since=parse_since(since),
            until=parse_day(until, "--until"),
            state_path=state,
            retain=parse_retention(retain),
        )
        if as_json:
            print(json.dumps(summary.__dict__, indent=2))
            return
        console.out.print(
            f"compacted {summary.partitions_compacted} partitions ({summary.files_before} files into "
            f"{summary.files_after}, {summary.bytes_before:,} -> {summary.bytes_after:,} "
            f"bytes) in {summary.duration_s:.2f} s; deleted {summary.files_vacuumed} replaced files older than "
            f"{summary.retain_hours:g} h",
            highlight=False,
        )

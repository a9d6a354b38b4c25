"""`trailduck setup`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from trailduck.cli import console
from trailduck.cli.console import exit_on_error, say, show
from trailduck.cli.options import (
    JsonOpt,
    ProfileOpt,
)
from trailduck.cli.render import printable
from trailduck.lake.folder import DEFAULT_LAKE


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

    with exit_on_error():
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
        console.out.print(table)
        if dry_run:
            console.out.print("nothing changed (dry run)")
        elif result.changed:
            console.out.print(
                f"done: trail {show(result.trail_arn)} logs to s3://{show(bucket)}/AWSLogs/",
                highlight=False,
            )
        else:
            console.out.print("no changes: the bucket and the trail were already set up", highlight=False)
        console.out.print("\n[bold]bucket policy[/] (for CloudTrail):")
        print(json.dumps(result.bucket_policy, indent=2))
        console.out.print(
            "\n[bold]reader policy[/] (attach to the role that runs trailduck ingest and verify):"
        )
        print(json.dumps(result.reader_policy, indent=2))
        console.out.print(
            say(f"\nnext: trailduck ingest s3://{bucket} --lake ./{DEFAULT_LAKE}"), highlight=False
        )

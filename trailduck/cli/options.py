"""Options shared by the commands, and how their values are read (days, lists, the lake)."""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from trailduck.errors import ConfigError
from trailduck.lake.folder import DEFAULT_LAKE, LAKE_ENV
from trailduck.lake.layout import LakeLayout

LakeOpt = Annotated[
    Path | None,
    typer.Option(
        "--lake",
        help=f"Lake folder, or s3://bucket/prefix. Default: ${LAKE_ENV}, then ./{DEFAULT_LAKE}.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", help="Objects fetched at once.")]
FetchConcurrencyOpt = Annotated[
    int,
    typer.Option(
        "--concurrency",
        help="Objects fetched at once, at most: fetching starts with a few and widens while that raises the rate.",
    ),
]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="AWS profile (standard credential chain if unset).")
]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region of the bucket's endpoint.")]
EndpointOpt = Annotated[
    str | None, typer.Option("--endpoint-url", help="S3-compatible endpoint, e.g. http://127.0.0.1:9000.")
]
#: How a lake on S3 is reached (ingest's --profile, --region and --endpoint-url serve its source and its lake).
LakeProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="AWS profile for a lake on S3 (standard chain if unset).")
]
LakeRegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region for a lake on S3.")]
LakeEndpointOpt = Annotated[
    str | None, typer.Option("--endpoint-url", help="S3-compatible endpoint for a lake on S3.")
]
#: Progress bars go to stderr, so they are on by default only when stderr is a terminal.
PROGRESS_ON_A_TERMINAL = sys.stderr.isatty()
ProgressOpt = Annotated[
    bool,
    typer.Option("--progress/--no-progress", help="Progress bar (default: on when stderr is a terminal)."),
]
#: Where the checkpoint is, as --help says it.
DEFAULT_STATE = LakeLayout(Path("<lake>")).state_path.as_posix()
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        help=f"Checkpoint file, if it was moved with ingest --state. Default: {DEFAULT_STATE}.",
        show_default=False,
    ),
]


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


def split_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]

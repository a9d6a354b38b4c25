"""`trailduck ddl`: the SQL that registers the lake's tables in Athena, Trino or Spark."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from trailduck.cli.console import exit_on_error
from trailduck.lake.engines import DEFAULT_CATALOG, DEFAULT_DATABASE, ENGINES, lake_ddl
from trailduck.lake.folder import DEFAULT_LAKE, LAKE_ENV


def ddl_cmd(
    engine: Annotated[
        str, typer.Option("--engine", help=f"The engine to print the SQL for: {', '.join(ENGINES)}.")
    ],
    lake: Annotated[
        str | None,
        typer.Option(
            "--lake",
            help=f"The lake: a local folder (default: ${LAKE_ENV}, then ./{DEFAULT_LAKE}), which must exist, or "
            "s3://bucket/prefix, printed as it is. Athena and Trino read S3 only: for a local lake give "
            "--location too.",
            show_default=False,
        ),
    ] = None,
    location: Annotated[
        str | None,
        typer.Option(
            "--location",
            help="s3://bucket/prefix where you copied the local lake (aws s3 sync LAKE s3://bucket/prefix); the "
            "tables are its events/ and insights/ folders.",
            show_default=False,
        ),
    ] = None,
    database: Annotated[
        str,
        typer.Option(
            "--database",
            help="Database (Trino: schema) to register the tables in: letters, digits and underscores.",
        ),
    ] = DEFAULT_DATABASE,
    catalog: Annotated[
        str, typer.Option("--catalog", help="Trino only: the catalog of the delta_lake connector.")
    ] = DEFAULT_CATALOG,
) -> None:
    """Print the SQL that registers the lake's tables, events and insights, as Delta Lake tables in Athena,
    Trino or Spark.

    The engine reads each table's columns and files from its Delta log, so the SQL names only where each table
    is. Plain SQL, one statement a line, on stdout: pipe it or save it, e.g.
    trailduck ddl --engine spark --lake cloudtrail-lake > register.sql. Nothing is run, nothing is read from S3.
    """
    with exit_on_error():
        # $TRAILDUCK_LAKE may be an s3:// URI, which only the engines' module may read: handed over as text.
        print(lake_ddl(engine, lake or os.environ.get(LAKE_ENV), location, database, catalog), end="")

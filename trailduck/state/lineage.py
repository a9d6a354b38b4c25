"""What the lake already holds, read from its ``source_key`` lineage column.

The checkpoint forgets the keys of sealed days; a backfill over those days asks the lake instead, so that it
adds only the objects that are missing.
"""

from __future__ import annotations

import datetime as dt

from trailduck.lake import Lake
from trailduck.scanner.keys import Kind, Stream, object_identity
from trailduck.views import sql_literal


def dataset_of(stream: Stream) -> str:
    return "insights" if stream.kind is Kind.INSIGHT else "events"


def lake_source_keys(lake: Lake, stream: Stream, first: dt.date | None, last: dt.date) -> set[str]:
    """The identities (keys without ``.gz``) of the objects of ``stream`` delivered on days ``first`` (None:
    from the beginning) to ``last`` that have rows in the lake."""
    folder = lake.dataset_dir(dataset_of(stream)) / f"account={stream.account}" / f"region={stream.region}"
    if not any(folder.glob("date=*/*.parquet")):
        return set()
    low = stream.day_prefix(first) if first else stream.prefix
    high = stream.day_prefix(last + dt.timedelta(days=1))
    query = (
        "SELECT DISTINCT source_key FROM read_parquet(" + sql_literal(f"{folder}/date=*/*.parquet") + ") "
        "WHERE source_key >= ? AND source_key < ?"
    )
    con = lake.scratch_connection()
    try:
        return {object_identity(row[0]) for row in con.execute(query, [low, high]).fetchall()}
    finally:
        con.close()

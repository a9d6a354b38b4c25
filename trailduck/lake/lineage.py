"""What the lake already holds, read from its ``source_key`` lineage column.

The checkpoint forgets the keys of sealed days; a backfill over those days asks the lake instead, so that it
adds only the objects that are missing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trailduck.fsutil import beside, replace_durably
from trailduck.lake.folder import Lake
from trailduck.lake.layout import DAY_FILES, EVENTS, INSIGHTS
from trailduck.lake.table import current_files, is_table
from trailduck.scanner.keys import Kind, Stream, object_identity
from trailduck.sql import sql_literal


def dataset_of(stream: Stream) -> str:
    return INSIGHTS if stream.kind is Kind.INSIGHT else EVENTS


def lake_files(lake: Lake, dataset: str, account: str | None = None, region: str | None = None) -> list[Path]:
    """The data files of ``dataset`` (of one stream, when ``account`` and ``region`` are given) that readers
    read: its table's current files, or, in a lake of an earlier trailduck that has no table yet, every file in
    its partition folders."""
    if is_table(lake, dataset):
        return [
            lake.root / f.path
            for f in current_files(lake, dataset)
            if account is None or (f.partition["account"], f.partition["region"]) == (account, region)
        ]
    if account is None or region is None:
        return lake.data_files(dataset)
    return sorted(lake.stream_dir(dataset, account, region).glob(DAY_FILES))


def distinct_source_keys(
    lake: Lake, files: list[Path], low: str | None = None, high: str | None = None
) -> set[str]:
    """The distinct ``source_key`` values of ``files`` (from ``low`` inclusive to ``high`` exclusive)."""
    if not files:
        return set()
    query = (
        "SELECT DISTINCT source_key FROM read_parquet(["
        + ", ".join(sql_literal(str(f)) for f in files)
        + "]) WHERE source_key >= ? AND source_key < ?"
    )
    con = lake.scratch_connection()
    try:
        rows = con.execute(query, [low or "", high or "\U0010ffff"]).fetchall()
    finally:
        con.close()
    return {row[0] for row in rows}


def lake_source_keys(lake: Lake, stream: Stream, first: dt.date | None, last: dt.date) -> set[str]:
    """The identities (keys without ``.gz``) of the objects of ``stream`` delivered on days ``first`` (None:
    from the beginning) to ``last`` that have rows in the lake."""
    files = lake_files(lake, dataset_of(stream), stream.account, stream.region)
    low = stream.day_prefix(first) if first else stream.prefix
    high = stream.day_prefix(last + dt.timedelta(days=1))
    return {object_identity(key) for key in distinct_source_keys(lake, files, low, high)}


def save_content_hashes(lake: Lake, run_id: str, hashes: dict[str, str]) -> None:
    """Record the SHA-256 of the content each object of a run was converted from, in the run's own file
    (``_trailduck/content/part-<run>.parquet``): recovery deletes it with the run's data if the run does not
    commit, and ``verify --lake`` compares it with the digests."""
    if not hashes:
        return
    keys = sorted(hashes)
    table = pa.table({"source_key": keys, "sha256": [hashes[k] for k in keys]})
    final = lake.content_file(run_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = beside(final)
    pq.write_table(table, tmp, compression="zstd")
    replace_durably(tmp, final)


def content_hashes(lake: Lake) -> dict[str, str]:
    """Object key -> SHA-256 of the content the lake's rows came from (the latest run's, if converted twice)."""
    found: dict[str, str] = {}
    for path in lake.content_files():
        table = pq.read_table(path)
        found.update(zip(table["source_key"].to_pylist(), table["sha256"].to_pylist(), strict=True))
    return found

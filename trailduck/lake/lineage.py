"""What the lake already holds, read from its ``source_key`` lineage column.

The checkpoint forgets the keys of sealed days; a backfill over those days asks the lake instead, so that it
adds only the objects that are missing.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from trailduck.convert.schema import EVENT_SCHEMA
from trailduck.lake.folder import Lake
from trailduck.lake.layout import CONTENT, CONTENT_FILES, DAY_FILES, EVENTS, INSIGHTS, content_key
from trailduck.lake.table import current_files, is_table, open_table, table_partitioning
from trailduck.scanner.keys import Kind, Stream, object_identity


def dataset_of(stream: Stream) -> str:
    return INSIGHTS if stream.kind is Kind.INSIGHT else EVENTS


def lake_files(lake: Lake, dataset: str, account: str | None = None, region: str | None = None) -> list[str]:
    """The keys of the data files of ``dataset`` (that may hold one stream's rows, when ``account`` and
    ``region`` are given: in a lake partitioned by date, every file) that readers read: its table's current
    files, or, in a lake of an earlier trailduck that has no table yet, every file in its partition folders."""
    table = open_table(lake, dataset) if is_table(lake, dataset) else None
    if table is not None:
        by_stream = "account" in table_partitioning(table).keys
        return [
            f.path
            for f in current_files(lake, dataset)
            if account is None
            or not by_stream
            or (f.partition["account"], f.partition["region"]) == (account, region)
        ]
    if account is None or region is None:
        return [lake.relative(p) for p in lake.data_files(dataset)]
    return [lake.relative(p) for p in sorted(lake.stream_dir(dataset, account, region).glob(DAY_FILES))]


def distinct_source_keys(
    lake: Lake, keys: list[str], low: str | None = None, high: str | None = None
) -> set[str]:
    """The distinct ``source_key`` values of the data files ``keys`` (from ``low`` inclusive to ``high``
    exclusive), read through the lake's storage (a folder or S3) with pyarrow."""
    if not keys:
        return set()
    fs, base = lake.storage.filesystem()
    # (Only the event's columns: a lake partitioned by date has account and region in its files too.)
    dataset = ds.dataset(
        [f"{base}/{key}" for key in keys], filesystem=fs, format="parquet", schema=EVENT_SCHEMA
    )
    where = None
    if low is not None:
        where = pc.field("source_key") >= low
    if high is not None:
        upper = pc.field("source_key") < high
        where = upper if where is None else where & upper
    table = dataset.to_table(columns=["source_key"], filter=where)
    return set(pc.unique(table.column("source_key")).to_pylist())


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
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    lake.storage.write(content_key(run_id), sink.getvalue().to_pybytes())


def content_hashes(lake: Lake) -> dict[str, str]:
    """Object key -> SHA-256 of the content the lake's rows came from (the latest run's, if converted twice)."""
    found: dict[str, str] = {}
    for key in lake.storage.keys(CONTENT, CONTENT_FILES):
        data = lake.storage.read(key)
        if data is None:
            continue
        table = pq.read_table(pa.BufferReader(data))
        found.update(zip(table["source_key"].to_pylist(), table["sha256"].to_pylist(), strict=True))
    return found

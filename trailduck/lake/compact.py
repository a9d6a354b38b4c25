"""``trailduck compact``: Delta's optimize (merge each partition's small files into large ones, in one commit),
then vacuum (delete the files that commits removed, once older than a retention).

In a lake partitioned by date, whose files keep their rows sorted by account and region, optimize would merge
them unsorted: there each day of several files is read in order (DuckDB sorts, spilling to disk when it must),
written again by trailduck's own writer and committed in place of the files it replaces, in one commit a table.

Frequent ingests leave one file per partition per run. The optimize commit replaces them: a reader of the table
(trailduck's views, Athena, Spark, ...) sees the old set of files or the new one, never both and never neither.
The files it replaced stay on disk for ``retain`` (default :data:`DEFAULT_RETAIN`), so that a query that started
before the commit, and still reads them, is not cut off; vacuum deletes them once they are older. A crash at any
moment leaves the table at its last commit; files written by an optimize that did not commit are no table's
files and are never read. Idempotent: a partition already in one file is left alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trailduck import crashpoints
from trailduck.convert.schema import JSON_META
from trailduck.errors import ConfigError, LakeError
from trailduck.lake.folder import Lake
from trailduck.lake.layout import DATASETS, META, Partitioning
from trailduck.lake.table import (
    TABLE_SCHEMA,
    DataFile,
    add_records,
    adopt_files,
    commit_replacement,
    current_files,
    file_schema,
    open_table,
    table_partitioning,
)
from trailduck.lake.views import refresh_or_say
from trailduck.lake.writer import StorageLakeWriter, facts_by_key
from trailduck.sql import load_sql

log = logging.getLogger(__name__)

#: How long the files a compaction replaced are kept for queries that still read them.
DEFAULT_RETAIN = dt.timedelta(hours=24)


@dataclass
class CompactSummary:
    lake: str
    #: Partitions whose files were merged, and the files removed from and added to the tables.
    partitions_compacted: int = 0
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    #: Files that earlier commits replaced and that were deleted, being older than ``retain_hours``.
    files_vacuumed: int = 0
    retain_hours: float = DEFAULT_RETAIN.total_seconds() / 3600
    duration_s: float = 0.0
    views_error: str | None = None
    compacted: list[str] = field(default_factory=list)


def parse_retention(text: str) -> dt.timedelta:
    """``24h``, ``7d`` or ``0``: how long replaced files are kept (whole hours, as Delta's vacuum counts)."""
    value = text.strip().lower()
    hours = {"d": 24, "h": 1}
    if value == "0":
        return dt.timedelta(0)
    if len(value) < 2 or value[-1] not in hours or not value[:-1].isdigit() or len(value) > 8:
        raise ConfigError(
            f"--retain {text!r}: give a number of hours or days, like 24h or 7d (0 deletes replaced files at "
            "once, which can cut off a query that is reading them)"
        )
    return dt.timedelta(hours=int(value[:-1]) * hours[value[-1]])


def _writer_properties() -> Any:
    """The Parquet settings of trailduck's own writer (see :mod:`trailduck.lake.writer`), for optimize's files:
    zstd, and no dictionary for the JSON text columns, where it is built and then dropped."""
    import deltalake

    return deltalake.WriterProperties(
        compression="ZSTD",
        column_properties={
            f.name: deltalake.ColumnProperties(dictionary_enabled=False)
            for f in TABLE_SCHEMA
            if f.metadata == JSON_META
        },
    )


def _filters(since: dt.date | None, until: dt.date | None) -> list[tuple[str, str, Any]] | None:
    filters: list[tuple[str, str, Any]] = []
    if since:
        filters.append(("date", ">=", since.isoformat()))
    if until:
        filters.append(("date", "<=", until.isoformat()))
    return filters or None


def compact(
    lake: Lake,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    state_path: Path | None = None,
    retain: dt.timedelta = DEFAULT_RETAIN,
    max_file_bytes: int = 512 << 20,
    now: dt.datetime | None = None,
) -> CompactSummary:
    started = time.monotonic()
    now = now or dt.datetime.now(dt.UTC)
    summary = CompactSummary(lake=lake.location, retain_hours=retain.total_seconds() / 3600)
    if (lake.is_local and not lake.root.is_dir()) or (not lake.is_local and not lake.storage.keys(META)):
        raise LakeError(f"{lake.location}: no such lake; run `trailduck ingest` first")
    import deltalake

    with lake.lock(), lake.while_compacting():
        # An interrupted ingest is finished or rolled back first: its files must not be merged into others.
        # Refuses when it used another checkpoint.
        lake.recover(lake.state_store(state_path))
        for dataset in DATASETS:
            adopt_files(lake, dataset)  # a lake of an earlier trailduck: its table first, in place
            table = open_table(lake, dataset)
            if table is None:
                continue
            files = current_files(lake, dataset)
            before = {f.path: f.size for f in files}
            partitioning = table_partitioning(table)
            if partitioning.sort_keys:
                compacted = _compact_sorted(
                    lake, dataset, partitioning, files, since, until, max_file_bytes, now
                )
            else:
                metrics = table.optimize.compact(
                    partition_filters=_filters(since, until),
                    target_size=max_file_bytes,
                    writer_properties=_writer_properties(),
                    commit_properties=deltalake.CommitProperties(
                        custom_metadata={"trailduck.compact": f"{now:%Y%m%dT%H%M%SZ}"}
                    ),
                )
                compacted = int(metrics.get("partitionsOptimized", 0))
            crashpoints.hit("compact_committed")
            after = {f.path: f.size for f in current_files(lake, dataset)}
            table = open_table(lake, dataset) or table
            removed = set(before) - set(after)
            added = set(after) - set(before)
            summary.partitions_compacted += compacted
            summary.files_before += len(removed)
            summary.files_after += len(added)
            summary.bytes_before += sum(before[p] for p in removed)
            summary.bytes_after += sum(after[p] for p in added)
            summary.compacted += sorted({p.rsplit("/", 1)[0] for p in added})
            # On S3, only while the lake's lease is ours: a process stalled past it must not delete the new
            # writer's uploaded, not yet committed files (a full vacuum deletes files no commit names).
            lake.check_lease()
            vacuumed = table.vacuum(
                retention_hours=int(retain.total_seconds() // 3600),
                dry_run=False,
                enforce_retention_duration=False,
                # Also files no commit ever named, older than the retention: under the lake's lock and after
                # recovery none is a run's, so they are leftovers, such as the file of a Dask task that went on
                # writing after its run failed and the next run's recovery had cleaned up.
                full=True,
            )
            summary.files_vacuumed += len(vacuumed)
        summary.views_error = refresh_or_say(lake)
    summary.duration_s = time.monotonic() - started
    return summary


#: Rows DuckDB hands over at a time while a day is rewritten.
_SORTED_BATCH_ROWS = 50_000


def _compact_sorted(
    lake: Lake,
    dataset: str,
    partitioning: Partitioning,
    files: list[DataFile],
    since: dt.date | None,
    until: dt.date | None,
    max_file_bytes: int,
    now: dt.datetime,
) -> int:
    """Rewrite each day (from ``since`` to ``until``) of more than one file into one sorted file (more past
    ``max_file_bytes``) and commit them in place of those it replaces. Returns the days rewritten."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    days: dict[str, list[DataFile]] = {}
    for f in files:
        day = f.partition["date"]
        if (since is None or day >= since.isoformat()) and (until is None or day <= until.isoformat()):
            days.setdefault(day, []).append(f)
    days = {day: group for day, group in sorted(days.items()) if len(group) > 1}
    if not days:
        return 0  # already one file a day: nothing to do
    schema = file_schema(partitioning)
    order = ", ".join(f'"{key}"' for key in partitioning.sort_keys)
    fs, base = lake.storage.filesystem()
    writer = StorageLakeWriter(
        lake.storage,
        f"compact{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}",  # never the name of a file of an earlier one
        partitioning=partitioning,
        max_file_bytes=max_file_bytes,
    )
    con = lake.scratch_connection()
    try:
        con.execute("SET TimeZone = 'UTC'")  # timestamps come back as the files hold them
        for day, group in days.items():
            con.register(
                "day_files", ds.dataset([f"{base}/{f.path}" for f in group], schema=schema, filesystem=fs)
            )
            query = load_sql("sorted_day.sql").format(relation="day_files", order=order)
            for batch in con.sql(query).to_arrow_reader(_SORTED_BATCH_ROWS):
                writer.write_day(dataset, day, pa.Table.from_batches([batch]).cast(schema))
            con.unregister("day_files")
        written = writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        con.close()
    records = add_records(lake, written.files, facts_by_key(written.files, written.tmp_files, written.facts))
    commit_replacement(
        lake, dataset, records, [f for group in days.values() for f in group], f"{now:%Y%m%dT%H%M%SZ}"
    )
    return len(days)

"""The lake's two Delta Lake tables, ``events`` and ``insights``: their schema, their commits and their files.

Every data file becomes visible in one commit of the table's Delta log (``<dataset>/_delta_log/``), made with
``deltalake`` (delta-rs: no JVM, no catalog service), so Athena, Trino, Spark, Polars and DuckDB read the same
table without a reader ever seeing half a run. trailduck writes the Parquet files itself (its tuned writer, see
:mod:`trailduck.lake.writer`) and commits them as ``add`` actions; each commit carries Delta's application
transaction (:data:`APP_ID`, the run's sequence number), which is how a run that died between the commit and its
checkpoint is recognised and finished, never committed twice (see :meth:`trailduck.lake.folder.Lake.recover`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from trailduck.convert.schema import EVENT_SCHEMA
from trailduck.errors import ConfigError, LakeError
from trailduck.fsutil import fsync_dir, fsync_file
from trailduck.lake.layout import (
    DATASETS,
    DEFAULT_PARTITIONING,
    DELTA_LOG,
    PARTITION_KEYS,
    Partitioning,
    parse_partitioning,
    partitioning_named,
)
from trailduck.scanner.listing import in_parallel

if TYPE_CHECKING:
    from trailduck.lake.folder import Lake

log = logging.getLogger(__name__)

#: The application id of trailduck's commits (Delta's ``txn`` action): its version is the run's sequence number.
APP_ID = "trailduck"
#: What a table holds: the columns of an event, then account, region and date, all strings (whatever the
#: partitioning: the same columns in the same order for every query, view and engine).
TABLE_SCHEMA = pa.schema([*EVENT_SCHEMA, *(pa.field(key, pa.string()) for key in PARTITION_KEYS)])
_TIME_COLUMN = "eventTime"


def file_schema(partitioning: Partitioning) -> pa.Schema:
    """What a data file holds: the table's columns but its partition columns (which its folders hold)."""
    return pa.schema([f for f in TABLE_SCHEMA if f.name not in partitioning.keys])


@dataclass(frozen=True)
class DataFile:
    """One data file of a table: its path relative to the lake, its partition values and size."""

    path: str
    partition: Mapping[str, str]
    size: int


def _deltalake() -> Any:
    import deltalake  # loaded when a table is touched: `import trailduck` stays light

    return deltalake


def table_uri(lake: Lake, dataset: str) -> str:
    return lake.storage.uri_of(dataset)


def _options(lake: Lake) -> dict[str, str] | None:
    return lake.storage.storage_options() or None


def is_table(lake: Lake, dataset: str) -> bool:
    if lake.is_local:
        return lake.delta_log(dataset).is_dir()
    return bool(lake.storage.first_keys(f"{dataset}/{DELTA_LOG}/", 1))


def open_table(lake: Lake, dataset: str) -> Any | None:
    """The dataset's Delta table, or None when it was never created. A table made by another tool, or a log
    that cannot be read, is a :class:`LakeError` naming it: trailduck never writes into a table it cannot
    vouch for."""
    if not is_table(lake, dataset):
        return None
    deltalake = _deltalake()
    try:
        table = deltalake.DeltaTable(table_uri(lake, dataset), storage_options=_options(lake))
    except Exception as exc:  # delta-rs raises its own errors, and OSError/ValueError for damaged logs
        damaged = _first_damaged_commit(lake, dataset)
        if damaged is not None:
            raise LakeError(
                f"{damaged}: a commit of the Delta log that cannot be read ({_first_line(exc)}); restore it from a "
                "backup; trailduck will not guess what the table holds"
            ) from exc
        raise LakeError(
            f"{lake.storage.uri_of(f'{dataset}/{DELTA_LOG}')}: cannot read the Delta log ({_first_line(exc)}); restore the folder "
            "from a backup, or move it aside and run `trailduck state rebuild` after ingesting again"
        ) from exc
    _check_schema(lake, dataset, table)
    return table


def _check_schema(lake: Lake, dataset: str, table: Any) -> None:
    partitions = list(table.metadata().partition_columns)
    found = pa.schema(table.schema().to_arrow())
    if partitioning_named(partitions) is None or found.names != TABLE_SCHEMA.names:
        raise LakeError(
            f"{table_uri(lake, dataset)}: a Delta table that trailduck did not make (columns "
            f"{', '.join(found.names[:6])}{', ...' if len(found.names) > 6 else ''}; partitioned by "
            f"{', '.join(partitions) or 'nothing'}); trailduck writes only its own tables: choose another --lake"
        )


def table_partitioning(table: Any) -> Partitioning:
    """The partitioning of a table :func:`open_table` opened (and so checked)."""
    found = partitioning_named(table.metadata().partition_columns)
    assert found is not None, "open_table refuses other partitionings"
    return found


def lake_partitioning(lake: Lake) -> Partitioning | None:
    """The lake's partitioning, as its tables' partition columns say; the default for a lake of an earlier
    trailduck (Parquet files in Hive folders, no tables yet); None for a lake with neither (a new one)."""
    found = {d: table_partitioning(t) for d in DATASETS if (t := open_table(lake, d)) is not None}
    if len(set(found.values())) > 1:
        said = "; ".join(f"{table_uri(lake, d)} by {p.name}" for d, p in found.items())
        raise LakeError(
            f"{lake.location}: its tables are partitioned differently ({said}); trailduck writes only lakes "
            "whose tables agree: restore them from a backup"
        )
    if found:
        return next(iter(found.values()))
    return DEFAULT_PARTITIONING if lake.is_local and any(lake.has_data(d) for d in DATASETS) else None


def choose_partitioning(lake: Lake, requested: str | None) -> Partitioning:
    """The partitioning a run writes: the lake's own; ``requested`` (``--partition-by``) for a new lake, or the
    default. Asking an existing lake for another one is a :class:`ConfigError`: a lake is never mixed."""
    wanted = parse_partitioning(requested) if requested is not None else None
    existing = lake_partitioning(lake)
    if existing is not None and wanted is not None and wanted != existing:
        raise ConfigError(
            f"--partition-by {requested}: {lake.location} is partitioned by {existing.name}, chosen when it was "
            f"created, and a lake keeps its partitioning; leave the option out, or ingest into a new --lake "
            f"(then point the readers there)"
        )
    return existing or wanted or DEFAULT_PARTITIONING


def create_table(lake: Lake, dataset: str, partitioning: Partitioning = DEFAULT_PARTITIONING) -> Any:
    """Create the dataset's empty table (version 0), partitioned by ``partitioning``, or open it when it
    exists."""
    existing = open_table(lake, dataset)
    if existing is not None:
        return existing
    deltalake = _deltalake()
    return deltalake.DeltaTable.create(
        table_uri(lake, dataset),
        TABLE_SCHEMA,
        storage_options=_options(lake),
        mode="ignore",
        partition_by=list(partitioning.keys),
        name=dataset,
        description=f"CloudTrail {dataset}, written by trailduck",
    )


def committed_sequence(lake: Lake, dataset: str) -> int:
    """The sequence number of the last run committed to the dataset's table (0: none)."""
    table = open_table(lake, dataset)
    if table is None:
        return 0
    return int(table.transaction_version(APP_ID) or 0)


def lake_sequence(lake: Lake) -> int:
    """The sequence number of the last run committed to any of the lake's tables."""
    return max(committed_sequence(lake, dataset) for dataset in DATASETS)


#: Data files whose size and footer are read at once on S3 (two or three round trips each); a local lake reads them
#: one after another (threads there only contend for the GIL).
FOOTER_READS = 16


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What the commit says of a data file beside its place: known to the writer that closed it, so that the
    commit need not read the file back (three requests a file on S3)."""

    size: int
    #: Milliseconds since the epoch.
    modification_time: int
    #: Delta's statistics (:func:`file_stats`).
    stats: str


def add_records(
    lake: Lake, keys: list[str], known: Mapping[str, FileFacts] | None = None
) -> list[dict[str, Any]]:
    """:func:`add_record` of each key, in order, from the facts its writer gave (``known``, by key) or else from
    the file; those read on S3 :data:`FOOTER_READS` at once (a run of an organization's day writes over a
    thousand files: at 20 ms a round trip, about a minute one after another)."""
    facts = known or {}
    reads = sum(key not in facts for key in keys)
    if reads and not lake.is_local:
        lake.storage.filesystem()  # made (or its credentials refreshed) once, before the threads ask for it
    # in_parallel: in order, and on a failure the reads not yet started are not made.
    return list(
        in_parallel(
            lambda key: add_record(lake, key, facts.get(key)),
            keys,
            1 if lake.is_local or not reads else FOOTER_READS,
        )
    )


def add_record(lake: Lake, key: str, facts: FileFacts | None = None) -> dict[str, Any]:
    """What the commit says of a data file the run wrote (JSON, so that it can be kept until the commit):
    its path in the table, its partition values, size, time and statistics (rows, and the range of
    ``eventTime`` so that engines can skip files by time); read from the file unless ``facts`` says them."""
    dataset, *folders = key.split("/")
    if dataset not in DATASETS or not folders[:-1] or not all("=" in folder for folder in folders[:-1]):
        raise LakeError(f"{lake.storage.uri_of(key)}: not a data file of the lake")
    partition = dict(folder.split("=", 1) for folder in folders[:-1])
    if partitioning_named(partition) is None:
        raise LakeError(f"{lake.storage.uri_of(key)}: not in a partition folder of the lake")
    if facts is None:
        facts = read_facts(lake, key)
    return {
        "dataset": dataset,
        "path": "/".join(folders),
        "partition": partition,
        "size": facts.size,
        "modification_time": facts.modification_time,
        "stats": facts.stats,
    }


def read_facts(lake: Lake, key: str) -> FileFacts:
    """A data file's facts from the file itself: its size and time, and its footer."""
    fs, base = lake.storage.filesystem()
    info = fs.get_file_info(f"{base}/{key}")
    with fs.open_input_file(f"{base}/{key}") as handle:
        meta = pq.read_metadata(handle)
    mtime = info.mtime_ns // 1_000_000 if info.mtime_ns is not None else 0
    return FileFacts(info.size, mtime, file_stats(meta))


def file_stats(meta: pq.FileMetaData) -> str:
    """Delta's per-file statistics: rows, and eventTime's range widened to whole milliseconds (Delta keeps
    milliseconds; a narrower range would let an engine skip a file that holds a matching row); and the range of
    account and region where the file holds them (a lake partitioned by date)."""
    stats: dict[str, Any] = {"numRecords": meta.num_rows, "minValues": {}, "maxValues": {}, "nullCount": {}}
    for name in (_TIME_COLUMN, *(k for k in PARTITION_KEYS if k in meta.schema.names)):
        found = _column_range(meta, name)
        if found is None:
            continue  # no complete range: none said
        low, high, nulls = found
        if name == _TIME_COLUMN:
            low, high = _millis(low, math.floor), _millis(high, math.ceil)
        stats["minValues"][name], stats["maxValues"][name], stats["nullCount"][name] = low, high, nulls
    return json.dumps({key: value for key, value in stats.items() if value or key == "numRecords"})


def _column_range(meta: pq.FileMetaData, name: str) -> tuple[Any, Any, int] | None:
    """A column's smallest and largest value and its nulls, from every row group's statistics; None when a row
    group has none (or the file has no rows, or no such column)."""
    names = meta.schema.names
    if name not in names or meta.num_row_groups == 0:
        return None
    column = names.index(name)
    lows, highs, nulls = [], [], 0
    for i in range(meta.num_row_groups):
        st = meta.row_group(i).column(column).statistics
        if st is None or not st.has_min_max or st.null_count is None:
            return None
        lows.append(st.min)
        highs.append(st.max)
        nulls += st.null_count
    return min(lows), max(highs), nulls


def _millis(value: dt.datetime, rounding: Any) -> str:
    value = value.astimezone(dt.UTC)
    micros = value.microsecond
    whole = value.replace(microsecond=0) + dt.timedelta(milliseconds=rounding(micros / 1000))
    return whole.strftime("%Y-%m-%dT%H:%M:%S.") + f"{whole.microsecond // 1000:03d}Z"


def commit_run(
    lake: Lake,
    dataset: str,
    records: Iterable[dict[str, Any]],
    sequence: int,
    run_id: str,
    partitioning: Partitioning = DEFAULT_PARTITIONING,
) -> bool:
    """Commit a run's files to the dataset's table (made, partitioned by ``partitioning``, if there is none) as
    one commit, unless the table already holds this run's commit (its application transaction is at ``sequence``
    or later). Returns whether it committed."""
    deltalake = _deltalake()
    table = create_table(lake, dataset, partitioning)
    if int(table.transaction_version(APP_ID) or 0) >= sequence:
        return False
    properties = deltalake.CommitProperties(
        app_transactions=[deltalake.Transaction(app_id=APP_ID, version=sequence)],
        custom_metadata={"trailduck.run": run_id},
    )
    _commit(lake, dataset, table, _adds(records, data_change=True), properties)
    return True


def _adds(records: Iterable[dict[str, Any]], data_change: bool) -> list[Any]:
    """Delta ``add`` actions for files as :func:`add_record` describes them."""
    from deltalake.transaction import AddAction

    return [
        AddAction(r["path"], r["size"], r["partition"], r["modification_time"], data_change, r["stats"])
        for r in records
    ]


def _commit(lake: Lake, dataset: str, table: Any, actions: list[Any], properties: Any) -> None:
    """One commit of ``actions`` to the dataset's table, made durable (see :func:`_durable`)."""
    before = int(table.version())
    table.create_write_transaction(
        actions,
        mode="append",
        schema=TABLE_SCHEMA,
        partition_by=list(table_partitioning(table).keys),
        commit_properties=properties,
    )
    _durable(lake, dataset, before + 1)


def _durable(lake: Lake, dataset: str, version: int) -> None:
    """On a local disk, the commit's log file made durable before the checkpoint is saved (delta-rs does not
    fsync): a power cut must not leave a checkpoint that knows a run whose commit was lost. On S3 a PUT is."""
    if not lake.is_local:
        return
    log_dir = lake.delta_log(dataset)
    for path in log_dir.glob(f"{version:020d}.json"):
        fsync_file(path)
    fsync_dir(log_dir)


def current_files(lake: Lake, dataset: str) -> list[DataFile]:
    """The files the dataset's table holds now: exactly what a reader of the table reads."""
    table = open_table(lake, dataset)
    if table is None:
        return []
    actions = pa.table(table.get_add_actions(flatten=True))
    paths = actions.column("path").to_pylist()
    sizes = actions.column("size_bytes").to_pylist()
    keys = table_partitioning(table).keys
    values = {key: actions.column(f"partition.{key}").to_pylist() for key in keys}
    files = [
        DataFile(f"{dataset}/{path}", {key: values[key][i] for key in keys}, size)
        for i, (path, size) in enumerate(zip(paths, sizes, strict=True))
    ]
    return sorted(files, key=lambda f: f.path)


def adopt_files(lake: Lake, dataset: str) -> int:
    """Make the dataset's table from the Parquet files of a lake in the layout of an earlier trailduck (plain
    Hive folders, no Delta log), in place and in one commit: no data copied, nothing lost if it dies half-way
    (then there is no table yet, and the next run does it again). Returns the files adopted (0: nothing to do).
    Call it with the lake's lock held and interrupted runs rolled back, so that every file there is committed."""
    if not lake.is_local or is_table(lake, dataset) or not lake.has_data(dataset):
        return 0  # (no lake on S3 was made by an earlier trailduck)
    deltalake = _deltalake()
    from deltalake.transaction import AddAction, create_table_with_add_actions

    records = add_records(lake, [lake.relative(path) for path in lake.data_files(dataset)])
    create_table_with_add_actions(
        table_uri(lake, dataset),
        deltalake.Schema.from_arrow(TABLE_SCHEMA),
        [
            AddAction(r["path"], r["size"], r["partition"], r["modification_time"], True, r["stats"])
            for r in records
        ],
        mode="error",
        partition_by=list(DEFAULT_PARTITIONING.keys),
        storage_options=_options(lake),
        name=dataset,
        description=f"CloudTrail {dataset}, written by trailduck",
        commit_properties=deltalake.CommitProperties(custom_metadata={"trailduck.upgrade": "adopted"}),
    )
    log.warning(
        "%s: made a Delta table of its %d Parquet files, in place", lake.dataset_dir(dataset), len(records)
    )
    return len(records)


def table_versions(lake: Lake) -> dict[str, int | None]:
    """Each dataset's table version (None: no table yet)."""
    versions: dict[str, int | None] = {}
    for dataset in DATASETS:
        table = open_table(lake, dataset)
        versions[dataset] = None if table is None else int(table.version())
    return versions


def _first_damaged_commit(lake: Lake, dataset: str) -> str | None:
    """The first commit file of the log that is empty or not JSON lines, named for the message."""
    for key in lake.storage.keys(f"{dataset}/{DELTA_LOG}", "*.json"):
        data = lake.storage.read(key) or b""
        try:
            lines = [json.loads(line) for line in data.splitlines() if line.strip()]
        except ValueError:
            return lake.storage.uri_of(key)
        if not lines:
            return lake.storage.uri_of(key)
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def commit_replacement(
    lake: Lake, dataset: str, records: list[dict[str, Any]], removed: list[DataFile], note: str
) -> None:
    """One commit that replaces the table's files ``removed`` with ``records`` (as :func:`add_record` gives
    them): the same rows in other files (a compaction), so neither is a change of data; readers see the old set
    or the new one. ``note`` goes into the commit's metadata (``trailduck.compact``)."""
    deltalake = _deltalake()
    from deltalake.transaction import RemoveAction

    table = open_table(lake, dataset)
    if table is None:
        raise LakeError(f"{table_uri(lake, dataset)}: no table to compact")
    now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    prefix = f"{dataset}/"
    actions = _adds(records, data_change=False)
    actions += [
        RemoveAction(f.path.removeprefix(prefix), False, now_ms, f.size, dict(f.partition)) for f in removed
    ]
    properties = deltalake.CommitProperties(custom_metadata={"trailduck.compact": note})
    _commit(lake, dataset, table, actions, properties)

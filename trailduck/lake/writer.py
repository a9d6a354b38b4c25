"""Writes converted events into the Hive-partitioned Parquet lake, in the lake's partitioning (see
:class:`trailduck.lake.layout.Partitioning`).

At most one file per partition per writer: rows are buffered per partition and appended as row groups to one
open file per partition, which rolls over only at a size cap (or, rarely, when more partitions are open at once
than the cap on open files). Files go where the lake's storage says (:meth:`Storage.part_sink`): in a local
folder under a temporary name that no reader's glob matches, fsynced by :meth:`StorageLakeWriter.finish` and
renamed into place by :meth:`Storage.publish`; on S3 under their final key. Either way no reader of the table
sees them before the run's commit names them. A run with worker processes has one writer per worker (see
:mod:`trailduck.ingestion.workers`).

In a lake partitioned by date, a day's file holds every account and region, as columns, and each row group is
sorted by account, region and eventTime (and small, :data:`SORTED_ROW_GROUP_ROWS`), so that its statistics let a
reader skip the other accounts' rows. The objects of a run come in listing order, which is account and region
order, so a file is sorted throughout but where two streams' rows meet a row group's edge; compaction
(:mod:`trailduck.lake.compact`) sorts each day whole.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trailduck.convert.schema import JSON_META
from trailduck.errors import LakeError
from trailduck.fsutil import fsync_file
from trailduck.lake.layout import (
    DATASETS,
    DEFAULT_PARTITIONING,
    Partitioning,
    part_name,
    partition_path,
    run_parts,
    run_tmp_parts,
)
from trailduck.lake.storage import Storage
from trailduck.lake.table import FileFacts, file_schema, file_stats
from trailduck.scanner.keys import ACCOUNT_RE, REGION_RE

log = logging.getLogger(__name__)

_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: Columns worth a dictionary. Not the unique IDs nor the JSON text (requestParameters and friends, event_json),
#: where the dictionary is built and then dropped at the size cap: 7.6 -> 5.2 µs per event to write, 1.5%
#: larger files (200,000 synthetic events).
_NO_DICTIONARY = ("eventID", "requestID", "sharedEventID")
#: Rows a row group holds at most in a sorted file (a lake partitioned by date): small enough that one account's
#: rows of a day are a few row groups whose statistics skip the rest, large enough to compress well.
SORTED_ROW_GROUP_ROWS = 10_000


def parquet_options(schema: pa.Schema) -> dict[str, object]:
    """How every data file is written (``pq.ParquetWriter``'s options), ingested or compacted."""
    return {
        "compression": "zstd",
        "use_dictionary": [
            f.name for f in schema if f.metadata != JSON_META and f.name not in _NO_DICTIONARY
        ],
        # Min/max of JSON text prunes nothing; computing them for event_json cost ~0.2-0.9 µs an event.
        "write_statistics": [f.name for f in schema if f.metadata != JSON_META],
    }


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    dataset: str
    account: str
    region: str
    date: str

    def __post_init__(self) -> None:
        # Paths are built only from validated parts; re-check here so no caller can slip a raw string in.
        if (
            self.dataset not in DATASETS
            or not ACCOUNT_RE.fullmatch(self.account)
            or not REGION_RE.fullmatch(self.region)
            or not _DATE_RE.fullmatch(self.date)
        ):
            raise LakeError(f"refusing to build a partition path from {self!r}")

    @property
    def relpath(self) -> str:
        return partition_path(self.dataset, self.account, self.region, self.date)


@dataclass
class WriteResult:
    files: list[str] = field(default_factory=list)
    partitions: set[Partition] = field(default_factory=set)
    rows: int = 0
    #: Where the files were written (:meth:`Storage.part_sink`), to be published.
    tmp_files: list[str] = field(default_factory=list)
    #: What the commit says of each file, by where it was written: known when it was closed, not read back.
    facts: dict[str, FileFacts] = field(default_factory=dict)


def facts_by_key(
    published: list[str], sinks: list[str], facts: Mapping[str, FileFacts]
) -> dict[str, FileFacts]:
    """The writers' ``facts`` of files written at ``sinks`` by the keys they were published under (``publish``
    keeps the sinks' order)."""
    return {key: facts[sink] for key, sink in zip(published, sinks, strict=True) if sink in facts}


class LakeWriter(Protocol):
    """Where converted tables go. A later backend writes to S3, where there is no rename."""

    def write(self, dataset: str, account: str, region: str, table: pa.Table) -> None:
        """Append a table with a ``date`` column; it is split by date into partitions."""
        ...

    def finish(self) -> WriteResult:
        """Write out every buffer, close and fsync every file; they keep their temporary names."""
        ...

    def commit(self) -> WriteResult:
        """Make everything written durable and visible. Called before the checkpoint is saved."""
        ...

    def abort(self) -> None:
        """Drop everything written since the writer was made."""
        ...


@dataclass
class _OpenFile:
    tmp: str
    #: The stream the writer writes to, ours to close: its position, once the footer is written, is the size.
    sink: pa.NativeFile
    writer: pq.ParquetWriter
    #: The file's metadata, which the writer puts here when it closes.
    metadata: list[pq.FileMetaData] = field(default_factory=list)
    bytes_written: int = 0

    def close(self) -> int:
        """Write the footer and close the file; its size. A file that fails to close is given up (see
        :func:`_forget`) and the error raised."""
        try:
            self.writer.close()
            size = self.sink.tell()
            self.sink.close()
        except BaseException:
            _forget(self)
            raise
        return size


class StorageLakeWriter:
    """The lake in its storage: a local folder or S3."""

    def __init__(
        self,
        storage: Storage,
        run_id: str,
        *,
        partitioning: Partitioning = DEFAULT_PARTITIONING,
        tag: str = "",
        row_group_bytes: int = 16 << 20,
        buffer_bytes: int = 128 << 20,
        max_file_bytes: int = 512 << 20,
        max_open_files: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.clock = clock  # a file's modification time, as the commit says it
        self.run_id = run_id
        self.tag = tag  # keeps the file names of a run's worker processes apart
        self.partitioning = partitioning
        self.schema = file_schema(partitioning)
        self._options = parquet_options(self.schema)
        self._sort = [(key, "ascending") for key in partitioning.sort_keys]
        self.row_group_bytes = row_group_bytes
        self.buffer_bytes = buffer_bytes
        self.max_file_bytes = max_file_bytes
        self.max_open_files = max_open_files
        # Keyed by the folder a file goes to (relative to the lake): a partition of the lake's partitioning.
        self._buffers: dict[str, list[pa.Table]] = {}
        self._buffered: dict[str, int] = {}
        self._open: OrderedDict[str, _OpenFile] = OrderedDict()
        self._closed: list[str] = []
        # The stream of the last write (dataset, account, region) and, when a partition holds one stream, the
        # folders it wrote to (see _end_stream).
        self._by_stream = not partitioning.in_files
        self._stream: tuple[str, str, str] | None = None
        self._stream_folders: set[str] = set()
        self._seq = 0
        self._result = WriteResult()

    # -- writing -------------------------------------------------------------------------------------------
    def write(self, dataset: str, account: str, region: str, table: pa.Table) -> None:
        if (dataset, account, region) != self._stream:
            self._end_stream()
            self._stream = (dataset, account, region)
        dates = table.column("date")
        body = table.drop_columns(["date"])
        for name in self.partitioning.in_files:  # a column where no folder says it
            value = account if name == "account" else region
            body = body.append_column(name, pa.repeat(pa.scalar(value, pa.string()), body.num_rows))
        unique = pc.unique(dates).to_pylist()
        for date in unique:
            part = Partition(dataset, account, region, date)
            # A filtered copy per date, not slices of one sorted copy: a slice would pin the whole batch for as
            # long as any partition buffers it (tried: the same speed, 300 MiB more at peak).
            rows = body if len(unique) == 1 else body.filter(pc.equal(dates, date))
            self._result.partitions.add(part)
            folder = self.partitioning.folder(dataset, account, region, date)
            if self._by_stream:
                self._stream_folders.add(folder)
            self._add(folder, rows)
        self._limit_buffers()

    def _end_stream(self) -> None:
        """Write out and close the files of the stream written so far, in a lake partitioned by stream.

        A run's objects come in listing order, a stream's together, so once another stream's rows come the
        partitions of this one get nothing more: written now, each file is one row group (unless it passed
        ``row_group_bytes`` and was written in pieces before), and the buffers hold one stream at a time, not
        every partition of a many-stream trail until the memory cap forces them out in pieces. (Should a stream
        come again, its rows go into new files: more files, never a lost row.)
        """
        for folder in sorted(self._stream_folders):
            self._flush(folder)
            if folder in self._open:
                self._close(folder)
        self._stream_folders.clear()

    def write_day(self, dataset: str, date: str, rows: pa.Table) -> None:
        """Append rows of every account and region of a day, with their ``account`` and ``region`` columns, to
        the day's file of a lake partitioned by date (compaction's way in)."""
        if set(self.partitioning.in_files) != {"account", "region"}:
            raise LakeError(f"write_day writes a lake partitioned by date, not by {self.partitioning.name}")
        if dataset not in DATASETS or not _DATE_RE.fullmatch(date):
            raise LakeError(f"refusing to build a partition path from {dataset!r}, {date!r}")
        self._add(self.partitioning.folder(dataset, "", "", date), rows.select(self.schema.names))
        self._limit_buffers()

    def _add(self, folder: str, rows: pa.Table) -> None:
        self._buffers.setdefault(folder, []).append(rows)
        self._buffered[folder] = self._buffered.get(folder, 0) + rows.nbytes
        self._result.rows += rows.num_rows
        if self._buffered[folder] >= self.row_group_bytes:
            self._flush(folder)

    def _limit_buffers(self) -> None:
        while sum(self._buffered.values()) > self.buffer_bytes:
            self._flush(max(self._buffered, key=self._buffered.__getitem__))

    def _flush(self, folder: str) -> None:
        tables = self._buffers.pop(folder, [])
        self._buffered.pop(folder, None)
        if not tables:
            return
        table = pa.concat_tables(tables)
        out = self._file_for(folder)
        if self._sort:
            # A file of many accounts: sorted, and in small row groups, so that their statistics prune.
            out.writer.write_table(table.sort_by(self._sort), row_group_size=SORTED_ROW_GROUP_ROWS)
        else:
            # Not sorted: rows arrive in key order, which is delivery time, so each row group already covers a
            # narrow span of eventTime and time filters skip row groups by their min/max. Sorting inside a row
            # group cannot change those; it saved 3% of lake size and cost 10-25% of ingest time (2M events).
            out.writer.write_table(table)
        out.bytes_written += table.nbytes
        if out.bytes_written >= self.max_file_bytes:
            self._close(folder)

    def _file_for(self, folder: str) -> _OpenFile:
        if folder in self._open:
            self._open.move_to_end(folder)
            return self._open[folder]
        while len(self._open) >= self.max_open_files:
            self._close(next(iter(self._open)))
        self._seq += 1
        tmp = self.storage.part_sink(f"{folder}/{part_name(self.run_id, f'{self.tag}{self._seq:05d}')}")
        # The filesystem asked at each file: fresh credentials on S3. No compression guessed from the name.
        sink = self.storage.filesystem()[0].open_output_stream(tmp, compression=None)
        metadata: list[pq.FileMetaData] = []
        try:
            writer = pq.ParquetWriter(sink, self.schema, metadata_collector=metadata, **self._options)
        except BaseException:
            with contextlib.suppress(OSError, pa.ArrowException):
                sink.close()
            self._delete(tmp)  # created, but not yet ours to delete in abort()
            raise
        self._open[folder] = _OpenFile(tmp, sink, writer, metadata)
        return self._open[folder]

    def _close(self, folder: str) -> None:
        out = self._open.pop(folder)
        self._closed.append(out.tmp)  # first: if closing fails (a full disk), abort() still deletes it
        size = out.close()
        self._result.facts[out.tmp] = FileFacts(size, int(self.clock() * 1000), file_stats(out.metadata[0]))

    # -- finishing -----------------------------------------------------------------------------------------
    def finish(self) -> WriteResult:
        """Write out every buffer, close and fsync every file; they keep their temporary names."""
        for folder in list(self._buffers):
            self._flush(folder)
        for folder in list(self._open):
            self._close(folder)
        if self.storage.is_local:
            for tmp in self._closed:
                fsync_file(Path(tmp))
        self._result.tmp_files, self._closed = self._closed, []
        return self._result

    def commit(self) -> WriteResult:
        result = self.finish()
        result.files = self.storage.publish(result.tmp_files)
        return result

    def _delete(self, sink: str) -> None:
        delete_sinks(self.storage, [sink])

    def abort(self) -> None:
        """Close and delete every file; never raises for a file it cannot close, as it is being deleted anyway
        (the abort of a run that failed on a full disk, where closing a file fails the same way)."""
        for out in self._open.values():
            self._closed.append(out.tmp)
            with contextlib.suppress(OSError, pa.ArrowException):
                out.close()
        self._open.clear()
        for tmp in self._closed:
            self._delete(tmp)
        self._closed = []
        self._buffers.clear()
        self._buffered.clear()


def _forget(out: _OpenFile) -> None:
    """Give up on a file whose close failed. pyarrow's ``ParquetWriter.__del__`` closes a writer still marked
    open, and on a full disk fails again, printing an "Exception ignored" traceback per file at exit; so mark it
    closed and close its file without the footer (the file is deleted anyway)."""
    out.writer.is_open = False
    with contextlib.suppress(OSError, pa.ArrowException):
        out.sink.close()


def discard_tmp_files(storage: Storage, run_id: str, keep: list[str] | None = None) -> None:
    """Delete the files a run wrote and did not commit: its unpublished files in a local folder, and on S3 (where
    files have their final key at once) every file of the run; but ``keep`` (as :meth:`Storage.part_sink` gave
    them: the files of the answers a Dask run received, whose other attempts' files go)."""
    base = storage.filesystem()[1]
    kept = {sink[len(base) + 1 :] for sink in keep or []}
    pattern = run_tmp_parts(run_id) if storage.is_local else run_parts(run_id)
    for dataset in DATASETS:
        for key in storage.keys(dataset, pattern):
            if key not in kept:
                storage.delete(key)


def delete_sinks(storage: Storage, sinks: list[str]) -> None:
    """Delete data files by the names :meth:`Storage.part_sink` gave them; those already gone are no error."""
    fs = storage.filesystem()[0]
    for sink in sinks:
        with contextlib.suppress(FileNotFoundError, OSError):
            fs.delete_file(sink)

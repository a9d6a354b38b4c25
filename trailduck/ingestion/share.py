"""One process's share of a run: fetch its objects with a pool of threads (I/O, zlib and hashing release the
GIL), decode and convert them in batches, and write one Parquet file per partition it touches, closed and
fsynced but still under its hidden temporary name (see :mod:`trailduck.ingestion.pipeline`)."""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

import msgspec
import pyarrow as pa

from trailduck import crashpoints
from trailduck.convert.converter import DecodedFile, build_table, decode_file
from trailduck.convert.decode import Limits, decompress, split_records
from trailduck.errors import AccessDeniedError, BadObjectError, ObjectGoneError, SourceError
from trailduck.ingestion.pacing import START_CONCURRENCY, Pacer
from trailduck.lake.layout import DEFAULT_PARTITIONING, Partitioning
from trailduck.lake.lineage import dataset_of
from trailduck.lake.storage import Storage
from trailduck.lake.table import FileFacts
from trailduck.lake.writer import LakeWriter, Partition, StorageLakeWriter
from trailduck.scanner.keys import Stream
from trailduck.scanner.listing import Listed
from trailduck.scanner.source import FolderSource, Source

log = logging.getLogger(__name__)

#: Records converted into one Arrow table at a time: large enough to amortise Arrow's per-call cost over many
#: small files, small enough to keep memory bounded (about 1.2 KB a record).
BATCH_RECORDS = 5_000

#: Objects a fetch task reads one after the other from a local folder: there, reading, gunzipping and splitting a
#: small file (about 60 µs) costs less than handing it to a thread and taking its answer back (about 170 µs).
#: Such a task is CPU work under the GIL, mostly: a share starts with one at a time, which keeps ahead of the
#: converter, where eight at once took 20% more CPU for the same work (threads contending for the GIL); the
#: pacer still widens it for a folder slow to read (a network file system).
FOLDER_TASK_OBJECTS = 32

#: Compressed bytes of objects fetched ahead of conversion, per share.
INFLIGHT_BYTES = 8 << 20

#: Arrow data buffered for Parquet by all shares together; each worker gets its part.
BUFFER_BYTES = 48 << 20

Advance = Callable[[int, int, int], None]


class FetchShape(NamedTuple):
    """How a source is fetched."""

    #: Objects a fetch task reads one after the other.
    per_task: int
    #: Tasks at once a share starts with (its pacer widens them while that pays).
    start: int


def fetch_shape(source: Source) -> FetchShape:
    """:data:`FOLDER_TASK_OBJECTS` a task, one task to start with, from a local folder; from S3 one object a
    task, and the pacer's usual start."""
    if isinstance(source, FolderSource):
        return FetchShape(per_task=FOLDER_TASK_OBJECTS, start=1)
    return FetchShape(per_task=1, start=START_CONCURRENCY)


class Stopped(Exception):
    """This process's share stopped because a worker failed."""


@dataclass
class Share:
    """One worker's part of a run: everything it needs, picklable."""

    storage: Storage
    run_id: str
    tag: str
    source: Source
    items: list[Listed]
    quarantined: frozenset[str]
    keep_event_json: bool
    limits: Limits
    concurrency: int
    buffer_bytes: int
    threads: int | None = None  # DuckDB's, when the share runs in a worker process
    use_c: bool = True  # the C column builder (trailduck.convert.native), else the Python paths
    #: The lake's (see :func:`trailduck.lake.table.lake_partitioning`).
    partitioning: Partitioning = DEFAULT_PARTITIONING


@dataclass
class Failed:
    key: str
    reason: str


@dataclass
class ShareResult:
    """What a share did; the parent turns it into the checkpoint and the summary."""

    converted: dict[str, int] = field(default_factory=dict)  # key -> events
    #: key -> SHA-256 (hex) of the decompressed content converted: what a digest records, for `verify`.
    content_hashes: dict[str, str] = field(default_factory=dict)
    bytes_read: int = 0
    failed: list[Failed] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    tmp_files: list[str] = field(default_factory=list)
    #: What the commit says of each file, by where it was written (its writer knew; nothing is read back).
    file_facts: dict[str, FileFacts] = field(default_factory=dict)
    partitions: set[Partition] = field(default_factory=set)

    def merge(self, other: ShareResult) -> None:
        self.converted.update(other.converted)
        self.content_hashes.update(other.content_hashes)
        self.bytes_read += other.bytes_read
        self.failed += other.failed
        self.gone += other.gone
        self.tmp_files += other.tmp_files
        self.file_facts.update(other.file_facts)
        self.partitions |= other.partitions


@dataclass
class _Fetched:
    raws: list[msgspec.Raw] | None
    error: Exception | None
    size: int
    sha256: str = ""


def _fetch(source: Source, item: Listed, limits: Limits) -> _Fetched:
    try:
        if item.ref.size > limits.max_decompressed_bytes:
            # Its compressed size alone is over the cap: refuse it without reading it into memory.
            raise BadObjectError(
                f"{item.ref.size} bytes, larger than the cap of {limits.max_decompressed_bytes}"
            )
        data = source.read(item.ref.key)
        crashpoints.hit("fetch")
        text = decompress(data, limits)
        # Hashed here, in the fetch threads (hashlib releases the GIL): `verify` compares it with the digest.
        digest = hashlib.sha256(text).hexdigest()
        return _Fetched(split_records(text, limits), None, len(data), digest)
    except (BadObjectError, SourceError) as exc:
        # Without its traceback: the frames it references can hold a whole decompressed object.
        return _Fetched(None, exc.with_traceback(None), 0)


def _fetch_task(source: Source, items: list[Listed], limits: Limits) -> list[_Fetched]:
    return [_fetch(source, item, limits) for item in items]


def _fetch_all(
    source: Source,
    work: Iterable[Listed],
    concurrency: int | Pacer,
    limits: Limits,
    max_bytes: int = INFLIGHT_BYTES,
    per_task: int | None = None,
) -> Iterator[tuple[Listed, _Fetched]]:
    """Fetch, decompress and split in threads, yielding in listing order.

    A task fetches ``per_task`` consecutive objects one after the other (by default as :func:`fetch_shape`
    says for ``source``). At once: at most ``concurrency`` tasks running
    (a number, or a :class:`Pacer` that widens it while that pays), at most twice that many taken ahead of the
    consumer and, beyond the first, at most ``max_bytes`` of objects as stored (a large gzipped file inflates
    about tenfold), so memory is bounded whatever the trail's size. Many small objects (the usual CloudTrail
    file) keep every fetch thread busy; a run of large ones keeps fewer in memory.
    """
    if per_task is None:
        per_task = fetch_shape(source).per_task
    pacer = concurrency if isinstance(concurrency, Pacer) else Pacer(concurrency, start=concurrency)
    pool = ThreadPoolExecutor(max_workers=pacer.cap, thread_name_prefix="trailduck-fetch")
    # Tasks submitted, in order: running or done. Tasks taken ahead after those, waiting for a fetch slot.
    pending: deque[tuple[list[Listed], Future[list[_Fetched]]]] = deque()
    queued: deque[list[Listed]] = deque()
    # Tasks submitted and not known to have ended: a task leaves when its done-callback's entry in ``ended`` is
    # counted, or when it is taken from ``pending`` (its future is done before its callbacks run), so that the set
    # is empty whenever ``pending`` is.
    live: set[Future[list[_Fetched]]] = set()
    ended: queue.SimpleQueue[Future[list[_Fetched]]] = queue.SimpleQueue()
    items = iter(work)
    held: Listed | None = None  # next in line, not taken ahead: over the byte cap
    in_flight = 0  # bytes, as stored, of the objects taken ahead

    def count_ended(block: bool) -> None:
        try:
            live.discard(ended.get(block))
            while True:
                live.discard(ended.get_nowait())
        except queue.Empty:
            pass

    def take_ahead() -> list[Listed]:
        nonlocal held, in_flight
        task: list[Listed] = []
        while len(task) < per_task:
            if held is None:
                held = next(items, None)
            if held is None or ((task or pending or queued) and in_flight + held.ref.size > max_bytes):
                break
            task.append(held)
            in_flight += held.ref.size
            held = None
        return task

    def refill() -> None:
        while len(pending) + len(queued) < 2 * pacer.limit and (task := take_ahead()):
            queued.append(task)
        count_ended(block=False)
        while queued and len(live) < pacer.limit:
            task = queued.popleft()
            future = pool.submit(_fetch_task, source, task, limits)
            live.add(future)
            future.add_done_callback(ended.put)
            pending.append((task, future))

    try:
        while True:
            refill()
            if not pending:
                return
            task, future = pending[0]
            waited = not future.done()
            while not future.done():
                # Any task ending frees a slot for the next one, not only the one waited for.
                count_ended(block=True)
                refill()
            pending.popleft()
            live.discard(future)
            pacer.taken(waited)
            for item, fetched in zip(task, future.result(), strict=True):
                in_flight -= item.ref.size
                yield item, fetched
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_CONVERT_ERRORS = (pa.ArrowException, ValueError, TypeError, OverflowError)


class _Batcher:
    """Gathers decoded files, of whatever streams, until ``max_records``; converts them as one table and hands
    each stream's rows to the writer. One DuckDB call per batch, not per stream: planning its query costs about
    10 ms, which a trail of many small account x region streams would otherwise pay for a few events each."""

    def __init__(
        self,
        writer: LakeWriter,
        keep_event_json: bool,
        max_records: int = BATCH_RECORDS,
        use_c: bool = True,
        slices: bool = True,
    ) -> None:
        self.writer = writer
        #: Each stream's rows handed over as slices of the batch (a lake partitioned by stream), else as copies.
        self.slices = slices
        self.keep_event_json = keep_event_json
        self.use_c = use_c
        self.max_records = max_records
        self.files: list[tuple[Stream, DecodedFile]] = []
        self.records = 0

    def add(self, stream: Stream, decoded: DecodedFile) -> list[tuple[DecodedFile, Exception]]:
        """Queue a file; returns the files that could not be converted when this filled a batch."""
        self.files.append((stream, decoded))
        self.records += len(decoded.raws)
        return self.flush() if self.records >= self.max_records else []

    def flush(self) -> list[tuple[DecodedFile, Exception]]:
        failures: list[tuple[DecodedFile, Exception]] = []
        parts: list[tuple[Stream, pa.Table]] = []
        try:
            parts = self._convert(self.files)
        except _CONVERT_ERRORS:
            # Something in the batch defeated the checks before it: convert file by file so that only the
            # guilty file is quarantined, whole, and the others still land.
            for pair in self.files:
                try:
                    parts += self._convert([pair])
                except _CONVERT_ERRORS as exc:
                    failures.append((pair[1], exc))
        # Written only once everything is converted: a batch is never written in part and then again.
        for stream, rows in parts:
            self.writer.write(dataset_of(stream), stream.account, stream.region, rows)
        self.files = []
        self.records = 0
        return failures

    def _convert(self, files: list[tuple[Stream, DecodedFile]]) -> list[tuple[Stream, pa.Table]]:
        """One table for the batch, cut into each stream's rows (the files of a stream are consecutive)."""
        if not files:
            return []
        table = build_table(
            [decoded for _, decoded in files], keep_event_json=self.keep_event_json, use_c=self.use_c
        )
        runs = [
            (stream, sum(len(d.raws) for _, d in group)) for stream, group in groupby(files, itemgetter(0))
        ]
        if len(runs) == 1:
            return [(runs[0][0], table)]
        parts = []
        start = 0
        for stream, n in runs:
            if self.slices:
                # A slice keeps the whole batch alive while buffered, but the writer writes out a stream's
                # partitions as soon as the next stream comes (a take() was a tenth of a many-stream run).
                parts.append((stream, table.slice(start, n)))
            else:
                # A copy: in a lake partitioned by date, a stream's last rows can wait in a day's buffer for
                # many streams, and a slice would keep its whole batch alive (uncounted) all that time.
                parts.append((stream, table.take(pa.array(range(start, start + n), pa.int32()))))
            start += n
        return parts


def run_share(
    share: Share,
    advance: Advance,
    items: Iterable[Listed] | None = None,
    stop: threading.Event | None = None,
) -> ShareResult:
    """Fetch, convert and write one share (``share.items``, or ``items`` as they come); failures are collected,
    not raised, except a fatal one. ``stop``, once set, ends it with :class:`Stopped`."""
    source = share.source
    writer = StorageLakeWriter(
        share.storage,
        share.run_id,
        partitioning=share.partitioning,
        tag=share.tag,
        buffer_bytes=share.buffer_bytes,
    )
    batcher = _Batcher(
        writer, share.keep_event_json, use_c=share.use_c, slices=not share.partitioning.in_files
    )
    result = ShareResult()
    read_any = False

    def fail(key: str, error: Exception | None) -> None:
        result.failed.append(Failed(key, f"{source.display(key)}: {error}"))

    def unconvert(failures: list[tuple[DecodedFile, Exception]]) -> None:
        # Files whose batch Arrow refused; each was retried alone and failed alone.
        for bad, exc in failures:
            result.converted.pop(bad.source_key, None)
            result.content_hashes.pop(bad.source_key, None)
            fail(bad.source_key, BadObjectError(f"cannot be converted ({exc})"))

    try:
        work = share.items if items is None else items
        # Widens up to share.concurrency while that pays.
        pacer = Pacer(share.concurrency, start=fetch_shape(source).start)
        for item, fetched in _fetch_all(source, work, pacer, share.limits):
            if stop is not None and stop.is_set():
                raise Stopped
            error = fetched.error
            if isinstance(error, AccessDeniedError) and not read_any:
                # Denied before anything could be read: a missing permission, which every object would hit.
                # Later, a single denied object (say, under a disabled KMS key) is quarantined instead.
                raise error
            decoded: DecodedFile | None = None
            if fetched.raws is not None:
                read_any = True
                # Decoded here rather than in the fetch threads: objects in flight stay compact bytes.
                try:
                    decoded = decode_file(
                        fetched.raws, source_key=item.ref.key, key_day=item.key.day, use_c=share.use_c
                    )
                except BadObjectError as exc:
                    error = exc
            if isinstance(error, ObjectGoneError) and item.ref.key in share.quarantined:
                # Quarantined earlier and now deleted: nothing is left to ingest or retry.
                result.gone.append(item.ref.key)
                advance(1, 0, 0)
                continue
            if decoded is None:
                # A first "gone" is quarantined like any failure: a CloudTrail file deleted between listing and
                # reading deserves an alert (exit 3) once; the next run drops it if it is still gone.
                fail(item.ref.key, error)
                advance(1, 0, item.ref.size)
                continue
            events = len(decoded.raws)
            result.converted[item.ref.key] = events
            result.content_hashes[item.ref.key] = fetched.sha256
            result.bytes_read += fetched.size
            unconvert(batcher.add(item.key.stream, decoded))
            crashpoints.hit("convert")
            advance(1, events, fetched.size)
        unconvert(batcher.flush())
        written = writer.finish()
        crashpoints.hit("share_written")  # every file of the share written, none of it published or reported
    except BaseException:
        writer.abort()
        raise
    result.tmp_files = written.tmp_files
    result.file_facts = written.facts
    result.partitions = written.partitions
    return result

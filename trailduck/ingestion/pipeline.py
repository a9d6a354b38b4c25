"""Fetch, convert and write the planned objects: in this process, or shared with worker processes.

Each process fetches with a pool of threads (I/O, zlib and hashing release the GIL), decodes and converts in
batches, and writes one Parquet file per partition it touches, closed and fsynced but still under its hidden
temporary name. With workers, this process starts converting at once from the front of the work while each
worker starts up, then takes a contiguous part from the back (:class:`WorkPool`). Only when every part has
finished does this process rename the files into place (:func:`trailduck.lake.writer.publish`) and save the
checkpoint. A worker that fails or dies fails the run and every file of the run is deleted, so nothing is ever
committed twice or by half.

Why processes: the per-record work (msgspec decoding, building Arrow arrays) holds the GIL, so one process
converts on one core whatever its threads do. Workers start only for runs large enough to repay their start-up
(about half a second each), and since parts are contiguous in listing order, a partition gets a second file in
the same run only where two parts meet.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import hashlib
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

import msgspec
import pyarrow as pa

from trailduck import crashpoints
from trailduck.convert.converter import DecodedFile, build_table, decode_file, set_threads
from trailduck.convert.decode import Limits, decompress, split_records
from trailduck.errors import AccessDeniedError, BadObjectError, LakeError, ObjectGoneError, SourceError
from trailduck.fsutil import usable_cpus
from trailduck.lake.lineage import dataset_of
from trailduck.lake.writer import LakeWriter, LocalLakeWriter, Partition, discard_tmp_files
from trailduck.scanner.keys import Stream
from trailduck.scanner.listing import Listed
from trailduck.scanner.source import Source

log = logging.getLogger(__name__)

#: Records converted into one Arrow table at a time: large enough to amortise Arrow's per-call cost over many
#: small files, small enough to keep memory bounded (about 1.2 KB a record).
BATCH_RECORDS = 5_000

#: Compressed bytes of planned work from which ``workers=None`` (auto) starts worker processes: below it, their
#: start-up costs more than they save (about 130,000 events; a nightly run of a small trail stays in-process).
AUTO_WORKERS_MIN_BYTES = 16 << 20

#: Compressed bytes of objects fetched ahead of conversion, per share.
INFLIGHT_BYTES = 8 << 20

#: Arrow data buffered for Parquet by all shares together; each worker gets its part.
BUFFER_BYTES = 48 << 20

Advance = Callable[[int, int, int], None]


@dataclass
class Share:
    """One worker's part of a run: everything it needs, picklable."""

    root: Path
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
    tmp_files: list[Path] = field(default_factory=list)
    partitions: set[Partition] = field(default_factory=set)

    def merge(self, other: ShareResult) -> None:
        self.converted.update(other.converted)
        self.content_hashes.update(other.content_hashes)
        self.bytes_read += other.bytes_read
        self.failed += other.failed
        self.gone += other.gone
        self.tmp_files += other.tmp_files
        self.partitions |= other.partitions


def worker_count(requested: int | None, work: list[Listed], source: Source) -> int:
    """How many processes convert ``work``: ``requested``, or for None one per core on large runs."""
    if requested is None:
        if sum(item.ref.size for item in work) < AUTO_WORKERS_MIN_BYTES:
            return 1
        requested = min(usable_cpus(), 8)
    if requested > 1 and not _portable(source):
        log.info("this source cannot be reopened in a worker process; converting in this process")
        return 1
    return requested


def _portable(source: Source) -> bool:
    try:
        pickle.dumps(source)
    except (TypeError, AttributeError, pickle.PicklingError):
        return False
    return True


class WorkPool:
    """The planned objects no one has taken yet, in listing order, shared by the converting processes.

    This process converts from the front, from the moment the run starts. A worker process, once it has started
    (about half a second of imports), takes a contiguous part from the back: its fair share of what is left at
    that moment. So no one waits for a worker to start, the shares end together however long that took, and a
    partition gets a second file in the same run only where two parts meet.
    """

    def __init__(self, work: list[Listed], processes: int) -> None:
        self._items = deque(work)
        self._lock = threading.Lock()
        self.workers = processes - 1
        self._closed = False
        self.served: set[int] = set()

    def take(self) -> Listed | None:
        """The next object for this process; None when the pool is empty."""
        with self._lock:
            return self._items.popleft() if self._items else None

    def tail(self, worker: int) -> list[Listed] | None:
        """The part of ``worker``, now ready: an equal share, by size, of what is left between this process
        and every worker not yet served (this one included). None once the pool is closed."""
        with self._lock:
            if self._closed:
                return None
            parts = 1 + max(self.workers - len(self.served), 1)  # this process, the unserved workers
            self.served.add(worker)
            target = sum(max(item.ref.size, 1) for item in self._items) / parts
            part: deque[Listed] = deque()
            size = 0
            # Ends at the boundary nearest the target: an object joins if more than half of it fits.
            while self._items and size + max(self._items[-1].ref.size, 1) / 2 < target:
                part.appendleft(self._items.pop())
                size += max(part[0].ref.size, 1)
            return list(part)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> set[int]:
        """No more parts: a worker that becomes ready after this has nothing to do. Returns the workers served."""
        with self._lock:
            self._closed = True
            return set(self.served)


def convert(
    work: list[Listed],
    *,
    root: Path,
    run_id: str,
    source: Source,
    quarantined: frozenset[str],
    keep_event_json: bool,
    limits: Limits,
    concurrency: int,
    workers: int,
    advance: Advance,
    use_c: bool = True,
) -> ShareResult:
    """Convert ``work`` in ``workers`` processes, this one included, with the C column builder if ``use_c``.
    The files returned are not yet published."""
    processes = max(1, min(workers, len(work)))
    share = Share(
        root=root,
        run_id=run_id,
        tag="",
        source=source,
        items=work,
        quarantined=quarantined,
        keep_event_json=keep_event_json,
        limits=limits,
        concurrency=max(1, concurrency // processes),
        buffer_bytes=BUFFER_BYTES // processes,
        use_c=use_c,
    )
    if processes == 1:
        return run_share(share, advance)
    share.threads = max(1, usable_cpus() // processes)
    try:
        return _run_with_workers(share, processes, advance)
    except BaseException:
        discard_tmp_files(root, run_id)  # whatever any process wrote before the run failed
        raise


class _Stopped(Exception):
    """This process's share stopped because a worker failed."""


def _run_with_workers(template: Share, processes: int, advance: Advance) -> ShareResult:
    """This process converts from the front of a :class:`WorkPool`; ``processes - 1`` fresh ``python`` children
    (no fork of this process's threads, and unlike multiprocessing's spawn, no re-import of the caller's
    ``__main__``) each take a part from the back once started. A part goes down the child's stdin as a pickle;
    progress and the result come back on its stdout as frames (see :func:`worker_main`)."""
    pool = WorkPool(template.items, processes)
    lock = threading.Lock()

    def locked_advance(files: int, events: int, size: int) -> None:
        with lock:
            advance(files, events, size)

    stop = threading.Event()
    outcomes: list[ShareResult | BaseException] = []
    level = logging.getLogger().getEffectiveLevel()
    children: list[subprocess.Popen[bytes]] = []
    readers: list[threading.Thread] = []
    try:
        for n in range(1, processes):
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from trailduck.ingestion.pipeline import worker_main; worker_main()",
                    str(os.getpid()),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            children.append(child)
            part = dataclasses.replace(template, tag=f"w{n}-", items=[])
            reader = threading.Thread(
                target=_serve_worker,
                args=(n, child, part, level, pool, locked_advance, outcomes, stop),
                daemon=True,
            )
            reader.start()
            readers.append(reader)
        own = dataclasses.replace(template, tag="w0-")
        set_threads(own.threads)
        try:
            result = run_share(own, locked_advance, items=iter(pool.take, None), stop=stop)
        except _Stopped:
            result = ShareResult()
        finally:
            set_threads(None)
        served = pool.close()
        for n, child in enumerate(children, 1):
            if n not in served:
                child.kill()  # still starting, and nothing is left for it
        for reader in readers:
            reader.join()
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            result.merge(outcome)
        return result
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
        for reader in readers:
            reader.join()


_HEADER = struct.Struct("<cI")
_READY, _PROGRESS, _RESULT, _ERROR = b"Y", b"P", b"R", b"E"


def _frames(out: IO[bytes]) -> Iterator[tuple[bytes, Any]]:
    """A child's frames, until its stdout ends or holds something that is not a frame."""
    while True:
        header = out.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        kind, length = _HEADER.unpack(header)
        body = out.read(length)
        if len(body) < length or kind not in (_READY, _PROGRESS, _RESULT, _ERROR):
            return
        try:
            payload = pickle.loads(body)
        except Exception as exc:  # an exception class this process cannot rebuild, say
            yield _ERROR, LakeError(f"a worker process sent an unreadable reply ({exc})")
            return
        yield kind, payload


def _serve_worker(
    n: int,
    child: subprocess.Popen[bytes],
    part: Share,
    level: int,
    pool: WorkPool,
    advance: Advance,
    outcomes: list[ShareResult | BaseException],
    stop: threading.Event,
) -> None:
    """Give started child ``n`` its part, relay its progress, record how it ended (in a thread of its own)."""
    assert child.stdin is not None and child.stdout is not None
    with child.stdout as out:
        for kind, payload in _frames(out):
            if kind == _READY:
                items = pool.tail(n)
                try:
                    with child.stdin:
                        if items is None:  # this process finished the pool first: the child ends unused
                            return
                        part.items = items
                        child.stdin.write(pickle.dumps((part, level), protocol=pickle.HIGHEST_PROTOCOL))
                except OSError:  # it died meanwhile: said below
                    break
            elif kind == _PROGRESS:
                advance(*payload)
            else:
                outcomes.append(payload)
                if kind == _ERROR:
                    stop.set()
                return
    code = child.wait()
    if n not in pool.served:
        # It had no part, so nothing is lost: this process converts what it would have.
        if not pool.closed:
            log.warning("a worker process ended (code %s) before it was ready; converting without it", code)
        return
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    outcomes.append(LakeError(f"a worker process {how} before finishing its share; nothing was committed"))
    stop.set()


def tune_allocator() -> None:
    """Make glibc's malloc return freed memory: a fixed 1 MiB mmap threshold (by default it rises after the first
    large free, and decompressed log files then stay in the heap) and two arenas instead of one per thread.
    Measured on 200,000 events in one process: peak RSS 775 -> 643 MiB, no slower. Only for processes trailduck
    owns (the CLI, worker processes), never a library caller's. Elsewhere than glibc, nothing happens.
    Arrow is switched to the system allocator as well (below)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-8, 2)  # M_ARENA_MAX
        # Arrow's buffers then come from that tuned malloc too: mimalloc, Arrow's default here, keeps what
        # it freed. 1M events, two workers: peak RSS 977-1,028 -> 847 MiB, throughput within the noise.
        pa.set_memory_pool(pa.system_memory_pool())


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies: a killed ingest leaves no worker writing on."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request was made
        sys.exit(1)


def worker_main() -> None:
    """A worker process: say it is ready, read its part from stdin, run it, write frames to stdout."""
    _die_with_parent(int(sys.argv[1]))
    # Ctrl-C reaches the whole process group, and systemd's SIGTERM the whole cgroup: the parent handles them
    # and stops the workers (with SIGKILL, and the parent-death signal if it dies).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    tune_allocator()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print must not corrupt the frames
    lock = threading.Lock()

    def send(kind: bytes, payload: Any) -> None:
        body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        with lock:
            out.write(_HEADER.pack(kind, len(body)) + body)
            out.flush()

    def progress(files: int, events: int, size: int) -> None:
        crashpoints.hit("worker")
        send(_PROGRESS, (files, events, size))

    send(_READY, None)
    data = sys.stdin.buffer.read()
    if not data:  # the parent finished the work before this process was ready
        return
    share, level = pickle.loads(data)
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    set_threads(share.threads)
    try:
        result = run_share(share, progress)
    except Exception as exc:  # every failure goes back to the parent, which raises it
        try:
            send(_ERROR, exc.with_traceback(None))
        except (pickle.PicklingError, TypeError, AttributeError):
            send(_ERROR, LakeError(f"worker process: {type(exc).__name__}: {exc}"))
        sys.exit(1)
    send(_RESULT, result)


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


def _fetch_all(
    source: Source, work: Iterable[Listed], concurrency: int, limits: Limits, max_bytes: int = INFLIGHT_BYTES
) -> Iterator[tuple[Listed, _Fetched]]:
    """Fetch, decompress and split in threads, yielding in listing order.

    In flight at once: at most ``2 * concurrency`` objects and, beyond the first, at most ``max_bytes`` of
    them as stored (a large gzipped file inflates about tenfold), so memory is bounded whatever the trail's
    size. Many small objects (the usual CloudTrail file) keep every fetch thread busy; a run of large ones
    keeps fewer in memory.
    """
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="trailduck-fetch")
    pending: deque[tuple[Listed, Future[_Fetched]]] = deque()
    items = iter(work)
    waiting: Listed | None = None
    in_flight = 0
    try:
        while True:
            if waiting is None:
                waiting = next(items, None)
            while waiting is not None and (
                not pending or (len(pending) < 2 * concurrency and in_flight + waiting.ref.size <= max_bytes)
            ):
                pending.append((waiting, pool.submit(_fetch, source, waiting, limits)))
                in_flight += waiting.ref.size
                waiting = next(items, None)
            if not pending:
                return
            item, future = pending.popleft()
            in_flight -= item.ref.size
            yield item, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_CONVERT_ERRORS = (pa.ArrowException, ValueError, TypeError, OverflowError)


class _Batcher:
    """Gathers decoded files, of whatever streams, until ``max_records``; converts them as one table and hands
    each stream's rows to the writer. One DuckDB call per batch, not per stream: planning its query costs about
    10 ms, which a trail of many small account x region streams would otherwise pay for a few events each."""

    def __init__(
        self, writer: LakeWriter, keep_event_json: bool, max_records: int = BATCH_RECORDS, use_c: bool = True
    ) -> None:
        self.writer = writer
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
            # A copy, not a slice: a slice would keep the whole batch alive while its partition is buffered.
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
    not raised, except a fatal one. ``stop``, once set, ends it with :class:`_Stopped`."""
    source = share.source
    writer = LocalLakeWriter(share.root, share.run_id, tag=share.tag, buffer_bytes=share.buffer_bytes)
    batcher = _Batcher(writer, share.keep_event_json, use_c=share.use_c)
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
        for item, fetched in _fetch_all(source, work, share.concurrency, share.limits):
            if stop is not None and stop.is_set():
                raise _Stopped
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
    except BaseException:
        writer.abort()
        raise
    result.tmp_files = written.tmp_files
    result.partitions = written.partitions
    return result

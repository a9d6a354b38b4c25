"""Worker processes: fresh ``python`` children that each take a contiguous part of a run from the back of a
:class:`WorkPool` once started, and talk to this process in pickled frames over their stdin and stdout."""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from typing import IO, Any

from trailduck import crashpoints
from trailduck.convert.converter import set_threads
from trailduck.errors import LakeError
from trailduck.fsutil import usable_cpus
from trailduck.ingestion.libc import die_with_parent, tune_allocator
from trailduck.ingestion.share import Advance, Share, ShareResult, Stopped, run_share
from trailduck.scanner.listing import Listed
from trailduck.scanner.source import Source

log = logging.getLogger(__name__)

#: Compressed bytes of planned work from which ``workers=None`` (auto) starts worker processes: below it, their
#: start-up costs more than they save (about 130,000 events; a nightly run of a small trail stays in-process).
AUTO_WORKERS_MIN_BYTES = 16 << 20


def worker_count(requested: int | None, work: list[Listed], source: Source) -> int:
    """How many processes convert ``work``: ``requested``, or for None one per core on large runs."""
    if requested is None:
        if sum(item.ref.size for item in work) < AUTO_WORKERS_MIN_BYTES:
            return 1
        requested = min(usable_cpus(), 8)
    if requested > 1 and not portable(source):
        log.info("this source cannot be reopened in a worker process; converting in this process")
        return 1
    return requested


def portable(source: Source) -> bool:
    """Whether ``source`` can be sent to another process (a worker process, a Dask worker) and read there."""
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


def run_with_workers(template: Share, processes: int, advance: Advance) -> ShareResult:
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
                    f"from {__name__} import worker_main; worker_main()",
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
        except Stopped:
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


def worker_main() -> None:
    """A worker process: say it is ready, read its part from stdin, run it, write frames to stdout."""
    die_with_parent(int(sys.argv[1]))
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

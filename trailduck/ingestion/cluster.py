"""Converting on a Dask cluster (``trailduck ingest --scheduler tcp://host:8786``): for a day too large for one
machine. Only the conversion moves; the run stays this process's.

This process plans the run as always, cuts the work into contiguous parts of the listing (so a partition gets a
second file only where two parts meet), and submits one task per part. A task is :func:`run_share` on a worker:
it fetches its objects from the trail, converts them and writes its Parquet files into the lake's storage,
closed and fsynced but not published, under names that carry a token drawn by that attempt: a task that runs
again (its worker died, or the worker holding its answer did) never writes over a file of an earlier attempt.
Each task returns what it wrote; this process publishes exactly the files of the answers it received, deletes
every other file of the run (those of attempts that died), and commits once: the same commit and checkpoint as a
run on one machine, so the lake is the same whichever ran it.

Dask reschedules the task of a worker that dies (``distributed.scheduler.allowed-failures`` times, 3 by default,
then the run fails and nothing is committed). A task never retries on an exception of its own: a file that
cannot be converted is quarantined inside the task, and what escapes it (access denied on every object) would
fail again.

The workers need trailduck (the same version), the trail's and the lake's locations reachable under the same
names (S3, or one shared file system), and credentials of their own for S3 (an instance or pod role).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import logging
import math
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from trailduck.convert.converter import set_threads
from trailduck.errors import ClusterRefusedError, ConfigError, LakeError, TrailduckError
from trailduck.ingestion.share import Advance, Share, ShareResult, run_share
from trailduck.lake.layout import run_marker_key
from trailduck.lake.storage import Storage
from trailduck.lake.writer import delete_sinks, discard_tmp_files
from trailduck.scanner.listing import Listed
from trailduck.scanner.source import Source

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

#: Compressed bytes of work from which a run is cut into another task: large enough that a task's start (a
#: round trip to the scheduler, a DuckDB connection, one open Parquet file per partition it touches) is small
#: beside its work, small enough that a worker's death costs little to redo.
TASK_BYTES = 16 << 20

#: Tasks per worker thread at most: more than one, so that a slow worker or a rescheduled task leaves the others
#: something to take; few, so that a partition gets few files.
TASKS_PER_THREAD = 4

INSTALL_HINT = "pip install 'trailduck[dask]'"

#: Where the CLI finds a scheduler's address when --scheduler is not given: Dask's own variable.
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


@contextmanager
def connect(address: str) -> Iterator[Client]:
    """A client of the scheduler at ``address``; ConfigError when Dask is missing or the scheduler is not
    there."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise ConfigError(f"--scheduler needs Dask's distributed package: {INSTALL_HINT}") from exc
    try:
        # Waits as long as Dask's own setting says (distributed.comm.timeouts.connect, 30 s by default; for example
        # DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s).
        client = Client(address, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"--scheduler {address}: no Dask scheduler answers there ({exc}); check the address (tcp://host:8786), "
            "or leave --scheduler out (and unset DASK_SCHEDULER_ADDRESS) to convert on this machine"
        ) from exc
    with client:
        yield client


def worker_threads(client: Client) -> int:
    """The threads of the cluster's workers, in all, once at least one worker is there (waiting as long as Dask
    waits to connect: a cluster that scales from zero starts one); ConfigError when none comes."""
    import dask.config

    timeout = dask.config.get("distributed.comm.timeouts.connect")
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, OSError) as exc:
        address = client.scheduler_info().get("address", "")
        raise ClusterRefusedError(
            f"the Dask scheduler {address} has no workers (none came within {timeout}); start some (`dask worker "
            f"{address} --nthreads 1`), or leave --scheduler out to convert on this machine"
        ) from exc
    return sum(client.nthreads().values())


def parts(work: list[Listed], threads: int) -> list[list[Listed]]:
    """``work`` cut into contiguous parts of about equal compressed size: one per :data:`TASK_BYTES`, at least
    one per thread when there is enough work, at most :data:`TASKS_PER_THREAD` per thread."""
    if not work:
        return []
    sizes = [max(item.ref.size, 1) for item in work]
    total = sum(sizes)
    count = min(len(work), threads * TASKS_PER_THREAD, max(threads, math.ceil(total / TASK_BYTES)))
    cut: list[list[Listed]] = []
    part: list[Listed] = []
    done = 0
    for item, size in zip(work, sizes, strict=True):
        # A part ends at the boundary nearest its share of the whole: an object joins if more than half of it
        # fits (as the local pool's parts, :class:`~trailduck.ingestion.workers.WorkPool`).
        if part and len(cut) < count - 1 and (done + size / 2) * count > total * (len(cut) + 1):
            cut.append(part)
            part = []
        part.append(item)
        done += size
    if part:
        cut.append(part)
    return cut


def convert_on_cluster(client: Client, template: Share, threads: int, advance: Advance) -> ShareResult:
    """Convert ``template.items`` on the cluster's ``threads`` worker threads; returns the files to publish (those of the answers received)
    after deleting every other file of the run. A failed task fails the run, with every file of it deleted."""
    from distributed import as_completed

    storage, run_id = template.storage, template.run_id
    if not template.items:
        return ShareResult()
    _check_workers(client, template)
    tasks = parts(template.items, threads)
    log.info(
        "converting %d objects in %d tasks on %d Dask worker threads",
        len(template.items),
        len(tasks),
        threads,
    )
    pending = {
        f"trailduck-{run_id}-{n:04d}": client.submit(
            convert_part,
            dataclasses.replace(template, items=items, tag=f"t{n:04d}"),
            key=f"trailduck-{run_id}-{n:04d}",
            pure=False,
            retries=0,
        )
        for n, items in enumerate(tasks)
    }
    sizes = {key: sum(item.ref.size for item in items) for key, items in zip(pending, tasks, strict=True)}
    result = ShareResult()
    try:
        for future in as_completed(list(pending.values()), loop=client.loop):
            part: ShareResult = future.result()
            # Released at once: a finished task whose answer Dask no longer holds is never run again (by a
            # worker dying with it), so no attempt writes after the run's files are sorted out below.
            pending.pop(future.key)
            future.release()
            result.merge(part)
            files = len(part.converted) + len(part.failed) + len(part.gone)
            advance(files, sum(part.converted.values()), sizes[future.key])
    except BaseException as exc:
        discard_tmp_files(storage, run_id)
        with contextlib.suppress(Exception):  # a lost scheduler must not hide what failed
            client.cancel(list(pending.values()), force=True)
        if isinstance(exc, TrailduckError | KeyboardInterrupt | SystemExit):
            raise
        raise LakeError(
            f"the Dask cluster failed the run ({type(exc).__name__}: {exc}); nothing was committed"
        ) from exc
    discard_tmp_files(storage, run_id, keep=result.tmp_files)
    return result


def convert_part(share: Share) -> ShareResult:
    """One task, on a worker: ``share`` converted under names no other attempt of it uses. An attempt that
    finishes after its run ended (failed, or its driver gone) deletes its files instead of answering."""
    share = dataclasses.replace(share, tag=f"{share.tag}-{secrets.token_hex(4)}-")
    set_threads(1)  # one DuckDB thread per task: the worker runs a task per thread
    try:
        result = run_share(share, _no_progress)
    finally:
        set_threads(None)
    if share.storage.read(run_marker_key(share.run_id)) is None:
        delete_sinks(share.storage, result.tmp_files)
        raise LakeError(f"run {share.run_id} ended before this task finished; its files were deleted")
    return result


def _no_progress(files: int, events: int, size: int) -> None:
    pass  # a task reports when it ends; per-file progress across the network would cost more than it tells


def _check_workers(client: Client, template: Share) -> None:
    """Refuse a cluster whose workers lack trailduck, run another version of it, cannot see this run's marker in
    the lake (a folder of their own at the same path, say) or cannot read the trail's first planned object."""
    here = _version()
    probe = next((item.ref.key for item in template.items if item.ref.size), template.items[0].ref.key)
    try:
        answers: dict[str, Any] = client.run(
            _worker_facts, template.storage, run_marker_key(template.run_id), template.source, probe
        )
    except ModuleNotFoundError as exc:
        raise ClusterRefusedError(
            f"trailduck is not installed on the Dask cluster's workers ({exc}): {INSTALL_HINT}"
        ) from exc
    for worker, (version, sees_lake, trail_error) in sorted(answers.items()):
        if version != here:
            raise ClusterRefusedError(
                f"Dask worker {worker} runs trailduck {version}, this machine {here}: install the same version "
                "on both (the workers convert, this machine commits)"
            )
        if not sees_lake:
            raise ClusterRefusedError(
                f"Dask worker {worker} cannot see this run's files in the lake {template.storage.uri}: on a "
                "cluster, put the lake on S3 (--lake s3://bucket/prefix) or on a file system every worker mounts at "
                "the same path"
            )
        if trail_error:
            raise ClusterRefusedError(
                f"Dask worker {worker} cannot read the trail ({trail_error}): on a cluster, read it from S3 or from a "
                "folder every worker mounts at the same path, with credentials of the workers' own"
            )


def _worker_facts(storage: Storage, marker: str, source: Source, probe: str) -> tuple[str, bool, str | None]:
    """On a worker: its trailduck version, whether it sees the run's marker, and why it cannot read ``probe``."""
    try:
        sees_lake = storage.read(marker) is not None
    except TrailduckError:
        sees_lake = False
    try:
        source.read(probe)
        trail_error = None
    except TrailduckError as exc:
        trail_error = str(exc)
    return _version(), sees_lake, trail_error


def _version() -> str:
    try:
        return importlib.metadata.version("trailduck")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"

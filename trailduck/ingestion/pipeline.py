"""Fetch, convert and write the planned objects: in this process, or shared with worker processes.

Each process fetches with a pool of threads (I/O, zlib and hashing release the GIL), decodes and converts in
batches, and writes one Parquet file per partition it touches, closed and fsynced but still under its hidden
temporary name. With workers, this process starts converting at once from the front of the work while each
worker starts up, then takes a contiguous part from the back (:class:`~trailduck.ingestion.workers.WorkPool`). Only when every part has
finished does this process rename the files into place (:func:`trailduck.lake.writer.publish`) and save the
checkpoint. A worker that fails or dies fails the run and every file of the run is deleted, so nothing is ever
committed twice or by half.

Why processes: the per-record work (msgspec decoding, building Arrow arrays) holds the GIL, so one process
converts on one core whatever its threads do. Workers start only for runs large enough to repay their start-up
(about half a second each), and since parts are contiguous in listing order, a partition gets a second file in
the same run only where two parts meet.

On a Dask cluster (``--scheduler``), the work goes to the cluster's workers instead, in contiguous parts, one task
each (:mod:`trailduck.ingestion.cluster`); this process only publishes and commits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trailduck.convert.decode import Limits
from trailduck.fsutil import usable_cpus
from trailduck.ingestion.cluster import convert_on_cluster
from trailduck.ingestion.share import BUFFER_BYTES, Advance, Share, ShareResult, run_share
from trailduck.ingestion.workers import run_with_workers
from trailduck.lake.layout import DEFAULT_PARTITIONING, Partitioning
from trailduck.lake.storage import Storage
from trailduck.lake.writer import discard_tmp_files
from trailduck.scanner.listing import Listed
from trailduck.scanner.source import Source

if TYPE_CHECKING:
    from distributed import Client


def convert(
    work: list[Listed],
    *,
    storage: Storage,
    run_id: str,
    source: Source,
    quarantined: frozenset[str],
    keep_event_json: bool,
    limits: Limits,
    concurrency: int,
    workers: int,
    advance: Advance,
    use_c: bool = True,
    client: Client | None = None,
    partitioning: Partitioning = DEFAULT_PARTITIONING,
) -> ShareResult:
    """Convert ``work`` in ``workers`` processes, this one included, or on the ``workers`` threads of the Dask
    cluster of ``client``, with the C column builder if ``use_c``. The files returned are not yet published."""
    processes = 1 if client is not None else max(1, min(workers, len(work)))
    share = Share(
        storage=storage,
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
        partitioning=partitioning,
    )
    if client is not None:
        return convert_on_cluster(client, share, workers, advance)
    if processes == 1:
        return run_share(share, advance)
    share.threads = max(1, usable_cpus() // processes)
    try:
        return run_with_workers(share, processes, advance)
    except BaseException:
        discard_tmp_files(storage, run_id)  # whatever any process wrote before the run failed
        raise

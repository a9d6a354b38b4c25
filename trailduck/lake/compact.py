"""``trailduck compact``: merge the small Parquet files of each partition into large ones, atomically.

Frequent ingests leave one file per partition per run. Compaction rewrites a partition's files into as few as
the size cap allows, in a staging folder outside the lake's globs, checks the row count, and then swaps the
staging folder with the live partition folder in one ``renameat2(RENAME_EXCHANGE)`` call: a reader listing the
partition sees the old set of files or the new one, never both and never neither. The old files end up in the
staging folder and are deleted. A crash at any moment leaves the live folder with one complete set; the next
``compact`` or ``ingest`` removes the staging area when it starts. Idempotent: a partition with one file is left alone.

Queries already running when a partition is swapped may fail to open a file that moved (they listed the folder
before the swap); they never return rows twice or miss rows, and can simply be run again.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from trailduck import crashpoints
from trailduck.convert.schema import EVENT_SCHEMA
from trailduck.errors import LakeError
from trailduck.fsutil import fsync_dir, fsync_file
from trailduck.lake.folder import Lake
from trailduck.lake.layout import DATASETS, part_name, partition_value, run_parts
from trailduck.state.store import LocalStateStore

log = logging.getLogger(__name__)

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@dataclass
class CompactSummary:
    lake: str
    partitions_compacted: int = 0
    partitions_already_compact: int = 0
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    rows: int = 0
    duration_s: float = 0.0
    compacted: list[str] = field(default_factory=list)


def _renameat2() -> Callable[..., int]:
    """Linux's renameat2, which compaction's swap needs; a LakeError saying so where it is missing (macOS,
    Windows, an old glibc), asked before compaction starts."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except (OSError, TypeError) as exc:  # Windows: no C library to look into by that name
        raise LakeError(_NEEDS_RENAMEAT2) from exc
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        raise LakeError(_NEEDS_RENAMEAT2)
    return renameat2


_NEEDS_RENAMEAT2 = (
    "compaction swaps each partition's folder in one renameat2 call, which only Linux has (glibc 2.28 or "
    "newer); nothing was changed. Compact the lake on a Linux machine (ingest, queries and reports work here)"
)


def exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically (Linux renameat2 with RENAME_EXCHANGE)."""
    renameat2 = _renameat2()
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        hint = (
            " (the filesystem does not support atomic exchange)"
            if err in (errno.EINVAL, errno.ENOSYS)
            else ""
        )
        raise LakeError(f"cannot swap {a} and {b}: {os.strerror(err)}{hint}")


def _partitions(lake: Lake, since: dt.date | None, until: dt.date | None) -> list[Path]:
    found: list[Path] = []
    for dataset in DATASETS:
        for folder in lake.partition_dirs(dataset):
            day = dt.date.fromisoformat(partition_value(folder))
            if (since and day < since) or (until and day > until):
                continue
            found.append(folder)
    return found


def _merge(files: list[Path], staging: Path, run_id: str, max_file_bytes: int, row_group_rows: int) -> int:
    """Copy every row of ``files`` into as few files as the cap allows; returns the row count."""
    staging.mkdir(parents=True)
    rows = 0
    seq = 0
    writer: pq.ParquetWriter | None = None
    written = 0
    outputs: list[Path] = []
    try:
        for path in files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=row_group_rows):
                if writer is None or written >= max_file_bytes:
                    if writer is not None:
                        writer.close()
                    seq += 1
                    outputs.append(staging / part_name(run_id, f"{seq:05d}"))
                    writer = pq.ParquetWriter(outputs[-1], EVENT_SCHEMA, compression="zstd")
                    written = 0
                writer.write_batch(batch.cast(EVENT_SCHEMA), row_group_size=row_group_rows)
                written = outputs[-1].stat().st_size  # on disk: the same measure as the "already big" test
                rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    for out in outputs:
        fsync_file(out)
    fsync_dir(staging)
    return rows


def compact(
    lake: Lake,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    state_path: Path | None = None,
    max_file_bytes: int = 512 << 20,
    row_group_rows: int = 65_536,
    now: dt.datetime | None = None,
) -> CompactSummary:
    started = time.monotonic()
    now = now or dt.datetime.now(dt.UTC)
    run_id = f"compact{now:%Y%m%dT%H%M%SZ}"
    summary = CompactSummary(lake=str(lake.root))
    if not lake.root.is_dir():
        raise LakeError(f"{lake.root}: no such lake; run `trailduck ingest` first")
    _renameat2()  # before anything is written: refused where the swap is impossible
    with lake.lock(), lake.while_compacting():
        # Files of an interrupted ingest must go before they could be merged into a file that outlives them.
        store = LocalStateStore(state_path or lake.state_path)
        checkpoint = store.load()
        # Also clears an interrupted compaction; refuses when an interrupted ingest used another checkpoint.
        lake.recover(checkpoint.runs if checkpoint else None, store.location)
        for folder in _partitions(lake, since, until):
            everything = lake.partition_files(folder)
            # Files of at least half the cap are done; merging them again would change nothing but the bytes.
            files = [f for f in everything if f.stat().st_size < max_file_bytes // 2]
            if len(files) <= 1:
                summary.partitions_already_compact += 1
                continue
            expected = sum(pq.read_metadata(f).num_rows for f in files)
            staging = lake.compact_staging(run_id, folder)
            rows = _merge(files, staging, run_id, max_file_bytes, row_group_rows)
            for big in set(everything) - set(files):
                os.link(big, staging / big.name)  # the swap must bring the big files along, untouched
            if rows != expected:  # pragma: no cover - a defect in the merge; never swap it in
                raise LakeError(f"{folder}: merged {rows} rows, expected {expected}; nothing was changed")
            crashpoints.hit("compact_merged")
            exchange(staging, folder)
            fsync_dir(folder.parent)
            crashpoints.hit("compact_swapped")
            merged = sorted(folder.glob(run_parts(run_id)))
            summary.partitions_compacted += 1
            summary.files_before += len(files)
            summary.files_after += len(merged)
            summary.bytes_before += sum(
                f.stat().st_size for f in lake.partition_files(staging) if f.name in {x.name for x in files}
            )
            summary.bytes_after += sum(f.stat().st_size for f in merged)
            summary.rows += rows
            summary.compacted.append(folder.relative_to(lake.root).as_posix())
            shutil.rmtree(staging)  # now the old files
        shutil.rmtree(lake.compact_dir, ignore_errors=True)
    summary.duration_s = time.monotonic() - started
    return summary

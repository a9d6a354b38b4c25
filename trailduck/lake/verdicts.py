"""The verdicts of ``trailduck verify``, kept in the lake so that findings can be joined to their proof.

Two small Parquet tables in the lake's bookkeeping (:func:`trailduck.lake.layout.verdict_key`): one row per log file and one per digest, keyed
by the object key relative to the source root (the lake's ``source_key``). A run replaces the rows of the keys
it verified and keeps the others, so a ``--since`` run does not forget older verdicts. The views
``integrity`` and ``integrity_digests`` read them.

The statuses are defined here, with the tables that store them, so that the views' ``ok`` column and
``trailduck verify`` judge them alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trailduck.errors import LakeError
from trailduck.lake.layout import verdict_key

if TYPE_CHECKING:
    from trailduck.lake.folder import Lake


class Status(StrEnum):
    """The verdict of ``trailduck verify`` on one digest or log file; the value is what the tables and
    ``verify --json`` hold."""

    #: Digest: location, key and signature check out. Log file: its content hashes to what a digest recorded.
    VALID = "valid"
    #: Digest: unreadable, or its signature does not verify, or it differs from what the next digest recorded.
    BAD_SIGNATURE = "bad_signature"
    #: Digest: it says it belongs elsewhere.
    MOVED = "moved"
    #: Named (by a newer digest, or by a digest's list of files) but not in the source.
    MISSING = "missing"
    #: Digest: starts a new chain while an older one exists (logging or validation was off).
    GAP = "gap"
    #: Digest: no public key with its fingerprint in use at its time.
    UNKNOWN_KEY = "unknown_key"
    #: Log file: its content (or the lake's copy of it) is not what the digest recorded.
    HASH_MISMATCH = "hash_mismatch"
    #: Log file: bytes after the first gzip member.
    TRAILING_DATA = "trailing_data"
    #: Log file: no valid digest lists it, though digests cover its time.
    UNREFERENCED = "unreferenced"
    #: Log file: delivered after the newest verified digest (normal on a live trail).
    NOT_YET_COVERED = "not_yet_covered"


DIGEST_STATUSES = (
    Status.VALID,
    Status.BAD_SIGNATURE,
    Status.MOVED,
    Status.MISSING,
    Status.GAP,
    Status.UNKNOWN_KEY,
)
LOG_STATUSES = (
    Status.VALID,
    Status.HASH_MISMATCH,
    Status.MISSING,
    Status.TRAILING_DATA,
    Status.UNREFERENCED,
    Status.NOT_YET_COVERED,
)
#: Statuses that do not fail a run: files newer than the last digest are normal on a live trail.
ACCEPTABLE = frozenset({Status.VALID, Status.NOT_YET_COVERED})

VERDICT_SCHEMA = pa.schema(
    [
        pa.field("source_key", pa.string()),
        pa.field("account", pa.string()),
        pa.field("region", pa.string()),
        pa.field("status", pa.string()),
        pa.field("detail", pa.string()),
        pa.field("digest_key", pa.string()),
        pa.field("source", pa.string()),
        pa.field("verified_at", pa.timestamp("us", tz="UTC")),
    ]
)
TABLES = ("log_files", "digests")


def table_key(table: str) -> str:
    """The key of a verdict table in the lake (see :mod:`trailduck.lake.layout`)."""
    return verdict_key(table)


def read_table(lake: Lake, table: str) -> pa.Table | None:
    """A verdict table as the lake holds it; None when there is none yet."""
    data = lake.storage.read(table_key(table))
    if data is None:
        return None
    try:
        return pq.read_table(pa.BufferReader(data), schema=VERDICT_SCHEMA)
    except (OSError, pa.ArrowException) as exc:
        where = lake.storage.uri_of(table_key(table))
        raise LakeError(f"{where}: unreadable ({exc}); delete it and run verify again") from exc


def ensure_tables(lake: Lake) -> None:
    """Empty tables where none exist yet in a local lake, so the views always have a file to read."""
    for table in TABLES:
        if lake.is_local and not (lake.root / table_key(table)).exists():
            _write(lake, table, VERDICT_SCHEMA.empty_table())


def save_verdicts(
    lake: Lake,
    table: str,
    rows: Iterable[tuple[str, str, str, str, str, str | None]],
    *,
    source: str,
    verified_at: dt.datetime,
) -> int:
    """Merge ``(source_key, account, region, status, detail, digest_key)`` rows into ``table``; returns the
    number of rows it then holds."""
    rows = list(rows)
    new = pa.table(
        {
            "source_key": [r[0] for r in rows],
            "account": [r[1] for r in rows],
            "region": [r[2] for r in rows],
            "status": [r[3] for r in rows],
            "detail": [r[4] for r in rows],
            "digest_key": [r[5] for r in rows],
            "source": [source] * len(rows),
            "verified_at": [verified_at] * len(rows),
        },
        schema=VERDICT_SCHEMA,
    )
    old = read_table(lake, table)
    if old is not None:
        kept = old.filter(pc.invert(pc.is_in(old["source_key"], value_set=new["source_key"])))
        new = pa.concat_tables([kept, new])
    new = new.sort_by("source_key")
    _write(lake, table, new)
    return new.num_rows


def _write(lake: Lake, table: str, data: pa.Table) -> None:
    """Replace a verdict table whole (the storage's write: a reader sees the old table or the new one)."""
    sink = pa.BufferOutputStream()
    pq.write_table(data, sink, compression="zstd")
    try:
        lake.storage.write(table_key(table), sink.getvalue().to_pybytes())
    except OSError as exc:
        raise LakeError(f"{lake.storage.uri_of(table_key(table))}: cannot write ({exc.strerror})") from exc

"""The verdicts of ``trailduck verify`` in the lake: the statuses stored as they always were, and the views'
``ok`` column judging them as ``verify`` does."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trailduck.analysis.query import run_query
from trailduck.lake.folder import Lake
from trailduck.lake.verdicts import (
    ACCEPTABLE,
    DIGEST_STATUSES,
    LOG_STATUSES,
    Status,
    save_verdicts,
)
from trailduck.lake.views import refresh_views


def test_the_stored_statuses_keep_their_spelling() -> None:
    # The Parquet tables, the views and `verify --json` hold these strings: renaming one breaks older lakes.
    assert [str(s) for s in DIGEST_STATUSES] == [
        "valid",
        "bad_signature",
        "moved",
        "missing",
        "gap",
        "unknown_key",
    ]
    assert [str(s) for s in LOG_STATUSES] == [
        "valid",
        "hash_mismatch",
        "missing",
        "trailing_data",
        "unreferenced",
        "not_yet_covered",
    ]
    assert set(DIGEST_STATUSES) | set(LOG_STATUSES) == set(Status)
    assert {"valid", "not_yet_covered"} == ACCEPTABLE


def test_the_views_ok_column_is_verifys_judgement(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.create()
    now = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)
    for table, statuses in (("log_files", LOG_STATUSES), ("digests", DIGEST_STATUSES)):
        rows = [(f"AWSLogs/{s}", "111122223333", "us-east-1", s, "", None) for s in statuses]
        save_verdicts(lake, table, rows, source="s3://bucket/", verified_at=now)
        stored = pq.read_table(lake.verdict_table(table)).column("status").to_pylist()
        assert sorted(stored) == sorted(str(s) for s in statuses)
        assert (
            pq.read_schema(lake.verdict_table(table)).field("status").type == pa.string()
        )  # not a dictionary
    refresh_views(lake)
    for view, statuses in (("integrity", LOG_STATUSES), ("integrity_digests", DIGEST_STATUSES)):
        _, judged = run_query(lake, f"SELECT status, ok FROM {view} ORDER BY status")
        assert dict(judged) == {str(s): s in ACCEPTABLE for s in statuses}

"""Helpers for reading a lake back in tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from trailduck.lake import Lake


def query(lake: Path, sql: str) -> list[tuple[Any, ...]]:
    con = Lake(lake).connect(read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def lake_snapshot(lake: Path) -> dict[str, Any]:
    """Everything a second run must leave unchanged: the data files and their content."""
    files = sorted(p.relative_to(lake).as_posix() for p in (lake / "events").rglob("*.parquet"))
    rows = query(lake, "SELECT source_key, eventID, md5(event_json::VARCHAR) FROM events ORDER BY ALL")
    return {"files": files, "rows": rows}


def count(lake: Path, view: str = "events") -> int:
    return query(lake, f"SELECT count(*) FROM {view}")[0][0]


def connect(lake: Path) -> duckdb.DuckDBPyConnection:
    return Lake(lake).connect(read_only=True)

"""Queries against the lake's DuckDB database, for the CLI, notebooks and scripts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from trailduck.errors import ConfigError
from trailduck.lake.folder import Lake


def run_query(
    lake: Lake, sql: str, params: list[Any] | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one query read-only; returns the column names and the rows."""
    con = lake.connect(read_only=True)
    try:
        cur = con.execute(sql, params or [])
        if cur.description is None:
            return [], []
        return [d[0] for d in cur.description], cur.fetchall()
    except duckdb.Error as exc:
        raise ConfigError(f"query failed: {exc}") from exc
    finally:
        con.close()


def jsonable(value: Any) -> Any:
    """A query result's value as JSON can hold it: times in ISO 8601, anything unknown as its text."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)

"""Queries against the lake's DuckDB database, for the CLI, notebooks and scripts."""

from __future__ import annotations

from typing import Any

import duckdb

from trailduck.errors import ConfigError
from trailduck.lake import Lake


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

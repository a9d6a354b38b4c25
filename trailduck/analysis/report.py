"""Every detection over a window of days: ``trailduck report`` and the security notebook.

A window applies to the partition ``date`` (the UTC day of eventTime, or the file's day when an event has
none), so events whose eventTime is missing or malformed still count. Counts are events as delivered: a record
CloudTrail delivered twice counts twice, as a CloudWatch metric filter would count it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from trailduck.analysis.query import jsonable
from trailduck.errors import ConfigError, LakeError
from trailduck.lake.folder import Lake
from trailduck.sql.catalog import SqlView, detections

SAMPLE_ROWS = 10


@dataclass
class Finding:
    """One detection's result over the window."""

    id: str
    title: str
    severity: str
    view: str
    count: int
    sample: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def run_report(
    lake: Lake,
    since: dt.date | None = None,
    until: dt.date | None = None,
    *,
    sample_rows: int = SAMPLE_ROWS,
    con: duckdb.DuckDBPyConnection | None = None,
) -> list[Finding]:
    """Run every detection over ``since`` to ``until`` (days, both included; None: unbounded)."""
    if since and until and since > until:
        raise ConfigError(f"--since {since} is after --until {until}; swap them")
    window = [since.isoformat() if since else "0000-00-00", until.isoformat() if until else "9999-99-99"]
    own = con is None
    con = con or lake.connect(read_only=True)
    try:
        return [_run_one(con, d, window, sample_rows) for d in detections()]
    finally:
        if own:
            con.close()


def _run_one(con: duckdb.DuckDBPyConnection, d: SqlView, window: list[str], sample_rows: int) -> Finding:
    assert d.id is not None and d.title is not None and d.severity is not None
    where = "date >= ? AND date <= ?"
    try:
        count = con.execute(f"SELECT count(*) FROM {d.view} WHERE {where}", window).fetchone()
        cur = con.execute(
            f"SELECT * FROM {d.view} WHERE {where} ORDER BY eventTime DESC NULLS LAST, eventID LIMIT ?",
            [*window, sample_rows],
        )
    except duckdb.CatalogException as exc:
        raise LakeError(
            f"{d.view}: {exc}. The lake's database may come from another trailduck version; "
            "run `trailduck views --refresh` once"
        ) from exc
    except duckdb.Error as exc:
        # A file removed or damaged under a running query, a disk error: say which detection, never a traceback.
        raise LakeError(f"{d.view}: {exc}") from exc
    columns = [c[0] for c in cur.description or []]
    sample = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    return Finding(d.id, d.title, d.severity, d.view, int(count[0]) if count else 0, sample)


def to_markdown(findings: list[Finding], since: dt.date | None, until: dt.date | None) -> str:
    """The report as Markdown: a summary table, then the sample rows of every detection that matched."""
    window = f"{since or 'the first day'} to {until or 'the last day'}"
    lines = [
        f"# trailduck report: {window}",
        "",
        "| id | severity | detection | events | view |",
        "|---|---|---|---:|---|",
    ]
    for f in findings:
        lines.append(f"| {f.id} | {f.severity} | {md(f.title)} | {f.count:,} | `{f.view}` |")
    for f in findings:
        if not f.count:
            continue
        lines += ["", f"## {f.id}: {md(f.title)} ({f.count:,})", "", *sample_lines(f.sample)]
    return "\n".join(lines) + "\n"


def sample_lines(sample: list[dict[str, Any]]) -> list[str]:
    """A finding's sample rows as Markdown list items: when, where, who, what, and the object it came from."""
    lines = []
    for row in sample:
        when = row.get("eventTime")
        line = f"- {when:%Y-%m-%d %H:%M:%S}Z " if isinstance(when, dt.datetime) else "- (no eventTime) "
        lines.append(
            line
            + " · ".join(
                md(str(row.get(k)))
                for k in ("account", "region", "principal", "eventName", "sourceIPAddress", "source_key")
                if row.get(k) is not None
            )
        )
    return lines


def md(text: str) -> str:
    """``text`` as one line of a Markdown table cell or heading."""
    return text.replace("|", "\\|").replace("\n", " ")

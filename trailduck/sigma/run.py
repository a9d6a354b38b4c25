"""Sigma rules on the lake: each rule's matches over a window of days (``trailduck sigma``, ``report --sigma``)
and one view per rule (``views --sigma``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from trailduck.analysis.query import jsonable
from trailduck.analysis.report import md, sample_lines
from trailduck.errors import ConfigError, LakeError
from trailduck.lake.folder import Lake
from trailduck.lake.views import refresh_views
from trailduck.sigma.fields import RECORD
from trailduck.sigma.rules import Rule, load_rules
from trailduck.sql import load_sql

SAMPLE_ROWS = 10


@dataclass
class SigmaFinding:
    """One rule's result over the window; ``unsupported`` says why a rule did not run (then ``count`` is None)."""

    id: str | None
    title: str
    level: str | None
    status: str | None
    tags: list[str]
    count: int | None
    sample: list[dict[str, Any]] = field(default_factory=list)
    view: str = ""
    file: str = ""
    unsupported: str | None = None
    #: Matching events per partition day (YYYY-MM-DD), the days with none left out.
    per_day: dict[str, int] = field(default_factory=dict)
    #: What to know about the count: it reads the record as delivered, which this lake does not keep.
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "level": self.level,
            "status": self.status,
            "tags": self.tags,
            "count": self.count,
            "sample": jsonable(self.sample),
            "per_day": self.per_day,
            "view": self.view,
            "file": self.file,
        }
        if self.unsupported is not None:
            out["unsupported"] = self.unsupported
        if self.note is not None:
            out["note"] = self.note
        return out


def run_sigma(
    lake: Lake,
    rules: Iterable[str | Path] | list[Rule],
    since: dt.date | None = None,
    until: dt.date | None = None,
    *,
    sample_rows: int = SAMPLE_ROWS,
    con: duckdb.DuckDBPyConnection | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[SigmaFinding]:
    """Run every Sigma rule in ``rules`` (rule files and folders, or rules :func:`load_rules` made) over the
    days ``since`` to ``until`` (both included; None: unbounded), in rule-file order. A rule that cannot run is
    listed with the reason and never stops the others. ``progress(done, total)`` is called after each rule."""
    if since and until and since > until:
        raise ConfigError(f"--since {since} is after --until {until}; swap them")
    if sample_rows < 1:
        raise ConfigError("sample_rows must be at least 1")
    loaded = _loaded(rules)
    window = {
        "since": since.isoformat() if since else "0000-00-00",
        "until": until.isoformat() if until else "9999-99-99",
        "sample_rows": sample_rows,
    }
    own = con is None
    con = con or lake.connect(read_only=True)
    try:
        found = []
        records = _keeps_records(con) if any(r.condition and RECORD in r.condition for r in loaded) else True
        for rule in loaded:
            found.append(_run_one(con, rule, window))
            if not records and rule.condition and RECORD in rule.condition:
                found[-1].note = NO_RECORDS
            if progress is not None:
                progress(len(found), len(loaded))
        return found
    finally:
        if own:
            con.close()


#: The note on a rule that reads event_json, in a lake without it.
NO_RECORDS = (
    "reads the record as delivered (a field the lake does not model, |exists or a keyword), which this lake does "
    "not keep (ingested with --no-event-json): those parts of it match nothing"
)


def _keeps_records(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the lake keeps each record as delivered (event_json), judged on its first events; True for an
    empty lake."""
    row = con.execute(
        "SELECT count(*), count(event_json) FROM (SELECT event_json FROM events LIMIT 1000)"
    ).fetchone()
    return row is None or row[0] == 0 or row[1] > 0


def _loaded(rules: Iterable[str | Path] | list[Rule]) -> list[Rule]:
    given = list(rules)
    if given and all(isinstance(r, Rule) for r in given):
        return [r for r in given if isinstance(r, Rule)]
    return load_rules(r for r in given if not isinstance(r, Rule))


def _finding(
    rule: Rule, count: int | None, sample: list[dict[str, Any]], unsupported: str | None
) -> SigmaFinding:
    return SigmaFinding(
        id=rule.id,
        title=rule.title,
        level=rule.level,
        status=rule.status,
        tags=rule.tags,
        count=count,
        sample=sample,
        view=rule.view,
        file=str(rule.file),
        unsupported=unsupported,
    )


def _run_one(con: duckdb.DuckDBPyConnection, rule: Rule, window: dict[str, Any]) -> SigmaFinding:
    if rule.condition is None:
        return _finding(rule, None, [], rule.unsupported)
    query = load_sql("sigma_findings.sql").replace("{condition}", rule.condition)
    try:
        cur = con.execute(query, window)
        rows = cur.fetchall()
    except duckdb.CatalogException as exc:
        raise LakeError(
            f"{rule.file}: {exc}. The lake's database may come from another trailduck version; "
            "run `trailduck views --refresh` once"
        ) from exc
    except (
        duckdb.BinderException,
        duckdb.ParserException,
        duckdb.ConversionException,
        duckdb.InvalidInputException,
        duckdb.OutOfMemoryException,
    ) as exc:
        # The rule's SQL does not bind, run or fit in memory on this lake: the rule's problem, not the run's.
        return _finding(rule, None, [], f"its SQL does not run on this lake: {str(exc).splitlines()[0]}")
    except duckdb.Error as exc:
        # A file removed or damaged under a running query, a disk error: say which rule, never a traceback.
        raise LakeError(f"{rule.file}: {exc}") from exc
    sample = sorted((row for _, _, newest in rows for row in newest), key=_newest_first)[
        : window["sample_rows"]
    ]
    finding = _finding(rule, sum(int(matches) for _, matches, _ in rows), sample, None)
    finding.per_day = {day: int(matches) for day, matches, _ in rows}
    return finding


def _newest_first(row: dict[str, Any]) -> tuple[bool, float, str]:
    """Sample order: newest eventTime first (none last), then eventID."""
    when = row.get("eventTime")
    return (when is None, -when.timestamp() if when is not None else 0.0, str(row.get("eventID") or ""))


def view_statement(rule: Rule) -> str:
    """The ``CREATE VIEW`` of a rule that runs."""
    assert rule.condition is not None
    return load_sql("sigma_rule.sql").format(
        view=rule.view,
        title=_one_line(rule.title),
        file=_one_line(str(rule.file)),
        condition=rule.condition,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def install_sigma_views(lake: Lake, rules: Iterable[str | Path] | list[Rule]) -> list[Rule]:
    """One view per rule that runs (``sigma_<name>``) in the lake's database, for the DuckDB CLI and notebooks;
    returns every rule, those that cannot run with the reason. The views stay until dropped; installing a
    folder again replaces them."""
    if not lake.is_local:
        raise ConfigError(
            f"{lake.location}: a lake on S3 keeps no database to install views in; run `trailduck sigma RULES "
            f"--lake {lake.location}` instead"
        )
    loaded = _loaded(rules)
    refresh_views(lake)  # the macros the views call
    con = lake.open_database(read_only=False)
    try:
        con.execute("BEGIN")
        for rule in loaded:
            if rule.condition is not None:
                con.execute(view_statement(rule))
        con.execute("COMMIT")
    except duckdb.Error as exc:
        raise LakeError(f"{lake.db_path}: cannot create the Sigma views ({exc})") from exc
    finally:
        con.close()
    return loaded


def sigma_markdown(findings: list[SigmaFinding], since: dt.date | None, until: dt.date | None) -> str:
    """The rules' results as Markdown: a summary table, the sample rows of each rule that matched, then the rules
    that cannot run with their reasons."""
    window = f"{since or 'the first day'} to {until or 'the last day'}"
    lines = [
        f"# Sigma rules: {window}",
        "",
        "| level | rule | events | view |",
        "|---|---|---:|---|",
    ]
    for f in findings:
        if f.unsupported is None:
            lines.append(f"| {f.level or ''} | {md(f.title)} | {f.count or 0:,} | `{f.view}` |")
    for f in findings:
        if f.count:
            lines += [
                "",
                f"## {md(f.title)} ({f.count:,})",
                "",
                (f"`{f.id}` · " if f.id else "") + md(f.file),
                "",
                *sample_lines(f.sample),
            ]
    cannot = [f for f in findings if f.unsupported is not None]
    if cannot:
        lines += ["", "## Rules that cannot run", ""]
        lines += [f"- {md(f.title)} ({md(f.file)}): {md(f.unsupported or '')}" for f in cannot]
    return "\n".join(lines) + "\n"

"""The DuckDB views over the lake, installed into ``<lake>/trailduck.duckdb``.

The SQL lives in ``trailduck/sql/*.sql``. DuckDB's ``CREATE VIEW`` takes no prepared parameters, so the only
values spliced into the SQL text are the lake's own paths, quoted as literals; :class:`~trailduck.lake.Lake`
refuses paths with quote or glob characters before anything gets here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

import duckdb
import pyarrow.parquet as pq

from trailduck import crashpoints
from trailduck.detections import analysis_views, detections
from trailduck.errors import LakeError
from trailduck.lake import Lake
from trailduck.scanner.schema import EVENT_SCHEMA
from trailduck.state.integrity import TABLES, ensure_tables, table_path


@dataclass(frozen=True)
class ViewInfo:
    name: str
    description: str


BASE_VIEWS = (
    ViewInfo("events", "every CloudTrail event, typed, one row per delivered record"),
    ViewInfo("events_unique", "events with duplicate deliveries removed (one row per eventID)"),
    ViewInfo("insights", "CloudTrail Insights events"),
    ViewInfo("cw_events", "events with the fields detections compare, under CloudWatch filter semantics"),
    ViewInfo(
        "login_failures", "failed console sign-ins, each with the failures of its user and IP in 10 minutes"
    ),
    ViewInfo("integrity", "each log file's status against the digest chain (from `trailduck verify`)"),
    ViewInfo("integrity_digests", "each digest file's status (from `trailduck verify`)"),
)


def all_views() -> list[ViewInfo]:
    """Every view the database holds, with a line on each: the data, the detections, the analysis views."""
    found = [ViewInfo(d.view, f"[{d.id}, {d.severity}] {d.description}") for d in detections()]
    found += [ViewInfo(v.view, v.description) for v in analysis_views()]
    return [*BASE_VIEWS, *found]


def load_sql(name: str) -> str:
    return resources.files("trailduck.sql").joinpath(name).read_text(encoding="utf-8")


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _relation(lake: Lake, dataset: str) -> str:
    if lake.data_files(dataset):
        glob = f"{lake.dataset_dir(dataset)}/*/*/*/*.parquet"
        return load_sql("parquet_relation.sql").format(glob=sql_literal(glob)).strip()
    schema_file = lake.meta_dir / "empty.parquet"
    if not schema_file.exists():
        lake.meta_dir.mkdir(parents=True, exist_ok=True)
        pq.write_table(EVENT_SCHEMA.empty_table(), schema_file)
    return load_sql("empty_relation.sql").format(schema_file=sql_literal(str(schema_file))).strip()


def _integrity_statements(lake: Lake) -> str:
    ensure_tables(lake)
    return load_sql("integrity.sql").format(
        **{table: sql_literal(str(table_path(lake, table))) for table in TABLES}
    )


def view_statements(lake: Lake) -> list[str]:
    template = load_sql("dataset_view.sql")
    return [
        template.format(view="events", relation=_relation(lake, "events")),
        template.format(view="insights", relation=_relation(lake, "insights")),
        load_sql("events_unique.sql"),
        load_sql("cw_string.sql"),
        load_sql("cw_events.sql"),
        load_sql("login_failures.sql"),
        _integrity_statements(lake),
        *(d.create_statement() for d in detections()),
        *(v.create_statement() for v in analysis_views()),
    ]


def refresh_views(lake: Lake, *, force: bool = False) -> bool:
    """(Re)create every view, in one transaction, unless the database already holds these very definitions:
    the views read the lake's files through globs, so a run that only added files needs no refresh (and saves
    a quarter of a second). ``force`` recreates them anyway (``trailduck views --refresh``, which also brings
    back a view someone dropped). Returns whether the views were recreated."""
    statements = view_statements(lake)
    mark = "trailduck views " + hashlib.sha256("\n;\n".join(statements).encode()).hexdigest()[:16]
    con = lake.connect(read_only=False)
    try:
        if not force and _mark(con) == mark:
            return False
        con.execute("BEGIN")
        for statement in statements:
            con.execute(statement)
            crashpoints.hit("views")
        con.execute(f"COMMENT ON VIEW events IS {sql_literal(mark)}")
        con.execute("COMMIT")
        return True
    except duckdb.Error as exc:
        raise LakeError(f"{lake.db_path}: cannot create the views ({exc})") from exc
    finally:
        con.close()


def _mark(con: duckdb.DuckDBPyConnection) -> str | None:
    """The definitions the ``events`` view was created with, as :func:`refresh_views` noted them."""
    row = con.execute(
        "SELECT comment FROM duckdb_views() WHERE view_name = 'events' AND schema_name = 'main'"
    ).fetchone()
    return row[0] if row else None

"""The DuckDB views over the lake, installed into ``<lake>/trailduck.duckdb``.

The SQL lives in ``trailduck/sql/*.sql``. DuckDB's ``CREATE VIEW`` takes no prepared parameters, so the only
values spliced into the SQL text are the lake's own paths and verify's statuses, quoted as literals;
:class:`~trailduck.lake.folder.Lake` refuses paths with quote or glob characters before anything gets here.

The views name the lake's files relative to its folder, through one macro (``trailduck_path``, in
``lake_path.sql``) that finds the folder the database was opened from, so a moved or copied lake reads its own
files, in trailduck and in a plain DuckDB connection alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from trailduck import crashpoints
from trailduck.convert.schema import EVENT_SCHEMA
from trailduck.errors import LakeError
from trailduck.lake.layout import DEFAULT_PARTITIONING, EVENTS, INSIGHTS, META, PARTITION_FILES
from trailduck.lake.table import (
    TABLE_SCHEMA,
    current_files,
    open_table,
    table_partitioning,
    table_versions,
)
from trailduck.lake.verdicts import (
    ACCEPTABLE,
    DIGEST_STATUSES,
    LOG_STATUSES,
    TABLES,
    VERDICT_SCHEMA,
    ensure_tables,
    read_table,
    table_key,
)
from trailduck.sql import fingerprint, load_sql, sql_literal
from trailduck.sql.catalog import analysis_views, detections

if TYPE_CHECKING:
    from trailduck.lake.folder import Lake

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViewInfo:
    name: str
    description: str


BASE_VIEWS = (
    ViewInfo(EVENTS, "every CloudTrail event, typed, one row per delivered record"),
    ViewInfo("events_unique", "events with duplicate deliveries removed (one row per eventID)"),
    ViewInfo(INSIGHTS, "CloudTrail Insights events"),
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


def _path_macro(lake: Lake) -> str:
    """The ``trailduck_path`` macro: how every view finds the lake's files (see ``lake_path.sql``)."""
    return load_sql("lake_path.sql").format(
        root=sql_literal(str(_made_for(lake)) + os.sep),
        spill_name=sql_literal(lake.db_spill_name),
    )


def _made_for(lake: Lake) -> Path:
    """The folder the views are made for, links resolved: two spellings of one folder are one lake."""
    return lake.root.resolve()


def _relation(lake: Lake, dataset: str, registered: dict[str, Any] | None = None) -> str:
    """What a dataset's view reads: exactly the files its Delta table holds now, never a file a commit removed
    or a run has not committed (listed in the view, so no DuckDB extension is needed); the files of a lake in
    an earlier trailduck's layout (no table yet) through a glob, until its next ingest makes the table. A lake
    on S3 is read through pyarrow's S3 filesystem: its files as a pyarrow dataset that ``registered`` gets,
    under the name returned, for the connection to register."""
    if not lake.is_local:
        assert registered is not None, "a lake on S3 has views only in a connection"
        name = f"s3_{dataset}_files"
        registered[name] = _s3_dataset(lake, dataset)
        return name
    table = open_table(lake, dataset)
    if table is not None:
        files = current_files(lake, dataset)
        if files:
            paths = ", ".join(sql_literal(f.path) for f in files)
            keys = table_partitioning(table).keys
            relation = load_sql("delta_relation.sql").format(paths=f"[{paths}]", hive_types=_hive_types(keys))
            return _in_partition_order(relation)
    elif lake.has_data(dataset):
        glob = f"{lake.relative(lake.dataset_dir(dataset))}/{PARTITION_FILES}"
        hive_types = _hive_types(DEFAULT_PARTITIONING.keys)
        return _in_partition_order(
            load_sql("parquet_relation.sql").format(glob=sql_literal(glob), hive_types=hive_types)
        )
    schema_file = lake.empty_schema_file
    if not schema_file.exists():
        lake.meta_dir.mkdir(parents=True, exist_ok=True)
        pq.write_table(EVENT_SCHEMA.empty_table(), schema_file)
    return load_sql("empty_relation.sql").format(schema_file=sql_literal(lake.relative(schema_file))).strip()


def _in_partition_order(relation: str) -> str:
    """``relation`` with the partition columns last in :data:`~trailduck.lake.table.TABLE_SCHEMA`'s order."""
    return load_sql("partition_order.sql").format(relation=relation.strip()).strip()


def _hive_types(keys: tuple[str, ...]) -> str:
    """DuckDB's ``hive_types`` of the partition columns ``keys``: strings, as written (an account id keeps its
    leading zeros). The other columns of :data:`~trailduck.lake.layout.PARTITION_KEYS` are in the files."""
    return "{" + ", ".join(f"{sql_literal(key)}: VARCHAR" for key in keys) + "}"


def _s3_dataset(lake: Lake, dataset: str) -> Any:
    """The table's current files on S3 as one pyarrow dataset, with the partition columns (strings)."""
    fs, base = lake.storage.filesystem()
    table = open_table(lake, dataset)
    files = [f"{base}/{f.path}" for f in current_files(lake, dataset)]
    if table is None or not files:
        return ds.dataset(TABLE_SCHEMA.empty_table())
    keys = table_partitioning(table).keys
    return ds.dataset(
        files,
        filesystem=fs,
        format="parquet",
        schema=TABLE_SCHEMA,
        partitioning=ds.partitioning(pa.schema([TABLE_SCHEMA.field(k) for k in keys]), flavor="hive"),
        partition_base_dir=f"{base}/{dataset}",
    )


def _integrity_statements(lake: Lake, registered: dict[str, Any] | None) -> str:
    relations: dict[str, str] = {}
    if lake.is_local:
        ensure_tables(lake)
        for table in TABLES:
            path = sql_literal(lake.relative(lake.root / table_key(table)))
            relations[table] = f"read_parquet(trailduck_path({path}))"
    else:
        assert registered is not None, "a lake on S3 has views only in a connection"
        for table in TABLES:
            relations[table] = f"s3_verdicts_{table}"
            registered[relations[table]] = read_table(lake, table) or VERDICT_SCHEMA.empty_table()
    return load_sql("integrity.sql").format(
        **relations,
        log_file_ok=", ".join(sql_literal(s) for s in LOG_STATUSES if s in ACCEPTABLE),
        digest_ok=", ".join(sql_literal(s) for s in DIGEST_STATUSES if s in ACCEPTABLE),
    )


def view_statements(lake: Lake, registered: dict[str, Any] | None = None) -> list[str]:
    template = load_sql("dataset_view.sql")
    return [
        _path_macro(lake),
        template.format(view=EVENTS, relation=_relation(lake, EVENTS, registered)),
        template.format(view=INSIGHTS, relation=_relation(lake, INSIGHTS, registered)),
        load_sql("events_unique.sql"),
        load_sql("principal.sql"),
        load_sql("sigma.sql"),
        load_sql("cw_string.sql"),
        load_sql("cw_events.sql"),
        load_sql("login_failures.sql"),
        _integrity_statements(lake, registered),
        *(d.create_statement() for d in detections()),
        *(v.create_statement() for v in analysis_views()),
    ]


def refresh_views(lake: Lake, *, force: bool = False) -> bool:
    """(Re)create every view, in one transaction, unless the database already holds these very definitions:
    the views read the lake's files through globs, so a run that only added files needs no refresh (and saves
    a quarter of a second). ``force`` recreates them anyway (``trailduck views --refresh``, which also brings
    back a view someone dropped). Returns whether the views were recreated."""
    if not lake.is_local:
        return False  # a lake on S3 keeps no database: each connection makes its views (connect_for_reading)
    statements = view_statements(lake)
    mark = _definitions_mark(lake, statements)
    con = lake.open_database(read_only=False)
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


def refresh_or_say(lake: Lake) -> str | None:
    """:func:`refresh_views` after a commit, where the tables are committed whatever happens to the views: a
    database that cannot be written now (a reader holding it open) is said, not fatal. A connection opened later
    makes views of its own for the tables' current versions (:func:`connect_for_reading`). Returns what to say."""
    try:
        refresh_views(lake)
    except LakeError as exc:
        said = f"{exc}; run `trailduck views --refresh` once nothing holds the database open"
        log.warning("%s", said)
        return said
    return None


def connect_for_reading(lake: Lake) -> duckdb.DuckDBPyConnection:
    """A read-only connection whose views read ``lake``'s own files, as its tables hold them now.

    The views read the folder their database is in (see ``lake_path.sql``), wherever it was moved or copied, so
    the file is used as it is. Views that list the files of older table versions (a commit since, which could
    not refresh them), or made by another trailduck (other SQL texts, or no folder in their mark): they are
    remade first or, where the database cannot be written (a read-only disk, another process holding it open),
    made in a database in memory for this connection only.
    """
    if not lake.is_local:
        return _views_in_memory(lake)
    con = lake.open_database(read_only=True)
    mark = _mark(con)
    if (
        _mark_lake(mark) is not None
        and _marked(mark, "sql") == fingerprint()
        and _marked(mark, "tables") == table_versions(lake)
    ):
        return con  # made by this trailduck's SQL, for the tables as they are now
    con.close()
    try:
        refresh_views(lake, force=True)
        return lake.open_database(read_only=True)
    except LakeError as exc:
        log.warning(
            "%s: its views were made by an older trailduck and cannot be remade now (%s); this connection "
            "reads the lake through views of its own, in memory",
            lake.db_path,
            exc,
        )
    return _views_in_memory(lake)


def _views_in_memory(lake: Lake) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the views, for this connection only."""
    if not lake.is_local and not lake.storage.first_keys(f"{META}/", 1):
        raise LakeError(
            f"{lake.location}: no lake there; run `trailduck ingest SOURCE --lake {lake.location}` first"
        )
    registered: dict[str, Any] = {}
    statements = view_statements(lake, registered)
    con = lake.scratch_connection()
    try:
        for name, relation in registered.items():
            con.register(name, relation)
        for statement in statements:
            con.execute(statement)
    except duckdb.Error as exc:
        con.close()
        raise LakeError(f"{lake.location}: cannot create the views in memory ({exc})") from exc
    return con


def _definitions_mark(lake: Lake, statements: list[str]) -> str:
    """What :func:`refresh_views` notes on the ``events`` view: a digest of the definitions, the folder and
    table versions they were made for, and the digest of the SQL texts they were made from."""
    digest = hashlib.sha256("\n;\n".join(statements).encode()).hexdigest()[:16]
    return json.dumps(
        {
            "trailduck views": digest,
            "lake": str(_made_for(lake)),
            "tables": table_versions(lake),
            "sql": fingerprint(),
        }
    )


def _mark_lake(mark: str | None) -> str | None:
    """The lake folder a mark names; None for a database without one (views made by an older trailduck, whose
    files are named by absolute paths, or no views at all)."""
    try:
        made_for = json.loads(mark or "")["lake"]
    except (ValueError, TypeError, KeyError):
        return None
    return made_for if isinstance(made_for, str) else None


def _marked(mark: str | None, name: str) -> object:
    """What a mark says under ``name`` (``tables``: the table versions whose files the views list; ``sql``: the
    digest of the SQL texts they were made from); None where it says nothing."""
    try:
        return json.loads(mark or "")[name]
    except (ValueError, TypeError, KeyError):
        return None


def _mark(con: duckdb.DuckDBPyConnection) -> str | None:
    """The definitions the ``events`` view was created with, as :func:`refresh_views` noted them."""
    rows = con.execute(
        "SELECT comment FROM duckdb_views() WHERE view_name = 'events' AND schema_name = 'main'"
    ).fetchall()  # all of it: a result left unfinished would block the caller's next query on ``con``
    return rows[0][0] if rows else None

"""Other engines: the SQL that registers the lake's tables in Athena, Trino or Spark (`trailduck ddl`), and where
those engines find the lake.

Each dataset (:data:`trailduck.lake.layout.DATASETS`) is a Delta Lake table in its own folder; an engine reads
the schema and the list of files from the table's Delta log, so the SQL names only where each table is. Athena
and Trino read S3 only; Spark reads a local folder too. The SQL texts are ``trailduck/sql/engines/*.sql``.
"""

from __future__ import annotations

import re

from trailduck.errors import ConfigError
from trailduck.lake.folder import open_lake
from trailduck.lake.layout import DATASETS
from trailduck.lake.table import is_table
from trailduck.sql import load_sql, sql_literal

ENGINES = ("athena", "trino", "spark")
#: The engines that read the lake from S3 only.
S3_ONLY = ("athena", "trino")
DEFAULT_DATABASE = "cloudtrail"
#: The Trino catalog configured with the delta_lake connector.
DEFAULT_CATALOG = "delta"

#: Names the three engines accept unquoted; Athena (and the Glue and Hive catalogs) keep them in lower case, so
#: they are lowercased first and the SQL shows the name the catalog will hold.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,254}")
#: S3's bucket naming rules (3 to 63 characters: lower-case letters, digits, dots and hyphens).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_SCHEME = re.compile(r"(s3a?):", re.IGNORECASE)
#: The location is spliced into SQL text as a literal (escaped, but a quote there is a mistake in any case), and
#: each statement is one line, so that a shell loop can send them one at a time.
_FORBIDDEN_URI_CHARS = set("'\"`\\") | {chr(c) for c in range(32)} | {"\x7f"}
#: What each engine's table location ends with: Athena's and Trino's documentation give a folder's trailing slash.
_TABLE_SUFFIX = {"athena": "/", "trino": "/", "spark": ""}


def check_engine(engine: str) -> str:
    """``engine``, one of :data:`ENGINES` (in any case)."""
    name = engine.strip().lower()
    if name not in ENGINES:
        raise ConfigError(f"--engine {engine!r}: choose {', '.join(ENGINES[:-1])} or {ENGINES[-1]}")
    return name


def check_name(name: str, option: str) -> str:
    """A database, schema or catalog name, lowercased: letters, digits and underscores, a letter first."""
    lowered = name.lower()
    if not _NAME.fullmatch(lowered):
        raise ConfigError(
            f"{option} {name!r}: give a name of letters, digits and underscores that starts with a letter, "
            "at most 255 characters (Athena keeps it in lower case)"
        )
    return lowered


def is_s3_uri(text: str) -> bool:
    """Whether ``text`` means an S3 location (``s3://`` or ``s3a://``, or a mistyped form of them) rather than a
    local folder."""
    return _SCHEME.match(text.strip()) is not None


def parse_s3_uri(text: str, option: str, engine: str) -> str:
    """``s3://bucket/prefix`` checked and without its trailing slashes. ``s3a://`` (the scheme open-source
    Spark's S3 connector reads) is accepted for Spark only."""
    uri = text.strip()
    m = _SCHEME.match(uri)
    scheme = m.group(1).lower() if m else "s3"
    schemes = ("s3", "s3a") if engine == "spark" else ("s3",)
    if scheme not in schemes:
        raise ConfigError(f"{option} {text!r}: {engine} reads s3:// locations; give s3://bucket/prefix")
    rest = uri[len(scheme) + 1 :]
    if not rest.startswith("//"):
        raise ConfigError(f"{option} {text!r}: give {scheme}://bucket/prefix")
    bad = sorted(_FORBIDDEN_URI_CHARS.intersection(uri))
    if bad:
        raise ConfigError(
            f"{option} {text!r}: an S3 location for SQL may not contain any of {' '.join(repr(c) for c in bad)}"
        )
    path = re.sub(r"[/\s]+$", "", rest[2:])  # trailing slashes and blanks, in any order: parses to itself
    bucket, _, prefix = path.partition("/")
    if not bucket:
        raise ConfigError(f"{option} {text!r}: name the bucket, as in {scheme}://bucket/prefix")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ConfigError(
            f"{option} {text!r}: {bucket!r} is not an S3 bucket name (3 to 63 lower-case letters, digits, "
            "dots and hyphens)"
        )
    return f"{scheme}://{bucket}/{prefix}" if prefix else f"{scheme}://{bucket}"


def lake_location(engine: str, lake: str | None = None, location: str | None = None) -> str:
    """Where ``engine`` finds the lake's folder: ``location`` (an S3 URI the lake was copied to) when given,
    else ``lake``: an S3 URI as it is (not opened), or a local lake folder (``None``: the default one, see
    :func:`trailduck.lake.folder.open_lake`), which must exist and which only Spark reads, by its absolute path.
    """
    engine = check_engine(engine)
    there = parse_s3_uri(location, "--location", engine) if location is not None else None
    if lake is not None and is_s3_uri(lake):
        # Parsed here, never handed to open_lake: a local path is all a Lake knows.
        root = parse_s3_uri(lake, "--lake", engine)
        return there or root
    local = open_lake(lake)
    if not local.root.is_dir():
        raise ConfigError(
            f"{local.root}: no such lake; run `trailduck ingest SOURCE --lake {local.root}` first, or give "
            "--lake (a lake folder or s3://bucket/prefix)"
        )
    if not local.meta_dir.is_dir():
        raise ConfigError(f"{local.root}: not a trailduck lake ({local.meta_dir} is missing); give --lake")
    if not all(is_table(local, dataset) for dataset in DATASETS):
        raise ConfigError(
            f"{local.root}: its tables have no Delta log yet (a lake of an earlier trailduck, or one never "
            f"ingested into); run `trailduck ingest SOURCE --lake {local.root}` or `trailduck compact --lake "
            f"{local.root}` once, which makes them in place"
        )
    if there is not None:
        return there
    if engine in S3_ONLY:
        raise ConfigError(
            f"{local.root} is a local folder and {engine} reads the lake from S3 only: copy it there (aws s3 sync "
            f"{local.root} s3://bucket/prefix) and give --location s3://bucket/prefix"
        )
    return local.root.as_posix()


def ddl(engine: str, location: str, database: str = DEFAULT_DATABASE, catalog: str = DEFAULT_CATALOG) -> str:
    """The SQL (one statement a line, ending with ``;``) that registers each dataset at ``location`` (the lake's
    folder, as :func:`lake_location` gives it) as a Delta Lake table ``<database>.<dataset>`` of ``engine``.
    ``catalog`` is Trino's catalog of the delta_lake connector (the other engines ignore it)."""
    engine = check_engine(engine)
    database = check_name(database, "--database")
    catalog = check_name(catalog, "--catalog")
    table = load_sql(f"engines/{engine}_table.sql")
    tables = "\n".join(
        table.format(
            catalog=catalog,
            database=database,
            table=name,
            schema=sql_literal(database),
            name=sql_literal(name),
            location=sql_literal(f"{location.rstrip('/')}/{name}{_TABLE_SUFFIX[engine]}"),
        ).strip()
        for name in DATASETS
    )
    return load_sql(f"engines/{engine}.sql").format(catalog=catalog, database=database, tables=tables)


def lake_ddl(
    engine: str,
    lake: str | None = None,
    location: str | None = None,
    database: str = DEFAULT_DATABASE,
    catalog: str = DEFAULT_CATALOG,
) -> str:
    """`trailduck ddl`: the options checked, the cheap ones first, then :func:`ddl` for the lake's location."""
    engine = check_engine(engine)
    check_name(database, "--database")
    check_name(catalog, "--catalog")
    return ddl(engine, lake_location(engine, lake, location), database, catalog)

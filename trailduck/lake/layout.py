"""Every path and name in a lake, in one place: no other module spells one.

::

    <lake>/events/account=<12 digits>/region=<region>/date=<YYYY-MM-DD>/part-<run>-<n>.parquet
    <lake>/events/date=<YYYY-MM-DD>/part-<run>-<n>.parquet      the same, in a lake partitioned by date only
                                           (see :class:`Partitioning`)
    <lake>/events/_delta_log/              the Delta Lake log: which files the table holds (a file becomes
                                           visible to readers only when a commit there names it)
    <lake>/events/.../.part-<run>-<n>.parquet.tmp   being written to a local folder; renamed into place before
                                           its run commits (on S3 a file has its final key at once)
    <lake>/insights/...                    the same for CloudTrail Insights events
    <lake>/trailduck.duckdb                the views over the Parquet files (see :mod:`trailduck.lake.views`)
    <lake>/trailduck.duckdb.tmp/           DuckDB's spill folder for that database (DuckDB names it)
    <lake>/_trailduck/state.json           the checkpoint (unless moved with --state)
    <lake>/_trailduck/runs/<run>.run       a marker that exists only while a run is writing; holds the run's
                                           commit, written ahead, once its files are written
    <lake>/_trailduck/lock                 held (flock) by the one process writing to a local folder
    <lake>/_trailduck/lease.json           the same on S3: a lease (see :mod:`trailduck.lake.lease`)
    <lake>/_trailduck/content/part-<run>.parquet    the SHA-256 each object of a run was converted from
    <lake>/_trailduck/integrity/<table>.parquet     `trailduck verify`'s verdicts (log_files, digests)
    <lake>/_trailduck/compact/             left by an interrupted compaction of an earlier trailduck: removed
    <lake>/_trailduck/duckdb-tmp/          the spill folder of in-memory connections over the lake
    <lake>/_trailduck/empty.parquet        the schema an empty dataset's view reads
    <lake>/_trailduck/demo.json            marks a lake that `trailduck demo` made

``<lake>`` is a folder or ``s3://bucket/prefix`` (see :mod:`trailduck.lake.storage`); a lake on S3 has no
database, lock or spill folders. Partition values are plain strings (Hive style ``key=value`` folders), which Athena, Spark and DuckDB read as
they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from trailduck.errors import ConfigError
from trailduck.fsutil import temporary_name

EVENTS = "events"
INSIGHTS = "insights"
DATASETS = (EVENTS, INSIGHTS)
#: The columns a table holds after an event's, all strings; and the Hive partition columns of the default
#: partitioning, outermost first.
PARTITION_KEYS = ("account", "region", "date")
_PART = "part-"
_PARQUET = ".parquet"


def _folders_glob(keys: Iterable[str]) -> str:
    return "/".join(f"{key}=*" for key in keys)


_PARTITIONS = _folders_glob(PARTITION_KEYS)
#: Below a dataset's folder: every data file of every partition (of the default partitioning, which is the only
#: one a lake of an earlier trailduck, without Delta tables, has).
PARTITION_FILES = f"{_PARTITIONS}/*{_PARQUET}"


@dataclass(frozen=True)
class Partitioning:
    """How a lake's two tables are partitioned, chosen when the lake is created and kept as the Delta tables'
    partition columns (so nothing beside the tables can disagree with them; see
    :func:`trailduck.lake.table.lake_partitioning`).

    ``account,region,date`` (the default) gives each account's region its own folder per day: queries of one
    account prune by folder, but an organization gets accounts x regions files a day. ``date`` keeps one folder
    per day; ``account`` and ``region`` are then columns in the files, whose rows are sorted by
    :attr:`sort_keys` so that row groups' statistics prune one account's rows instead.
    """

    #: The Hive partition columns, outermost first: a suffix of :data:`PARTITION_KEYS`.
    keys: tuple[str, ...]

    @property
    def name(self) -> str:
        """As ``--partition-by`` spells it."""
        return ",".join(self.keys)

    @property
    def in_files(self) -> tuple[str, ...]:
        """The columns of :data:`PARTITION_KEYS` that the data files hold, since no folder does."""
        return tuple(key for key in PARTITION_KEYS if key not in self.keys)

    @property
    def sort_keys(self) -> tuple[str, ...]:
        """The order of the rows in a file (within each row group as ingested, the whole file once compacted);
        empty: as delivered. (``eventTime`` is the event's column of that name.)"""
        return (*self.in_files, "eventTime") if self.in_files else ()

    @property
    def files(self) -> str:
        """Below a dataset's folder: every data file of every partition."""
        return f"{_folders_glob(self.keys)}/*{_PARQUET}"

    def folder(self, dataset: str, account: str, region: str, date: str) -> str:
        """The folder, relative to the lake, of the file that holds an account's region's rows of a day."""
        values = dict(zip(PARTITION_KEYS, (account, region, date), strict=True))
        return "/".join([dataset, *(f"{key}={values[key]}" for key in self.keys)])


#: Each account's region in its own folder per day: the default.
BY_STREAM = Partitioning(PARTITION_KEYS)
#: One folder per day; account and region are sorted columns in the files.
BY_DATE = Partitioning(("date",))
PARTITIONINGS = (BY_STREAM, BY_DATE)
DEFAULT_PARTITIONING = BY_STREAM


def partitioning_named(keys: Iterable[str]) -> Partitioning | None:
    """The partitioning whose partition columns are ``keys``; None when trailduck has no such partitioning."""
    wanted = tuple(keys)
    return next((p for p in PARTITIONINGS if p.keys == wanted), None)


def parse_partitioning(text: str) -> Partitioning:
    """``--partition-by``: ``account,region,date`` or ``date`` (blanks and case ignored)."""
    found = partitioning_named(part.strip().lower() for part in text.split(","))
    if found is None:
        choices = " or ".join(p.name for p in PARTITIONINGS)
        raise ConfigError(f"--partition-by {text!r}: choose {choices}")
    return found


#: Below a stream's folder (:meth:`LakeLayout.stream_dir`): every data file of every day.
DAY_FILES = f"{PARTITION_KEYS[-1]}=*/*{_PARQUET}"
#: The Delta log of a dataset's table, in the dataset's folder (see :mod:`trailduck.lake.table`).
DELTA_LOG = "_delta_log"
_DATABASE = "trailduck.duckdb"
#: The lake's DuckDB database, a file in its folder (a lake copied to S3 may carry it along).
DATABASE = _DATABASE
_META = "_trailduck"
#: The folder (or prefix) of the lake's own bookkeeping.
META = _META
#: Keys (relative to the lake, as :class:`trailduck.lake.storage.Storage` names objects) of its bookkeeping.
RUNS = f"{_META}/runs"
RUN_MARKER = ".run"
CONTENT = f"{_META}/content"
#: The content files, by name (one a run: ``part-<run>.parquet``).
CONTENT_FILES = f"{_PART}*{_PARQUET}"
STATE = f"{_META}/state.json"
LEASE = f"{_META}/lease.json"
#: Every data file of a dataset, by name.
PARQUET_FILES = f"*{_PARQUET}"


def run_marker_key(run_id: str) -> str:
    """The key of the marker a run keeps while it writes (see :meth:`trailduck.lake.folder.Lake.begin_run`)."""
    return f"{RUNS}/{run_id}{RUN_MARKER}"


def verdict_key(table: str) -> str:
    """The key of one of `trailduck verify`'s verdict tables (see :mod:`trailduck.lake.verdicts`)."""
    return f"{_META}/integrity/{table}{_PARQUET}"


def content_key(run_id: str) -> str:
    """The key of a run's content hashes (see :mod:`trailduck.lake.lineage`)."""
    return f"{CONTENT}/{_PART}{run_id}{_PARQUET}"


def _hive_folder(dataset: str, *values: str) -> str:
    """``dataset/account=.../region=...``: the folders of the first partition columns, relative to the lake."""
    keys = PARTITION_KEYS[: len(values)]  # a prefix of them: the stream's folder, or the partition's
    return "/".join([dataset, *(f"{key}={value}" for key, value in zip(keys, values, strict=True))])


def partition_path(dataset: str, account: str, region: str, date: str) -> str:
    """A partition's folder, relative to the lake."""
    return _hive_folder(dataset, account, region, date)


def stream_folder(dataset: str, account: str, region: str) -> str:
    """The folder of one account's and region's partitions, relative to the lake."""
    return _hive_folder(dataset, account, region)


def part_name(run_id: str, n: str) -> str:
    """The name of a data file: ``part-<run>-<n>.parquet``; ``n`` tells the run's files apart."""
    return f"{_PART}{run_id}-{n}{_PARQUET}"


def run_parts(run_id: str = "*") -> str:
    """A glob of a run's published data files, in a partition folder."""
    return part_name(run_id, "*")


def run_tmp_parts(run_id: str = "*") -> str:
    """A glob of a run's unpublished data files, in a partition folder."""
    return temporary_name(run_parts(run_id))


def is_part_of(name: str, run_ids: set[str]) -> bool:
    """Whether the data file ``name`` was written by one of ``run_ids``."""
    return any(name.startswith(f"{_PART}{run}-") for run in run_ids)


class LakeLayout:
    """The paths of one lake folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def db_path(self) -> Path:
        return self.root / _DATABASE

    @property
    def db_spill_name(self) -> str:
        """The name DuckDB gives the spill folder of the database opened from :attr:`db_path`."""
        return f"{_DATABASE}.tmp"

    @property
    def meta_dir(self) -> Path:
        return self.root / _META

    @property
    def state_path(self) -> Path:
        return self.root / STATE

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS

    @property
    def lock_path(self) -> Path:
        return self.meta_dir / "lock"

    def verdict_table(self, table: str) -> Path:
        return self.root / verdict_key(table)

    @property
    def compact_dir(self) -> Path:
        return self.meta_dir / "compact"

    @property
    def scratch_dir(self) -> Path:
        """The spill folder of in-memory DuckDB connections over the lake."""
        return self.meta_dir / "duckdb-tmp"

    @property
    def empty_schema_file(self) -> Path:
        return self.meta_dir / f"empty{_PARQUET}"

    @property
    def demo_marker(self) -> Path:
        return self.meta_dir / "demo.json"

    def dataset_dir(self, dataset: str) -> Path:
        return self.root / dataset

    def delta_log(self, dataset: str) -> Path:
        return self.dataset_dir(dataset) / DELTA_LOG

    def stream_dir(self, dataset: str, account: str, region: str) -> Path:
        return self.root / stream_folder(dataset, account, region)

    def data_files(self, dataset: str = EVENTS, names: str = f"*{_PARQUET}") -> list[Path]:
        """The files of ``dataset``'s partitions whose name matches ``names`` (every data file by default), in
        the default partitioning: the files of a lake of an earlier trailduck, which has no tables yet."""
        base = self.dataset_dir(dataset)
        return sorted(base.glob(f"{_PARTITIONS}/{names}")) if base.is_dir() else []

    def has_data(self, dataset: str = EVENTS) -> bool:
        """Whether ``dataset`` holds a Parquet file (without listing them all)."""
        base = self.dataset_dir(dataset)
        return base.is_dir() and next(base.glob(PARTITION_FILES), None) is not None

    def relative(self, path: Path) -> str:
        """A path of the lake as its views name it: relative to the lake's folder, with forward slashes."""
        return path.relative_to(self.root).as_posix()

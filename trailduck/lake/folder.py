"""The lake folder: its single-writer lock, recovery from an interrupted run, a full disk's message, and
connections for reading it. Its paths and names are :mod:`trailduck.lake.layout`'s."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import duckdb

from trailduck import crashpoints
from trailduck.errors import ConfigError, LakeError, StateError
from trailduck.fsutil import DISK_FULL, says_disk_full, temporary_name
from trailduck.lake.layout import (
    CONTENT,
    DATABASE,
    DATASETS,
    DEFAULT_PARTITIONING,
    LEASE,
    META,
    PARQUET_FILES,
    RUN_MARKER,
    RUNS,
    STATE,
    LakeLayout,
    Partitioning,
    content_key,
    is_part_of,
    partitioning_named,
    run_marker_key,
    run_parts,
    run_tmp_parts,
)
from trailduck.lake.storage import LocalStorage, S3Storage, Storage, open_storage
from trailduck.lake.table import commit_run, create_table, current_files
from trailduck.lake.views import connect_for_reading
from trailduck.state.checkpoint import Checkpoint
from trailduck.state.store import LocalStateStore, StateStore

try:
    import fcntl
except ImportError:  # Windows: no flock; the lake can be read there, not written (see Lake.lock)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

STORAGE_COMPATIBILITY = "v1.0.0"
#: A URL (``s3://bucket/prefix``, also as a Path spells it: ``s3:/bucket/prefix``), not a local folder.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:(/|$)")
# A backslash is a path's separator on Windows, elsewhere a character DuckDB's globs would read as an escape.
_FORBIDDEN_PATH_CHARS = set("*?[]{}'\"\n\r\t\x00") | (set() if os.sep == "\\" else {"\\"})


class Recovered(NamedTuple):
    """What :meth:`Lake.recover` did with interrupted runs."""

    #: Runs that had written their commit ahead: committed now where they were not, their checkpoint saved.
    finished: list[str]
    #: Runs that had not: their files deleted, their objects converted again by the next run.
    rolled_back: list[str]


class Lake(LakeLayout):
    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        text = os.fspath(root)
        self.storage: Storage
        self._lease: Any = None  # held while writing to a lake on S3 (see lock())
        self._marker_tag: str | None = None  # the version of this process's run marker (see prepare_commit)
        if (
            text.startswith("s3:/") or text == "s3:"
        ):  # s3://bucket/prefix, or as a Path spells it: s3:/bucket/prefix
            self.storage = open_storage(text, profile=profile, region=region, endpoint_url=endpoint_url)
            # The folder of what is local to this machine: DuckDB's spill files. Nothing of the lake.
            digest = hashlib.sha256(self.storage.uri.encode()).hexdigest()[:12]
            user = os.getuid() if hasattr(os, "getuid") else os.getlogin()  # one per user: never shared
            super().__init__(Path(tempfile.gettempdir()) / f"trailduck-s3-{user}-{digest}")
            return
        if _URL.match(text):
            # Never a local folder named "gs:" (a Path reads gs://b/p as gs:/b/p).
            raise ConfigError(
                f"--lake {text}: give a local folder or s3://bucket/prefix; other URLs are not supported"
            )
        path = Path(root).expanduser().absolute()
        bad = sorted(_FORBIDDEN_PATH_CHARS.intersection(str(path)))
        if bad:
            # DuckDB reads the lake through glob patterns inside SQL text: such characters would change them.
            raise ConfigError(
                f"{path}: the lake path may not contain any of {' '.join(repr(c) for c in bad)}; "
                "choose a plain folder name"
            )
        super().__init__(path)
        self.storage = LocalStorage(path)

    def exists(self) -> bool:
        """Whether a lake is there: its bookkeeping folder (or prefix, on S3)."""
        if self.is_local:
            return self.meta_dir.is_dir()
        return bool(self.storage.first_keys(f"{META}/", 1))

    @property
    def location(self) -> str:
        """The lake's location as users write it: its folder, or ``s3://bucket/prefix``."""
        return self.storage.uri

    @property
    def is_local(self) -> bool:
        return self.storage.is_local

    # -- paths: see LakeLayout -----------------------------------------------------------------------------
    def create(self) -> None:
        if not self.is_local:
            return  # S3 has no folders to make
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LakeError(f"{self.root}: cannot create the lake folder ({exc.strerror})") from exc

    # -- writing -------------------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the single-writer lock. The OS drops it when the process dies, so a dead run never blocks."""
        if isinstance(self.storage, S3Storage):
            with self._leased(self.storage):
                yield
            return
        if fcntl is None:
            raise LakeError(
                f"{self.root}: writing to a lake needs flock, which Linux and macOS have and this system has not; "
                "ingest on one of those (sql, report, views and the notebooks work here)"
            )
        self.create()
        path = self.lock_path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                holder = _running_pid(os.pread(fd, 64, 0))
                if holder is None:
                    # The last writer's pid is gone: someone else holds the lock, flock(1) around a backup, say.
                    raise LakeError(
                        f"{self.root}: another process holds the lake's lock ({path}), a backup under flock(1) "
                        "perhaps; wait for it to finish"
                    ) from exc
                raise LakeError(
                    f"{self.root}: another trailduck process (pid {holder}) is writing to this lake; "
                    "wait for it to finish, or check that no other ingest is scheduled at the same time"
                ) from exc
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)

    @contextmanager
    def _leased(self, storage: S3Storage) -> Iterator[None]:
        """The single-writer lock of a lake on S3: a lease object (see :mod:`trailduck.lake.lease`)."""
        from trailduck.lake.lease import S3Lease

        self._refuse_a_foreign_prefix(storage)
        with S3Lease(storage.client, storage.bucket, storage.key(LEASE)).held() as lease:
            self._lease = lease
            try:
                yield
            finally:
                self._lease = None

    def _refuse_a_foreign_prefix(self, storage: S3Storage) -> None:
        """Never write into a prefix that holds something other than a trailduck lake."""
        found = storage.first_keys("", 50)
        ours = (f"{META}/", *(f"{d}/" for d in DATASETS), DATABASE)  # (the database of a lake synced up)
        strangers = [k for k in found if not k.startswith(ours)]
        if strangers or (found and not any(k.startswith(f"{META}/") for k in found)):
            raise ConfigError(
                f"--lake {self.location}: holds objects that are not a trailduck lake "
                f"({storage.uri_of((strangers or found)[0])}, ...); choose an empty prefix or a lake's own "
                "(trailduck never writes among other objects)"
            )

    def _committed_parts(self) -> set[str]:
        """The keys of every data file the tables name now."""
        return {f.path for dataset in DATASETS for f in current_files(self, dataset)}

    def check_lease(self) -> None:
        """Before a commit: on S3, that this process still holds the lake's lease (a lost one raises)."""
        if self._lease is not None:
            self._lease.check()

    def state_store(self, state: str | os.PathLike[str] | None = None) -> StateStore:
        """The checkpoint's store: ``state`` (a local file) when given, else the lake's own
        (``_trailduck/state.json`` in its folder, or its object on S3, written only if unchanged since read)."""
        if state is not None:
            return LocalStateStore(Path(state))
        if isinstance(self.storage, S3Storage):
            from trailduck.state.s3store import S3StateStore

            return S3StateStore(self.storage.client, self.storage.bucket, self.storage.key(STATE))
        return LocalStateStore(self.state_path)

    @contextmanager
    def until_committed(self) -> Iterator[None]:
        """Around a run's writes up to and including its commit (the checkpoint): a full disk, which Python,
        pyarrow and the worker processes all report as an ``OSError`` with ``errno`` ENOSPC or EDQUOT, becomes one
        :class:`LakeError` naming the folder, saying that nothing was committed and what to do. Only before the
        commit is that true, so only that part of a run is wrapped."""
        with self.full_disk_said(
            "nothing was committed",
            "choose another {option}, then run again: the next run rolls back what this one wrote and converts "
            "its objects again",
        ):
            yield

    @contextmanager
    def after_commit_ahead(self) -> Iterator[None]:
        """As :meth:`until_committed`, for the part of a run after its commit was written ahead: the tables'
        commits and the checkpoint. The run is as good as committed: the next one finishes it."""
        try:
            with self.full_disk_said(
                "the run's commit was written ahead, so it is kept",
                "choose another {option}, then run again: the next run finishes this one's commit first",
            ):
                yield
        except KeyboardInterrupt as exc:
            exc.committed_ahead = True  # type: ignore[attr-defined]  # for the CLI's message: kept, not redone
            raise

    @contextmanager
    def while_compacting(self) -> Iterator[None]:
        """As :meth:`until_committed`, for a compaction: each table is compacted in one commit or not at all."""
        with self.full_disk_said(
            "each table is as it was or compacted whole",
            "run trailduck compact again",
        ):
            yield

    @contextmanager
    def full_disk_said(self, outcome: str, then: str) -> Iterator[None]:
        """The one translation of a full disk (``errno`` ENOSPC or EDQUOT, or a library's error that says so:
        delta-rs keeps no errno) under the lake, or under a checkpoint kept outside it, into a
        :class:`LakeError`: ``<folder>: no space left on device; <outcome>. Free some space there or <then>``."""
        try:
            yield
        except LakeError:
            raise
        except Exception as exc:
            if not says_disk_full(exc):
                raise
            filename = getattr(exc, "filename", None)
            where = Path(filename).absolute() if isinstance(filename, str) else None
            folder, option = self.root, "--lake"
            if where is not None and not where.is_relative_to(self.root):
                folder, option = where.parent, "--state"  # the checkpoint, kept outside the lake
            code = exc.errno if isinstance(exc, OSError) and exc.errno in DISK_FULL else errno.ENOSPC
            raise LakeError(
                f"{folder}: {os.strerror(code).lower()}; {outcome}. Free some space there or "
                f"{then.format(option=option)}"
            ) from exc

    def begin_run(self, run_id: str, state_location: str) -> None:
        """Mark a run as writing, before it writes anything. The marker is removed by :meth:`end_run`.

        The marker names the checkpoint the run commits to: only that checkpoint can say whether the run
        committed, so recovery never decides from another one.
        """
        record = {"run": run_id, "state": self._as_marked(state_location)}
        self._marker_tag = self.storage.write(run_marker_key(run_id), json.dumps(record).encode())

    def prepare_commit(
        self,
        run_id: str,
        state_location: str,
        checkpoint: Checkpoint,
        records: list[dict[str, Any]],
        partitioning: Partitioning = DEFAULT_PARTITIONING,
    ) -> None:
        """Write the run's commit ahead into its marker, durably, before any table is committed: the
        checkpoint it will save (with its sequence number), the files each table's commit adds and the
        partitioning of the tables it makes if there are none. A run that dies after this is finished by
        :meth:`recover` from that record, whichever of its commits were made."""
        record = {
            "run": run_id,
            "state": self._as_marked(state_location),
            "commit": {
                "checkpoint": checkpoint.to_json(),
                "files": records,
                "partition_by": list(partitioning.keys),
            },
        }
        # Only over this run's own marker, as begin_run left it: a writer that lost the lake (its lease taken
        # over, its marker rolled back by the new writer's recovery) must not bring it back with a commit.
        if not self.storage.replace(run_marker_key(run_id), json.dumps(record).encode(), self._marker_tag):
            raise LakeError(
                f"{self.location}: this run's marker was removed by another writer that took over the lake (this "
                "one was presumed dead); this run stops without committing. Run again once the other is done"
            )

    def commit(
        self,
        run_id: str,
        sequence: int,
        records: list[dict[str, Any]],
        partitioning: Partitioning = DEFAULT_PARTITIONING,
    ) -> list[str]:
        """Commit a run's files: one commit per table that gets files, each carrying the run's sequence
        number, skipped where the table already holds it; a table there is not yet is made, partitioned by
        ``partitioning``. Returns the datasets committed now."""
        committed: list[str] = []
        for dataset in DATASETS:
            self.check_lease()  # before each commit: never one by a writer that lost the lake
            mine = [r for r in records if r["dataset"] == dataset]
            if (records or partitioning != DEFAULT_PARTITIONING) and not mine:
                # Both tables exist from the first commit on, for other engines; a lake not partitioned by
                # default gets them even from a run that found nothing, so that they keep its partitioning.
                create_table(self, dataset, partitioning)
            if mine and commit_run(self, dataset, mine, sequence, run_id, partitioning):
                committed.append(dataset)
                crashpoints.hit("table_commit")
        return committed

    def _commit_record(self, run_id: str) -> dict[str, Any] | None:
        """The commit a run wrote ahead (see :meth:`prepare_commit`), or None when it died before that."""
        try:
            record = json.loads(self.storage.read(run_marker_key(run_id)) or b"")["commit"]
        except (ValueError, KeyError, TypeError):
            return None
        return record if isinstance(record, dict) else None

    def _as_marked(self, state_location: str) -> str:
        """A checkpoint's location as a marker names it: relative to the lake when inside it, so that a marker
        still names the right checkpoint after the lake was moved or copied."""
        inside = self.storage.uri_of("")
        if not self.is_local:
            return (
                state_location[len(inside) + 1 :]
                if state_location.startswith(inside + "/")
                else state_location
            )
        path = Path(state_location)
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else state_location

    def runs_committing_to(self, state_location: str) -> set[str]:
        """The interrupted runs (their markers are still there) that commit to the checkpoint at
        ``state_location``."""
        mine = self._as_marked(state_location)
        return {run for run, marked in self.run_markers().items() if self._as_marked(marked) == mine}

    def run_markers(self) -> dict[str, str]:
        """Runs that started writing and have not finished, with the checkpoint each commits to."""
        markers: dict[str, str] = {}
        for key in self.storage.keys(RUNS, f"*{RUN_MARKER}"):
            run_id = key.rsplit("/", 1)[-1].removesuffix(RUN_MARKER)
            try:
                markers[run_id] = str(json.loads(self.storage.read(key) or b"")["state"])
            except (ValueError, KeyError, TypeError):
                markers[run_id] = ""  # unreadable: treated as belonging to no known checkpoint
        return markers

    def has_data_besides(self, runs: set[str]) -> bool:
        """Whether any Parquet file belongs to a run other than ``runs``."""
        return any(
            not is_part_of(key.rsplit("/", 1)[-1], runs)
            for d in DATASETS
            for key in self.storage.keys(d, PARQUET_FILES)
        )

    def end_run(self, run_id: str) -> None:
        self.storage.delete(run_marker_key(run_id))

    def recover(self, store: StateStore, *, discard: bool = False) -> Recovered:
        """Finish or undo what interrupted runs left behind; returns the ids of the runs finished and rolled back.

        A run whose marker is still there either wrote its commit ahead (:meth:`prepare_commit`): then it is
        finished, its tables committed where they are not yet (Delta's application transaction tells) and its
        checkpoint saved where the store holds an older one; or it did not: then none of its files is in a
        table, so they are deleted and the next run converts those objects again. (A marker of an earlier
        trailduck, whose run is in the checkpoint's list of runs, committed: only the marker goes.)
        A marker written for another checkpoint is an error, never a guess, unless ``discard`` (state rebuild)
        says that the checkpoint is to be rebuilt from the tables: then runs are finished in the tables only.
        """
        rolled_back: list[str] = []
        # An interrupted compaction of an earlier trailduck: the live partition folders hold one complete set.
        staging = self.compact_dir
        if self.is_local and staging.exists():
            shutil.rmtree(staging)
            log.warning("removed the staging area of an interrupted compaction")
        markers = self.run_markers()
        if not discard:
            for run_id, location in markers.items():
                if self._as_marked(location) != self._as_marked(store.location):
                    named = self.storage.uri_of(location) if location else "?"
                    raise StateError(
                        f"{self.location}: the interrupted run {run_id} commits to the checkpoint {named}, "
                        f"not {store.location}; pass --state {named} so it can be finished correctly"
                    )
        finished: set[str] = set()
        for run_id in sorted(markers):
            record = self._commit_record(run_id)
            if record is None:
                continue
            ahead = Checkpoint.from_json(record["checkpoint"])
            saved = store.load() if not discard else None
            if saved is not None and saved.sequence >= ahead.sequence and run_id not in saved.runs:
                # Another run committed this sequence number since: this one lost the lake (a lease taken
                # over while it was stalled) and wrote its commit ahead too late. It is rolled back below.
                log.warning("interrupted run %s was superseded by a later run; rolled back", run_id)
                continue
            partitioning = partitioning_named(record.get("partition_by", DEFAULT_PARTITIONING.keys))
            if partitioning is None:
                raise StateError(
                    f"{self.storage.uri_of(run_marker_key(run_id))}: the interrupted run {run_id} wrote its "
                    f"commit ahead for a partitioning this trailduck does not know ({record['partition_by']}); "
                    "finish it with the trailduck that started it"
                )
            self.commit(run_id, ahead.sequence, record["files"], partitioning)
            if not discard and (saved is None or saved.sequence < ahead.sequence):
                store.save(ahead)
            finished.add(run_id)
            log.warning("finished the commit of interrupted run %s", run_id)
        # (Read only when there are runs to tell apart.)
        checkpoint = store.load() if markers and not discard else None
        committed = finished | set(checkpoint.runs if checkpoint else [])
        if self.is_local:
            # Unpublished files of any run: with the lock held, no run is writing, so every one is debris (of a
            # killed run, or of a worker process that outlived it). (S3 has no unpublished files: a file there
            # has its final key at once, and the run's marker says whose it is.)
            for dataset in DATASETS:
                for key in self.storage.keys(dataset, run_tmp_parts()):
                    self.storage.delete(key)
            for key in self.storage.keys(CONTENT, temporary_name("*")):
                self.storage.delete(key)
        in_tables = self._committed_parts() if any(r not in committed for r in markers) else set()
        for run_id in markers:
            if run_id not in committed:
                mine = {key for key in in_tables if is_part_of(key.rsplit("/", 1)[-1], {run_id})}
                if mine:
                    # Never delete what a table names: something wrote this run's commit besides its marker.
                    raise StateError(
                        f"{self.location}: the interrupted run {run_id} has no commit written ahead, yet a table "
                        f"names its file {self.storage.uri_of(sorted(mine)[0])}; trailduck will not guess: look at "
                        "the tables' history (DeltaTable.history()) before running again"
                    )
                self.storage.delete(content_key(run_id))
                for dataset in DATASETS:
                    for key in self.storage.keys(dataset, run_parts(run_id)):
                        self.storage.delete(key)
                rolled_back.append(run_id)
                log.warning("rolled back the files of interrupted run %s", run_id)
            self.end_run(run_id)
        return Recovered(sorted(finished), rolled_back)

    # -- reading -------------------------------------------------------------------------------------------
    def connect(self, read_only: bool = True) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection to ``trailduck.duckdb`` with the views in it, reading this folder's files.

        Read-only by default: any number of readers (notebooks, the DuckDB CLI) can then share the file, while a
        read-write connection would keep the next ingest from refreshing the views. A read-only connection to a
        lake whose views an older trailduck made gets new ones first (see
        :func:`trailduck.lake.views.connect_for_reading`); a read-write one gets the file as it is.
        """
        return connect_for_reading(self) if read_only else self.open_database(read_only=False)

    def open_database(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """The database file as it is, views and all."""
        if read_only and not self.db_path.exists():
            raise LakeError(f"{self.db_path}: no such database; run `trailduck ingest` on this lake first")
        # The views are plain SQL over Parquet, so the file can stay in DuckDB's oldest stable storage format:
        # a newer DuckDB writing the default format makes the lake unreadable to a user's older DuckDB CLI.
        config: dict[str, str | bool | int | float | list[str]] = (
            {} if read_only else {"storage_compatibility_version": STORAGE_COMPATIBILITY}
        )
        existed = self.db_path.exists()
        try:
            return duckdb.connect(str(self.db_path), read_only=read_only, config=config)
        except duckdb.Error as exc:
            if not existed:
                # DuckDB leaves the file it failed to create (on a full disk, say), which it then refuses to open
                # ever after as "not a valid DuckDB database file": so none is left behind.
                self.db_path.unlink(missing_ok=True)
            hint = (
                "its disk is full: free some space there"
                if says_disk_full(exc)
                else "another process may hold it open for writing"
            )
            raise LakeError(f"{self.db_path}: cannot open ({exc}); {hint}") from exc

    def scratch_connection(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection for reading the Parquet files directly.

        Its spill folder is inside the lake: an in-memory DuckDB would otherwise spill into ``./.tmp`` of
        whatever directory the job runs from.
        """
        return duckdb.connect(config={"temp_directory": str(self.scratch_dir)})


def _running_pid(text: bytes) -> int | None:
    """The pid a lock file names, if that process is running."""
    try:
        pid = int(text.decode("ascii").strip())
        if pid <= 0:
            return None
        os.kill(pid, 0)
    except (ValueError, UnicodeDecodeError, ProcessLookupError):
        return None
    except PermissionError:
        pass  # running, as another user
    return pid


#: The environment variable that names the lake when a command or call names none.
LAKE_ENV = "TRAILDUCK_LAKE"
#: The lake's folder when nothing names one.
DEFAULT_LAKE = "cloudtrail-lake"


def lake_root(root: str | os.PathLike[str] | None = None) -> Path:
    """``root``, or ``$TRAILDUCK_LAKE``, or ``./cloudtrail-lake``."""
    return Path(root or os.environ.get(LAKE_ENV) or DEFAULT_LAKE)


def open_lake(
    root: str | os.PathLike[str] | None = None,
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> Lake:
    """The lake at ``root`` (a folder or ``s3://bucket/prefix``), or at ``$TRAILDUCK_LAKE``, or at
    ``./cloudtrail-lake``; ``profile``, ``region`` and ``endpoint_url`` reach a lake on S3."""
    return Lake(lake_root(root), profile=profile, region=region, endpoint_url=endpoint_url)

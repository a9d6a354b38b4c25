"""Converting on a Dask cluster (``--scheduler``): a real ``LocalCluster`` of worker processes builds the same lake
as one machine, and a worker killed mid-run leaves exactly one copy of every row."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask.config
import duckdb
import pytest
from deltalake import DeltaTable
from distributed import Client, LocalCluster, get_task_stream
from typer.testing import CliRunner

from tests.helpers import NOW, small_spec
from trailduck.cli.app import app
from trailduck.convert.decode import Limits
from trailduck.crashpoints import ENV as CRASH_ENV
from trailduck.errors import ClusterRefusedError, ConfigError, LakeError
from trailduck.ingestion import cluster as dask_cluster
from trailduck.ingestion.run import IngestOptions, IngestSummary, ingest
from trailduck.ingestion.share import Share
from trailduck.lake.folder import Lake
from trailduck.lake.layout import DATASETS, run_marker_key
from trailduck.lake.lineage import content_hashes
from trailduck.scanner.keys import parse_key
from trailduck.scanner.listing import Listed
from trailduck.scanner.locations import open_source
from trailduck.scanner.source import ObjectRef
from trailduck.synthetic.generator import Manifest, encode_log, folder_sink, log_key, write_trail

#: What the workers need to reach the suite's S3 server: they are spawned processes with an environment of their
#: own (the suite's autouse fixture sets these in this process only, per test).
_WORKER_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _cluster(workers: int, threads: int) -> LocalCluster:
    return LocalCluster(
        n_workers=workers,
        threads_per_worker=threads,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
        env=_WORKER_ENV,
    )


@pytest.fixture(scope="module")
def two_workers() -> Iterator[LocalCluster]:
    with _cluster(2, 1) as cluster:
        yield cluster


@pytest.fixture
def trail(tmp_path: Path) -> tuple[Path, Manifest]:
    root = tmp_path / "bucket"
    return root, write_trail(small_spec(files_per_day=4), folder_sink(root))


def _all_rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cursor = con.execute(
        "SELECT * REPLACE (md5(event_json) AS event_json) FROM events ORDER BY source_key, eventID"
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _rows(lake: Path) -> list[dict[str, Any]]:
    con = Lake(lake).connect(read_only=True)
    try:
        return _all_rows(con)
    finally:
        con.close()


def _checkpoint(lake: Path) -> dict[str, Any]:
    loaded = Lake(lake).state_store().load()
    assert loaded is not None
    return {k: v for k, v in loaded.to_json().items() if k != "runs"}


def _lake_files_are_the_tables(lake: Path) -> None:
    """Every Parquet file in the lake is in its table and no temporary file is left: nothing beside the commit."""
    for dataset in DATASETS:
        table = {
            Path(uri).relative_to(lake).as_posix() for uri in DeltaTable(str(lake / dataset)).file_uris()
        }
        on_disk = {p.relative_to(lake).as_posix() for p in (lake / dataset).rglob("*.parquet")}
        assert on_disk == table, dataset
    assert not list(lake.rglob("*.tmp"))


def _same_lake(summary: IngestSummary, lake: Path, clean: Path) -> None:
    assert summary.exit_code == 0
    assert _rows(lake) == _rows(clean)
    assert _checkpoint(lake) == _checkpoint(clean)
    assert content_hashes(Lake(lake)) == content_hashes(Lake(clean))
    _lake_files_are_the_tables(lake)


def test_a_cluster_builds_the_same_lake_as_one_machine(
    two_workers: LocalCluster, trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = trail
    clean = tmp_path / "clean"
    one = ingest(IngestOptions(source=str(root), lake=clean, workers=1), now=NOW)
    lake = tmp_path / "lake"
    options = IngestOptions(source=str(root), lake=lake, scheduler=two_workers.scheduler_address)
    summary = ingest(options, now=NOW)
    assert (summary.scheduler, summary.workers) == (two_workers.scheduler_address, 2)
    assert (summary.events, summary.files_converted) == (one.events, manifest.files)
    assert summary.events == manifest.events
    _same_lake(summary, lake, clean)
    # The tasks' files carry the task's number and the attempt's token: two tasks, on the two workers.
    tags = {
        m.group(1)
        for p in lake.rglob("part-*.parquet")
        if (m := re.search(r"-(t\d{4})-[0-9a-f]{8}-", p.name))
    }
    assert tags == {"t0000", "t0001"}
    again = ingest(options, now=NOW + dt.timedelta(minutes=5))
    assert again.files_new == 0 and again.exit_code == 0
    assert _rows(lake) == _rows(clean)


def test_a_file_quarantined_on_a_worker_reaches_the_checkpoint(
    two_workers: LocalCluster, trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = trail
    bad = log_key(
        "111122223333", "us-east-1", dt.datetime(2024, 3, 9, 23, 59, tzinfo=dt.UTC), "BAD0000000000000"
    )
    folder_sink(root)(bad, encode_log([{"eventID": "x"}])[:20])
    options = IngestOptions(source=str(root), lake=tmp_path / "lake", scheduler=two_workers.scheduler_address)
    summary = ingest(options, now=NOW)
    assert summary.exit_code == 3 and [f["key"] for f in summary.failures] == [bad]
    assert "truncated gzip" in summary.failures[0]["reason"]
    assert (summary.events, summary.insight_events) == (manifest.events, manifest.insight_events)


def test_tasks_running_side_by_side_in_one_worker(trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    """One worker process running two tasks at once, each on its own thread: DuckDB's connection of the pure
    Python converter is one per thread, so two conversions never share one."""
    root, _ = trail
    clean = tmp_path / "clean"
    ingest(IngestOptions(source=str(root), lake=clean, workers=1, converter="python"), now=NOW)
    with (
        _cluster(1, 2) as cluster,
        Client(cluster, set_as_default=False) as client,
        get_task_stream(client) as stream,  # the scheduler's record of every task's compute span
    ):
        options = IngestOptions(
            source=str(root), lake=tmp_path / "lake", scheduler=cluster.scheduler_address, converter="python"
        )
        summary = ingest(options, now=NOW)
    assert summary.workers == 2
    spans = [
        (span["start"], span["stop"])
        for task in stream.data
        if str(task["key"]).startswith(f"trailduck-{summary.run_id}-")
        for span in task["startstops"]
        if span["action"] == "compute"
    ]
    assert len(spans) >= 2
    assert any(a[0] < b[1] and b[0] < a[1] for a, b in itertools.combinations(spans, 2))  # two at once
    _same_lake(summary, tmp_path / "lake", clean)


def _kill_once(client: Client, point: str) -> dict[str, int]:
    """Every worker process now running dies at ``point``; the ones its nanny starts instead do not (they get
    the nanny's environment). Returns the workers' process ids."""

    def arm() -> None:  # sent by value (a bound method of os.environ would carry a copy of it)
        os.environ[CRASH_ENV] = point

    client.run(arm)
    pids: dict[str, int] = client.run(os.getpid)
    return pids


@pytest.mark.slow
@pytest.mark.parametrize("where", ["folder", "s3"])
def test_workers_killed_after_writing_their_files_give_exactly_once(
    trail: tuple[Path, Manifest], tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    """Each worker dies once its task has written every file (none published): Dask runs the task again on the
    restarted worker, under other names; the commit names the files of the answers received, and the dead
    attempts' files are deleted. The lake and checkpoint are those of a run on one machine."""
    root, manifest = trail
    clean = tmp_path / "clean"
    ingest(IngestOptions(source=str(root), lake=clean, workers=1), now=NOW)
    endpoint = request.getfixturevalue("s3_endpoint") if where == "s3" else None
    if endpoint:
        bucket = f"dask-lake-{os.getpid()}"
        request.getfixturevalue("s3_client").create_bucket(Bucket=bucket)
        lake = f"s3://{bucket}/lake"
    else:
        lake = str(tmp_path / "lake")
    with _cluster(2, 1) as cluster, Client(cluster, set_as_default=False) as client:
        before = _kill_once(client, "share_written")
        options = IngestOptions(
            source=str(root), lake=Path(lake), endpoint_url=endpoint, scheduler=cluster.scheduler_address
        )
        summary = ingest(options, now=NOW)
        after: dict[str, int] = client.run(os.getpid)
    assert set(before.values()).isdisjoint(after.values()), "no worker was killed: the test proved nothing"
    assert summary.exit_code == 0 and summary.events == manifest.events
    if not endpoint:
        _same_lake(summary, Path(lake), clean)
        return
    opened = Lake(lake, endpoint_url=endpoint)
    storage = opened.storage
    for dataset in DATASETS:
        table = DeltaTable(storage.uri_of(dataset), storage_options=storage.storage_options())
        committed = {uri.removeprefix(storage.uri_of("") + "/") for uri in table.file_uris()}
        assert set(storage.keys(dataset, "*.parquet")) == committed, dataset
    con = opened.connect(read_only=True)
    try:
        assert _all_rows(con) == _rows(clean)
    finally:
        con.close()


def test_parts_are_contiguous_and_about_equal() -> None:
    items = []
    for i, size in enumerate([10, 10, 10, 10, 50, 10, 10, 10, 10, 10, 10, 0]):
        key = log_key("111122223333", "us-east-1", dt.datetime(2024, 3, 9, 0, i, tzinfo=dt.UTC), f"X{i:015d}")
        items.append(Listed(ObjectRef(key, size), parse_key(key)))
    parts = dask_cluster.parts(items, threads=3)  # 151 bytes, well under a task's size: one part per thread
    assert [item for part in parts for item in part] == items
    assert [sum(i.ref.size for i in part) for part in parts] == [40, 60, 50]
    many = dask_cluster.parts(items, threads=100)
    assert len(many) >= 10 and all(many) and [i for part in many for i in part] == items  # no empty part
    assert dask_cluster.parts([], threads=3) == []


def test_a_scheduler_that_does_not_answer_is_a_usage_error(
    tmp_path: Path, trail: tuple[Path, Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = trail
    with socket.socket() as sock:  # a port nothing listens on: taken, then let go
        sock.bind(("127.0.0.1", 0))
        nobody = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "1s")
    import dask.config

    dask.config.refresh()
    try:
        with pytest.raises(ConfigError, match="no Dask scheduler answers there"):
            ingest(
                IngestOptions(source=str(root), lake=tmp_path / "lake", scheduler=nobody),
                now=NOW,
            )
        assert not (tmp_path / "lake").exists()  # said before anything was listed or created
        runner = CliRunner()
        # From Dask's own variable, as a scheduler's address is usually given to its clients.
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", nobody)
        result = runner.invoke(app, ["ingest", str(root), "--lake", str(tmp_path / "lake")])
        assert result.exit_code == 2, result.output
        assert "no Dask scheduler answers there" in result.output and "Traceback" not in result.output
        result = runner.invoke(app, ["ingest", str(root), "--lake", str(tmp_path / "lake"), "--workers", "2"])
        assert result.exit_code == 2 and "give one or the other" in result.output
    finally:
        monkeypatch.undo()
        dask.config.refresh()


class _Answers:
    """What a cluster's workers answer about themselves (the one call of :func:`_check_workers`)."""

    def __init__(self, answers: dict[str, tuple[str, bool, str | None]]) -> None:
        self.answers = answers

    def run(self, fn: Any, *args: Any) -> dict[str, tuple[str, bool, str | None]]:
        return self.answers


def test_what_a_worker_says_of_itself(trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    """A worker proves it sees the lake by reading this run's marker, and the trail by reading an object."""
    root, manifest = trail
    lake = Lake(tmp_path / "lake")
    lake.begin_run("r1", "state.json")
    source = open_source(str(root))
    key = next(iter(manifest.records_by_key))
    here = dask_cluster._version()
    assert dask_cluster._worker_facts(lake.storage, run_marker_key("r1"), source, key) == (here, True, None)
    _, sees, error = dask_cluster._worker_facts(lake.storage, run_marker_key("r2"), source, key + ".nope")
    assert not sees and error and "nope" in error


def test_workers_without_the_lake_the_trail_or_with_another_version_are_refused(
    trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = trail
    key = next(iter(manifest.records_by_key))
    template = Share(
        storage=Lake(tmp_path).storage,
        run_id="r1",
        tag="",
        source=open_source(str(root)),
        items=[Listed(ObjectRef(key, 10), parse_key(key))],
        quarantined=frozenset(),
        keep_event_json=True,
        limits=Limits(),
        concurrency=1,
        buffer_bytes=1 << 20,
    )
    here = dask_cluster._version()
    dask_cluster._check_workers(_Answers({"tcp://a:1": (here, True, None)}), template)
    with pytest.raises(ConfigError, match=r"cannot see this run's files in the lake .* put the lake on S3"):
        dask_cluster._check_workers(_Answers({"tcp://a:1": (here, False, None)}), template)
    with pytest.raises(ConfigError, match=r"cannot read the trail \(gone\)"):
        dask_cluster._check_workers(_Answers({"tcp://a:1": (here, True, "gone")}), template)
    with pytest.raises(ConfigError, match=r"runs trailduck 0\.0\.1, this machine"):
        dask_cluster._check_workers(_Answers({"tcp://a:1": ("0.0.1", True, None)}), template)


def test_workers_refused_after_the_run_began_leave_no_run_behind(
    two_workers: LocalCluster, trail: tuple[Path, Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers are checked once the run's marker is written (they prove they see the lake by reading it); a
    refusal then (exit 2) ends the run, so the next one has nothing to roll back. A worker on another machine
    without the lake cannot be made here: the check's verdict is."""
    root, _ = trail
    lake = tmp_path / "lake"

    def refuse(client: object, template: object) -> None:
        raise ClusterRefusedError("Dask worker tcp://elsewhere:1 cannot see this run's files in the lake")

    monkeypatch.setattr(dask_cluster, "_check_workers", refuse)
    options = IngestOptions(source=str(root), lake=lake, scheduler=two_workers.scheduler_address)
    with pytest.raises(ConfigError, match="cannot see this run's files"):
        ingest(options, now=NOW)
    assert Lake(lake).run_markers() == {}
    monkeypatch.undo()
    summary = ingest(options, now=NOW)
    assert summary.exit_code == 0 and summary.rolled_back_runs == []


@pytest.mark.slow
def test_a_task_that_fails_past_dasks_allowed_failures_commits_nothing(
    trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    """With no failure allowed, a worker that dies fails the run: nothing committed, no file left; the next run
    gives the clean lake. One worker of one thread: the small trail is one task, so nothing else runs on."""
    root, _ = trail
    clean = tmp_path / "clean"
    ingest(IngestOptions(source=str(root), lake=clean, workers=1), now=NOW)
    lake = tmp_path / "lake"
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        _cluster(1, 1) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        _kill_once(client, "share_written")
        options = IngestOptions(source=str(root), lake=lake, scheduler=cluster.scheduler_address)
        with pytest.raises(LakeError, match=r"the Dask cluster failed the run .*nothing was committed"):
            ingest(options, now=NOW)
        assert not list(lake.rglob("*.parquet")) and not list(lake.rglob("*.tmp"))
        summary = ingest(options, now=NOW)  # the clean lake's time: the checkpoints compare whole
    assert summary.exit_code == 0 and summary.rolled_back_runs
    _same_lake(summary, lake, clean)

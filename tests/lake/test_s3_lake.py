"""A lake on S3 (``--lake s3://bucket/prefix``), against the suite's S3 server: the same tables, commits,
recovery and readers as a local lake, with the checkpoint and the single-writer lease as objects."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from typer.testing import CliRunner

from tests.helpers import NOW, expected, facts_disagreeing, small_spec
from trailduck.analysis.query import run_query
from trailduck.cli.app import app
from trailduck.crashpoints import ENV
from trailduck.errors import ConfigError, LakeError
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.lake import table as table_module
from trailduck.lake.compact import compact
from trailduck.lake.folder import Lake
from trailduck.lake.lease import S3Lease
from trailduck.lake.table import current_files
from trailduck.synthetic.generator import Manifest, s3_sink, write_trail

runner = CliRunner()
_lakes = itertools.count()


@pytest.fixture
def lake_uri(s3_client: Any) -> str:
    name = f"lake-{next(_lakes)}-{os.getpid()}"
    s3_client.create_bucket(Bucket=name)
    return f"s3://{name}/cloudtrail-lake"


def options(source: str, lake: str, endpoint: str, **kw: Any) -> IngestOptions:
    return IngestOptions(source=source, lake=Path(lake), endpoint_url=endpoint, **kw)


def open_s3(lake: str, endpoint: str) -> Lake:
    return Lake(lake, endpoint_url=endpoint)


def stored_rows(lake: Lake) -> Counter[tuple[str, str]]:
    _, rows = run_query(lake, "SELECT source_key, event_json::VARCHAR FROM events")
    return Counter((key, json.dumps(json.loads(ej), sort_keys=True)) for key, ej in rows)


def delta(lake: Lake, dataset: str = "events") -> DeltaTable:
    return DeltaTable(lake.storage.uri_of(dataset), storage_options=lake.storage.storage_options())


def delta_rows(lake: Lake) -> int:
    try:
        table = delta(lake)
    except TableNotFoundError:  # no table yet
        return 0
    return table.to_pyarrow_table(columns=["eventID"]).num_rows


@pytest.mark.parametrize("partition_by", [None, "date"])
def test_an_s3_trail_into_an_s3_lake_loses_nothing_and_reads_like_a_local_one(
    s3_trail: tuple[str, Manifest],
    lake_uri: str,
    s3_endpoint: str,
    s3_client: Any,
    tmp_path: Path,
    partition_by: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket, manifest = s3_trail
    source = f"s3://{bucket}"
    read: list[str] = []
    real = table_module.read_facts
    monkeypatch.setattr(table_module, "read_facts", lambda lake, key: read.append(key) or real(lake, key))
    summary = ingest(options(source, lake_uri, s3_endpoint, partition_by=partition_by), now=NOW)
    assert summary.lake == lake_uri and summary.events == manifest.events
    lake = open_s3(lake_uri, s3_endpoint)
    assert stored_rows(lake) == expected(manifest)
    # Every column as a local lake of the same trail has it (a lake of the default partitioning).
    local = tmp_path / "local"
    ingest(IngestOptions(source=source, lake=local, endpoint_url=s3_endpoint), now=NOW)
    query = "SELECT * FROM events ORDER BY eventID, source_key"
    s3_columns, s3_rows = run_query(lake, query)
    local_columns, local_rows = run_query(Lake(local), query)
    assert s3_columns == local_columns and s3_rows == local_rows
    # The checkpoint is an object of the lake, and no local folder was made for it.
    assert lake.storage.read("_trailduck/state.json") is not None
    assert not Path("s3:").exists()
    # A second run writes nothing.
    version = delta(lake).version()
    again = ingest(options(source, lake_uri, s3_endpoint), now=NOW)
    assert again.files_new == 0 and again.parquet_files_written == 0
    assert delta(lake).version() == version
    assert delta(lake).metadata().partition_columns == (
        ["date"] if partition_by else ["account", "region", "date"]
    )
    if partition_by:
        # More deliveries, a second file a day, then compaction: each day sorted into one file on S3.
        more = write_trail(small_spec(seed=99, insights=False, digests=False), s3_sink(s3_client, bucket))
        ingest(options(source, lake_uri, s3_endpoint), now=NOW + dt.timedelta(minutes=1))
        rows = stored_rows(lake)
        assert rows == expected(manifest) + expected(more)
        assert compact(lake, now=NOW + dt.timedelta(hours=1)).partitions_compacted == 3
        files = current_files(lake, "events")
        assert stored_rows(lake) == rows and len(files) == len({f.partition["date"] for f in files})
    # What the commits say of each file is what the file says, though no run or compaction read one back.
    assert read == []
    monkeypatch.setattr(table_module, "read_facts", real)
    assert facts_disagreeing(lake) == [] and facts_disagreeing(lake, "insights") == []


def test_independent_readers_of_an_s3_lake_see_what_trailduck_sees(
    s3_trail: tuple[str, Manifest], lake_uri: str, s3_endpoint: str
) -> None:
    bucket, _ = s3_trail
    ingest(options(f"s3://{bucket}", lake_uri, s3_endpoint), now=NOW)
    lake = open_s3(lake_uri, s3_endpoint)
    _, rows = run_query(lake, "SELECT eventID FROM events")
    sql = Counter(r[0] for r in rows)
    assert Counter(delta(lake).to_pyarrow_table(columns=["eventID"])["eventID"].to_pylist()) == sql
    frame = pl.scan_delta(lake.storage.uri_of("events"), storage_options=lake.storage.storage_options())
    assert Counter(frame.select("eventID").collect()["eventID"].to_list()) == sql


def _ingest_argv(source: str, lake: str, endpoint: str) -> list[str]:
    """The real command, as cron runs it, against the suite's S3 server."""
    command = ["ingest", source, "--lake", lake, "--endpoint-url", endpoint, "--json", "--no-progress"]
    return [sys.executable, "-m", "trailduck", *command]


def _cli(
    source: str, lake: str, endpoint: str, crash_at: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if crash_at:
        env[ENV] = crash_at
    return subprocess.run(
        _ingest_argv(source, lake, endpoint),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "point",
    [
        "listing",
        "fetch:3",
        "convert:2",
        "parquet_written",
        "commit_ahead",
        "table_commit",
        "table_commit:2",
        "state_commit",
    ],
)
def test_killed_on_an_s3_lake_then_rerun_gives_exactly_the_clean_lake(
    s3_trail: tuple[str, Manifest], lake_uri: str, s3_endpoint: str, point: str
) -> None:
    bucket, manifest = s3_trail
    crashed = _cli(f"s3://{bucket}", lake_uri, s3_endpoint, crash_at=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    lake = open_s3(lake_uri, s3_endpoint)
    # Between the kill and the rerun an independent reader sees the whole run or none of it.
    assert delta_rows(lake) in (0, manifest.events)
    rerun = _cli(f"s3://{bucket}", lake_uri, s3_endpoint)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert bool(summary["finished_runs"]) == point.startswith(
        ("commit_ahead", "table_commit", "state_commit")
    )
    assert stored_rows(lake) == expected(manifest) and delta_rows(lake) == manifest.events
    assert not lake.storage.keys("_trailduck/runs")
    # Only the table's files are left: a rolled-back run's were deleted.
    files = {f"events/{p}" for p in delta(lake).get_add_actions(flatten=True)["path"].to_pylist()}
    assert set(lake.storage.keys("events", "*.parquet")) == files
    assert json.loads(_cli(f"s3://{bucket}", lake_uri, s3_endpoint).stdout)["files_new"] == 0


def test_a_second_writer_is_refused_while_the_lease_is_held(
    s3_trail: tuple[str, Manifest], lake_uri: str, s3_endpoint: str
) -> None:
    bucket, manifest = s3_trail
    lake = open_s3(lake_uri, s3_endpoint)
    storage: Any = lake.storage
    lease = S3Lease(storage.client, storage.bucket, storage.key("_trailduck/lease.json"))
    lease.acquire()
    try:
        with pytest.raises(LakeError, match="lease"):
            ingest(options(f"s3://{bucket}", lake_uri, s3_endpoint), now=NOW)
        assert not storage.keys("events")
    finally:
        lease.release()
    assert ingest(options(f"s3://{bucket}", lake_uri, s3_endpoint), now=NOW).events == manifest.events


def test_a_prefix_that_holds_other_things_is_never_written(
    s3_trail: tuple[str, Manifest], s3_client: Any, lake_uri: str, s3_endpoint: str
) -> None:
    bucket, _ = s3_trail
    lake_bucket = lake_uri.split("/")[2]
    s3_client.put_object(Bucket=lake_bucket, Key="cloudtrail-lake/reports/q3.pdf", Body=b"%PDF")
    with pytest.raises(ConfigError, match="not a trailduck lake"):
        ingest(options(f"s3://{bucket}", lake_uri, s3_endpoint), now=NOW)
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=lake_bucket)["Contents"]]
    assert keys == ["cloudtrail-lake/reports/q3.pdf"]


@pytest.mark.parametrize(
    ("lake", "code", "says"),
    [
        ("s3://", 2, "--lake s3://: no bucket name; write s3://bucket or s3://bucket/prefix"),
        ("s3://no-such-lake-bucket/x", 1, "NoSuchBucket listing s3://no-such-lake-bucket/x: no such bucket"),
    ],
)
def test_a_bad_s3_lake_is_said_and_nothing_is_made(
    s3_trail: tuple[str, Manifest], s3_endpoint: str, lake: str, code: int, says: str, tmp_path: Path
) -> None:
    bucket, _ = s3_trail
    os.chdir(tmp_path)
    result = runner.invoke(
        app, ["ingest", f"s3://{bucket}", "--lake", lake, "--endpoint-url", s3_endpoint, "--no-progress"]
    )
    assert result.exit_code == code, result.output
    assert says in result.stderr and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_compacting_an_s3_lake_while_a_reader_counts(
    s3_client: Any, lake_uri: str, s3_endpoint: str, tmp_path: Path
) -> None:
    from tests.helpers import small_spec
    from trailduck.synthetic.generator import s3_sink, write_trail

    trail = f"trail-compact-{os.getpid()}"
    s3_client.create_bucket(Bucket=trail)
    total = 0
    for seed in (1, 2, 3):  # three runs: partitions of three files
        total += write_trail(
            small_spec(seed=seed, insights=False, digests=False), s3_sink(s3_client, trail)
        ).events
        ingest(options(f"s3://{trail}", lake_uri, s3_endpoint), now=NOW)
    lake = open_s3(lake_uri, s3_endpoint)
    seen: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.append(run_query(lake, "SELECT count(*) FROM events")[1][0][0])
            seen.append(delta_rows(lake))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        summary = compact(open_s3(lake_uri, s3_endpoint))
    finally:
        stop.set()
        thread.join()
    assert summary.partitions_compacted > 0 and summary.files_before > summary.files_after
    assert len(seen) > 2 and set(seen) == {total}


def test_a_lake_bucket_that_refuses_writes_fails_before_converting_anything(
    s3_trail: tuple[str, Manifest], s3_client: Any, lake_uri: str, s3_endpoint: str
) -> None:
    bucket, _ = s3_trail
    lake_bucket = lake_uri.split("/")[2]
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{lake_bucket}/*",
    }
    s3_client.put_bucket_policy(
        Bucket=lake_bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny]})
    )
    try:
        result = runner.invoke(
            app,
            ["ingest", f"s3://{bucket}", "--lake", lake_uri, "--endpoint-url", s3_endpoint, "--no-progress"],
        )
    finally:
        s3_client.delete_bucket_policy(Bucket=lake_bucket)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        f"needs s3:PutObject on arn:aws:s3:::{lake_bucket}/cloudtrail-lake/_trailduck/lease.json"
        in result.stderr
    )
    assert s3_client.list_objects_v2(Bucket=lake_bucket).get("KeyCount", 0) == 0


def test_a_lake_bucket_in_another_region_is_found_there(
    s3_trail: tuple[str, Manifest], s3_client: Any, s3_endpoint: str
) -> None:
    bucket, manifest = s3_trail
    name = f"lake-eu-{os.getpid()}"
    s3_client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    lake_uri = f"s3://{name}/lake"
    summary = ingest(options(f"s3://{bucket}", lake_uri, s3_endpoint, region="us-east-1"), now=NOW)
    lake = Lake(lake_uri, region="us-east-1", endpoint_url=s3_endpoint)
    assert lake.storage.storage_options()["AWS_REGION"] == "eu-west-1"  # the bucket's, not the one asked
    assert summary.events == manifest.events and delta_rows(lake) == manifest.events


def test_worker_processes_write_to_an_s3_lake(
    s3_trail: tuple[str, Manifest], lake_uri: str, s3_endpoint: str
) -> None:
    """The lake's storage goes to each worker process by its settings (a boto3 client does not pickle)."""
    bucket, manifest = s3_trail
    summary = ingest(options(f"s3://{bucket}", lake_uri, s3_endpoint, workers=2), now=NOW)
    assert summary.workers == 2 and summary.events == manifest.events
    lake = open_s3(lake_uri, s3_endpoint)
    assert stored_rows(lake) == expected(manifest)


def test_reading_a_prefix_without_a_lake_says_so(s3_client: Any, lake_uri: str, s3_endpoint: str) -> None:
    result = runner.invoke(
        app, ["sql", "SELECT count(*) FROM events", "--lake", lake_uri, "--endpoint-url", s3_endpoint]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        f"{lake_uri}: no lake there; run `trailduck ingest SOURCE --lake {lake_uri}` first" in result.stderr
    )


def test_verify_keeps_its_verdicts_in_an_s3_lake(
    s3_trail: tuple[str, Manifest], lake_uri: str, s3_endpoint: str, tmp_path: Path
) -> None:
    bucket, manifest = s3_trail
    ingest(options(f"s3://{bucket}", lake_uri, s3_endpoint), now=NOW)
    assert manifest.signing_key is not None
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(manifest.signing_key.public_key_list()))
    command = ["verify", f"s3://{bucket}", "--public-keys", str(keys), "--lake", lake_uri, "--json"]
    result = runner.invoke(app, [*command, "--endpoint-url", s3_endpoint])
    assert result.exit_code in (0, 4), result.output
    verdicts = json.loads(result.stdout)
    lake = open_s3(lake_uri, s3_endpoint)
    # The lake's content hashes were there to compare with (on S3, not in a local folder).
    from trailduck.integrity.verify import lake_hashes

    assert len(lake_hashes(lake) or {}) == manifest.files
    assert lake.storage.read("_trailduck/integrity/log_files.parquet") is not None
    _, rows = run_query(lake, "SELECT status, count(*) FROM integrity GROUP BY ALL ORDER BY ALL")
    assert rows == sorted(Counter(e["status"] for e in verdicts["log_files"]).items())
    _, rows = run_query(lake, "SELECT count(*) FROM integrity_digests")
    assert rows == [(len(verdicts["digests"]),)]


def test_a_corrupt_checkpoint_on_s3_is_rebuilt_from_the_lake(
    s3_trail: tuple[str, Manifest], lake_uri: str, s3_endpoint: str
) -> None:
    bucket, manifest = s3_trail
    ingest(options(f"s3://{bucket}", lake_uri, s3_endpoint), now=NOW)
    lake = open_s3(lake_uri, s3_endpoint)
    lake.storage.write("_trailduck/state.json", b"{not json")
    refused = _cli(f"s3://{bucket}", lake_uri, s3_endpoint)
    assert refused.returncode == 1 and "trailduck state rebuild" in refused.stderr
    rebuilt = runner.invoke(app, ["state", "rebuild", "--lake", lake_uri, "--endpoint-url", s3_endpoint])
    assert rebuilt.exit_code == 0, rebuilt.output
    aside = [k for k in lake.storage.keys("_trailduck", "state.json.replaced-*")]
    assert len(aside) == 1 and lake.storage.read(aside[0]) == b"{not json"
    again = json.loads(_cli(f"s3://{bucket}", lake_uri, s3_endpoint).stdout)
    assert again["files_new"] == 0 and stored_rows(lake) == expected(manifest)


def _popen(source: str, lake: str, endpoint: str, env_extra: dict[str, str]) -> subprocess.Popen[str]:
    env = {**{k: v for k, v in os.environ.items() if k != ENV}, **env_extra}
    return subprocess.Popen(
        _ingest_argv(source, lake, endpoint),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_two_writers_at_once_one_is_refused_and_nothing_is_lost(
    s3_trail: tuple[str, Manifest], lake_uri: str, s3_endpoint: str
) -> None:
    bucket, manifest = s3_trail
    # The first writer pauses itself (SIGSTOP) mid-run, holding the lease: the second starts then.
    first = _popen(f"s3://{bucket}", lake_uri, s3_endpoint, {ENV: "convert:2:STOP"})
    try:
        _, status = os.waitpid(first.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), status
        second = _cli(f"s3://{bucket}", lake_uri, s3_endpoint)
        assert second.returncode == 1, second.stderr
        assert "another trailduck process" in second.stderr and "is writing to this lake" in second.stderr
        first.send_signal(signal.SIGCONT)
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    assert json.loads(out)["events"] == manifest.events
    lake = open_s3(lake_uri, s3_endpoint)
    assert stored_rows(lake) == expected(manifest) and not lake.storage.keys("_trailduck", "lease.json")


@pytest.mark.slow
def test_random_kills_on_an_s3_lake_always_end_with_exactly_the_clean_runs_events(
    s3_client: Any, lake_uri: str, s3_endpoint: str
) -> None:
    """Killed at random moments: each run at a point and count drawn at random (seeded, so a failure can be
    replayed), never after a guessed time; between kills a Delta reader sees whole runs only."""
    import random

    from tests.helpers import small_spec
    from trailduck.synthetic.generator import s3_sink, write_trail

    trail = f"trail-random-{os.getpid()}"
    s3_client.create_bucket(Bucket=trail)
    manifest = write_trail(small_spec(days=2, files_per_day=4), s3_sink(s3_client, trail))
    rng = random.Random(1717)
    lake = open_s3(lake_uri, s3_endpoint)
    points = ["fetch", "convert", "parquet_written", "commit_ahead", "table_commit", "state_commit"]
    for _ in range(4):
        point = rng.choice(points)
        spec = f"{point}:{rng.randint(1, 6)}" if point in ("fetch", "convert") else point
        killed = _cli(f"s3://{trail}", lake_uri, s3_endpoint, crash_at=spec)
        if killed.returncode == 0:  # the run ended before its point came (a late count): a clean run
            assert stored_rows(lake) == expected(manifest)
            continue
        assert killed.returncode == -signal.SIGKILL, (spec, killed.stderr)
        assert delta_rows(lake) in (0, manifest.events), spec
    done = _cli(f"s3://{trail}", lake_uri, s3_endpoint)
    assert done.returncode == 0, done.stderr
    assert stored_rows(lake) == expected(manifest) and delta_rows(lake) == manifest.events


def test_a_writer_whose_marker_was_taken_away_never_writes_its_commit_ahead(
    s3_client: Any, lake_uri: str, s3_endpoint: str
) -> None:
    """A writer stalled past its lease: the new writer's recovery rolled its marker back (or replaced it). Its
    commit ahead, written late, must not bring the marker back: the next recovery would commit it."""
    from trailduck.state.checkpoint import Checkpoint

    lake = open_s3(lake_uri, s3_endpoint)
    location = lake.state_store().location
    lake.begin_run("20000101T000000Z-1a7e0000", location)
    lake.storage.write("_trailduck/runs/20000101T000000Z-1a7e0000.run", b'{"run": "replaced"}')
    with pytest.raises(LakeError, match="marker was removed by another writer"):
        lake.prepare_commit("20000101T000000Z-1a7e0000", location, Checkpoint(sequence=1), [])
    assert lake.storage.read("_trailduck/runs/20000101T000000Z-1a7e0000.run") == b'{"run": "replaced"}'
    lake.begin_run("20000101T000000Z-2b7e0000", location)
    lake.end_run("20000101T000000Z-2b7e0000")  # rolled back by someone else: gone
    with pytest.raises(LakeError, match="marker was removed by another writer"):
        lake.prepare_commit("20000101T000000Z-2b7e0000", location, Checkpoint(sequence=1), [])
    assert lake.storage.read("_trailduck/runs/20000101T000000Z-2b7e0000.run") is None


def test_footers_of_an_s3_lakes_files_are_read_at_once_in_order(
    s3_trail: tuple[str, Manifest], lake_uri: str, s3_endpoint: str
) -> None:
    """The commit reads each new file's size and footer (its statistics); on S3 that is a few round trips a file,
    so they are read several at once, through a proxy that delays every request as a real endpoint would."""
    from tests import faultproxy
    from trailduck.lake.table import FOOTER_READS, add_record, add_records

    bucket, _ = s3_trail
    ingest(options(f"s3://{bucket}", lake_uri, s3_endpoint), now=NOW)
    keys = [f.path for f in current_files(open_s3(lake_uri, s3_endpoint), "events")]
    assert len(keys) > 2
    one_by_one = [add_record(open_s3(lake_uri, s3_endpoint), key) for key in keys]
    state, url, server = faultproxy.start(s3_endpoint, delay=0.05)
    try:
        state.reset_counts()
        assert add_record(open_s3(lake_uri, url), keys[0]) == one_by_one[0]
        assert add_records(open_s3(lake_uri, url), keys) == one_by_one  # the same records, in order
        assert 1 < state.peak_active <= FOOTER_READS
    finally:
        server.shutdown()

"""Worker processes: the same lake as one process, and a dead worker commits nothing."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import NOW, lake_snapshot, query, small_spec
from trailduck.errors import LakeError
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.ingestion.workers import WorkPool, worker_count
from trailduck.lake.folder import Lake
from trailduck.lake.lineage import content_hashes
from trailduck.scanner.keys import parse_key
from trailduck.scanner.listing import Listed
from trailduck.scanner.locations import open_source
from trailduck.scanner.s3 import S3Source
from trailduck.scanner.source import ObjectRef
from trailduck.synthetic.generator import Manifest, encode_log, folder_sink, log_key, write_trail


def _listed(sizes: list[int]) -> list[Listed]:
    items = []
    for i, size in enumerate(sizes):
        key = log_key("111122223333", "us-east-1", dt.datetime(2024, 3, 9, 0, i, tzinfo=dt.UTC), f"X{i:015d}")
        items.append(Listed(ObjectRef(key, size), parse_key(key)))
    return items


def test_workers_take_contiguous_fair_parts_from_the_back() -> None:
    work = _listed([10, 10, 10, 10, 50, 10, 10, 10, 10, 10, 10])
    pool = WorkPool(work, 3)
    front = [pool.take(), pool.take()]  # this process started first
    first = pool.tail(1)  # a third of what is left: 130 / 3
    second = pool.tail(2)  # half of what is left then, 90 / 2, without cutting the 50 in two
    rest = list(iter(pool.take, None))
    assert first is not None and second is not None
    assert front + rest + second + first == work  # contiguous, in order, nothing lost or repeated
    assert [sum(i.ref.size for i in part) for part in (first, second, front + rest)] == [40, 20, 90]
    assert pool.close() == {1, 2} and pool.tail(3) is None  # ready too late: nothing left for it
    retries = WorkPool(_listed([0, 0, 0, 0]), 2)  # retries of unknown size count as one byte each
    assert len(retries.tail(1) or []) == 2
    assert WorkPool([], 2).tail(1) == []


@pytest.fixture
def workers_take_part(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process waits until every worker has its part before converting, as happens on a large run; on the
    small trails here it would otherwise often finish the work before a worker has started."""
    take = WorkPool.take

    def patient(pool: WorkPool) -> Listed | None:
        deadline = time.monotonic() + 60
        while len(pool.served) < pool.workers and time.monotonic() < deadline:
            time.sleep(0.01)
        return take(pool)

    monkeypatch.setattr(WorkPool, "take", patient)


def _events(lake: Path) -> list[tuple[Any, ...]]:
    return query(lake, "SELECT source_key, eventID, md5(event_json::VARCHAR) FROM events ORDER BY ALL")


@pytest.fixture
def trail(tmp_path: Path) -> tuple[Path, Manifest]:
    root = tmp_path / "bucket"
    return root, write_trail(small_spec(), folder_sink(root))


@pytest.mark.usefixtures("workers_take_part")
def test_two_workers_build_the_same_lake_as_one(trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, manifest = trail
    one = ingest(IngestOptions(source=str(root), lake=tmp_path / "one", workers=1), now=NOW)
    two = ingest(IngestOptions(source=str(root), lake=tmp_path / "two", workers=2), now=NOW)
    assert (one.workers, two.workers) == (1, 2)
    assert two.exit_code == 0 and two.events == one.events == manifest.events
    assert two.files_converted == one.files_converted == manifest.files
    assert _events(tmp_path / "two") == _events(tmp_path / "one")
    # Only where the two shares meet may a partition get a second file.
    assert one.parquet_files_written <= two.parquet_files_written <= one.parquet_files_written + 1
    assert not list((tmp_path / "two").rglob("*.tmp"))
    # This process converted one part and the worker the other.
    writers = {
        m.group(1) for p in (tmp_path / "two").rglob("part-*.parquet") if (m := re.search(r"-(w\d)-", p.name))
    }
    assert writers == {"w0", "w1"}
    # Each worker hashes what it converted, for `verify --lake`: the same as one process.
    hashes = content_hashes(Lake(tmp_path / "two"))
    assert hashes == content_hashes(Lake(tmp_path / "one")) and len(hashes) == manifest.files
    key = next(iter(hashes))
    assert hashes[key] == hashlib.sha256(gzip.decompress((root / key).read_bytes())).hexdigest()
    again = ingest(IngestOptions(source=str(root), lake=tmp_path / "two", workers=2), now=NOW)
    assert again.files_new == 0 and _events(tmp_path / "two") == _events(tmp_path / "one")


@pytest.mark.usefixtures("workers_take_part")
def test_workers_from_s3_reopen_the_source(
    s3_endpoint: str, s3_trail: tuple[str, Manifest], tmp_path: Path
) -> None:
    bucket, manifest = s3_trail
    options = IngestOptions(
        source=f"s3://{bucket}", lake=tmp_path / "lake", workers=2, endpoint_url=s3_endpoint
    )
    summary = ingest(options, now=NOW)
    assert summary.workers == 2 and summary.exit_code == 0
    assert (summary.events, summary.insight_events) == (manifest.events, manifest.insight_events)


def test_a_source_made_from_a_callers_client_stays_in_process(s3_client: Any, bucket: str) -> None:
    """A client cannot cross processes, and what made it is unknown: that run converts in this process."""
    source = S3Source(s3_client, bucket)
    with pytest.raises(TypeError):
        pickle.dumps(source)
    assert worker_count(2, _listed([1 << 30]), source) == 1
    reopened = pickle.loads(pickle.dumps(open_source(f"s3://{bucket}", endpoint_url="http://127.0.0.1:1")))
    assert isinstance(reopened, S3Source) and reopened.client.meta.endpoint_url == "http://127.0.0.1:1"


def test_auto_starts_workers_only_for_large_runs(tmp_path: Path) -> None:
    source = open_source(str(tmp_path))
    assert worker_count(None, _listed([1 << 20] * 4), source) == 1
    assert worker_count(None, _listed([64 << 20] * 4), source) >= 1  # one per core: 1 on a 1-core machine
    assert worker_count(3, _listed([1]), source) == 3


@pytest.mark.usefixtures("workers_take_part")
def test_a_quarantined_file_in_a_worker_reaches_the_checkpoint(
    trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = trail
    bad = log_key(
        "111122223333", "us-east-1", dt.datetime(2024, 3, 9, 23, 59, tzinfo=dt.UTC), "BAD0000000000000"
    )
    folder_sink(root)(bad, encode_log([{"eventID": "x"}])[:20])
    summary = ingest(IngestOptions(source=str(root), lake=tmp_path / "lake", workers=2), now=NOW)
    assert summary.exit_code == 3 and [f["key"] for f in summary.failures] == [bad]
    assert "truncated gzip" in summary.failures[0]["reason"]
    assert (summary.events, summary.insight_events) == (manifest.events, manifest.insight_events)


@pytest.mark.usefixtures("workers_take_part")
def test_a_killed_worker_fails_the_run_and_commits_nothing(
    trail: tuple[Path, Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = trail
    lake = tmp_path / "lake"
    clean = tmp_path / "clean"
    ingest(IngestOptions(source=str(root), lake=clean, workers=1), now=NOW)
    # Read by the worker, which inherits the environment; only a worker process passes this point.
    monkeypatch.setenv("TRAILDUCK_CRASH_AT", "worker:3")
    with pytest.raises(LakeError, match="killed by signal 9"):
        ingest(IngestOptions(source=str(root), lake=lake, workers=2), now=NOW)
    assert not list(lake.rglob("*.parquet")) and not list(lake.rglob("*.tmp"))
    monkeypatch.delenv("TRAILDUCK_CRASH_AT")
    later = NOW + dt.timedelta(minutes=5)
    summary = ingest(IngestOptions(source=str(root), lake=lake, workers=2), now=later)
    assert summary.exit_code == 0
    assert lake_snapshot(lake)["rows"] == lake_snapshot(clean)["rows"]


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_workers_die_with_a_killed_ingest(tmp_path: Path) -> None:
    """Two things end an orphaned worker: its next progress frame meets a closed pipe, and Linux's
    parent-death signal; either alone passes this test, which fails only if both are gone."""
    root = tmp_path / "bucket"
    write_trail(small_spec(files_per_day=6, events_per_file=(800, 1200)), folder_sink(root))
    lake = tmp_path / "lake"
    cmd = [
        sys.executable,
        "-m",
        "trailduck",
        "ingest",
        str(root),
        "--lake",
        str(lake),
        "--workers",
        "3",
    ]  # this process and two workers
    env = {k: v for k, v in os.environ.items() if k != "TRAILDUCK_CRASH_AT"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.05)
    assert len(workers) == 2, "the workers never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{w}") for w in workers) and time.monotonic() < deadline:
        for w in workers:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(w, os.WNOHANG)  # not our children: only reaped if the init here is us
        time.sleep(0.05)
    alive = [w for w in workers if _running(w)]
    assert not alive, f"worker processes {alive} outlived their parent"
    # And the next run cleans whatever they left and converts everything exactly once.
    summary = ingest(IngestOptions(source=str(root), lake=lake, workers=1), now=NOW)
    assert summary.exit_code == 0 and not list(lake.rglob("*.tmp"))


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, only not reaped yet
    except OSError:
        return False


class _CountingSource:
    """A folder stand-in that counts reads, to watch how far fetching runs ahead of conversion."""

    uri = "counting"

    def __init__(self, together: int = 0) -> None:
        self.started = 0
        self._lock = (
            threading.Lock()
        )  # reads run on several threads: no count lost, no read let through twice
        # The first ``together`` reads each wait until that many are running at once (or fail after 10 s).
        self.gate = threading.Barrier(together, timeout=10) if together else None

    def read(self, key: str) -> bytes:
        with self._lock:
            self.started += 1
            gated = self.gate is not None and self.started <= self.gate.parties
        if gated:
            assert self.gate is not None
            self.gate.wait()
        return encode_log([{"eventID": key}])


def test_fetching_ahead_is_bounded_by_count_and_by_bytes() -> None:
    from trailduck.convert.decode import Limits
    from trailduck.ingestion.share import _fetch_all

    for size, most in ((1 << 10, 8), (10 << 20, 1), (6 << 20, 2)):
        # Small objects keep several fetches going: the first four reads wait for each other (a loop keeping
        # fewer at once would fail them), where counting how far reads had run ahead depended on how soon the
        # threads got to run.
        source = _CountingSource(together=4 if size == 1 << 10 else 0)
        ahead = []
        for consumed, (_item, fetched) in enumerate(
            _fetch_all(source, _listed([size] * 20), 4, Limits(), max_bytes=16 << 20), 1
        ):
            assert fetched.error is None
            ahead.append(source.started - consumed)
        # Reads run ahead of the one being converted by at most most - 1 (threads may not have started yet).
        assert max(ahead) <= most - 1, (size, ahead)


def test_fetch_tasks_of_several_objects_keep_order_errors_and_the_byte_bound() -> None:
    from trailduck.convert.decode import Limits
    from trailduck.errors import ObjectGoneError
    from trailduck.ingestion.share import _fetch_all

    class Source(_CountingSource):
        def read(self, key: str) -> bytes:
            if key.endswith("X000000000000007.json.gz"):
                raise ObjectGoneError(f"{key}: gone")
            return super().read(key)

    items = _listed([1 << 10] * 40)
    source = Source()
    got = list(_fetch_all(source, items, 2, Limits(), per_task=8))
    assert [item for item, _ in got] == items  # in listing order, all of them
    assert [i for i, (_, fetched) in enumerate(got) if fetched.error is not None] == [7]  # its own error only
    # Large objects: a task takes no more than the byte bound allows (the first object always goes).
    source = Source()
    ahead = []
    for consumed, _ in enumerate(_fetch_all(source, _listed([6 << 20] * 12), 2, Limits(), 16 << 20, 8), 1):
        ahead.append(source.started - consumed)
    assert max(ahead) <= 1, ahead  # 16 MiB holds two of them: the one being converted and one more


def test_fetching_loses_nothing_when_a_tasks_callbacks_run_late(monkeypatch: pytest.MonkeyPatch) -> None:
    """A future is done before its done-callbacks run (the fetch thread can lose the GIL in between): the loop
    must not count such a task as running once it has taken its objects, or it stops with work left. Here each
    callback runs 0.3 s late and the consumer spends 2 ms on each object, so the next task is done, its callback
    not yet run, when the consumer comes back (on a machine where fetching 4 tiny objects took over 8 ms the test
    would pass without reaching that state; before the fix it ended with objects left)."""
    import concurrent.futures._base as futures_base
    import time

    from trailduck.convert.decode import Limits
    from trailduck.ingestion.share import _fetch_all

    invoke = futures_base.Future._invoke_callbacks

    def late(self: futures_base.Future[object]) -> None:
        time.sleep(0.3)
        invoke(self)

    monkeypatch.setattr(futures_base.Future, "_invoke_callbacks", late)
    items = _listed([1 << 10] * 24)
    got = []
    for item, _ in _fetch_all(_CountingSource(), items, 1, Limits(), per_task=4):
        got.append(item)
        time.sleep(0.002)  # the converter's work on it
    assert got == items


def test_a_batch_across_streams_is_converted_once_and_each_streams_rows_land_in_its_partitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    from trailduck.convert import converter as convert
    from trailduck.convert.converter import decode_file
    from trailduck.convert.decode import decompress, split_records
    from trailduck.ingestion.share import _Batcher
    from trailduck.lake.storage import LocalStorage
    from trailduck.lake.writer import StorageLakeWriter
    from trailduck.scanner.keys import Kind
    from trailduck.synthetic.generator import generate

    logs = [f for f in generate(small_spec(days=1)) if parse_key(f.key).stream.kind is Kind.LOG]
    streams = {parse_key(f.key).stream for f in logs}
    assert len(streams) >= 4  # accounts x regions, an organization's member account among them
    calls = []
    typed_columns = convert.native.typed_columns
    monkeypatch.setattr(convert.native, "typed_columns", lambda a: calls.append(len(a)) or typed_columns(a))
    writer = StorageLakeWriter(LocalStorage(tmp_path), "run1")
    batcher = _Batcher(writer, keep_event_json=True, max_records=1_000_000)
    for f in logs:
        key = parse_key(f.key)
        decoded = decode_file(split_records(decompress(f.body)), source_key=f.key, key_day=key.day)
        assert batcher.add(key.stream, decoded) == []
    assert batcher.flush() == []
    writer.commit()
    events = sum(len(f.records) for f in logs)
    assert calls == [events]  # one conversion for every stream's files
    rows = duckdb.sql(
        f"SELECT account, region, source_key FROM read_parquet('{tmp_path}/events/*/*/*/*.parquet', "
        "hive_partitioning = true, hive_types_autocast = false)"
    ).fetchall()
    assert len(rows) == events
    assert all(f"/{account}/CloudTrail/{region}/" in key for account, region, key in rows)
    assert {(a, r) for a, r, _ in rows} == {(s.account, s.region) for s in streams}

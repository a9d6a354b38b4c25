"""S3 faults injected by a proxy in front of the real S3 server: retried, reported, or fatal as they should be."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests import faultproxy
from tests.helpers import NOW, count, small_spec
from trailduck.errors import AccessDeniedError
from trailduck.ingestion.run import IngestOptions, IngestSummary, ingest
from trailduck.scanner.s3 import S3Source, make_client
from trailduck.synthetic.generator import Manifest, s3_sink, write_trail


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[tuple[faultproxy.FaultProxy, str]]:
    state, url, server = faultproxy.start(s3_endpoint)
    yield state, url
    server.shutdown()
    server.server_close()


@pytest.fixture
def trail(s3_client: Any, bucket: str) -> tuple[str, Manifest]:
    return bucket, write_trail(small_spec(insights=False), s3_sink(s3_client, bucket))


def run_through(url: str, bucket: str, lake: Path) -> IngestSummary:
    client = make_client(endpoint_url=url, region="us-east-1", max_pool_connections=4)
    source = S3Source(client, bucket, backoff_base=0.01)
    return ingest(IngestOptions(source=f"s3://{bucket}", lake=lake, concurrency=4), source=source, now=NOW)


@pytest.mark.parametrize("fault", ["503", "500", "reset", "cut"])
def test_transient_faults_on_reads_are_retried(
    proxy: tuple[faultproxy.FaultProxy, str], trail: tuple[str, Manifest], tmp_path: Path, fault: str
) -> None:
    state, url = proxy
    bucket, manifest = trail
    victims = [k for k in manifest.keys if "/CloudTrail/" in k][:3]
    rules = [state.add("GET", k, fault, times=2) for k in victims]
    summary = run_through(url, bucket, tmp_path / "lake")
    assert all(r.hits == 2 for r in rules)  # the faults really happened
    assert summary.exit_code == 0 and summary.files_failed == 0
    assert count(tmp_path / "lake") == manifest.events


@pytest.mark.parametrize("fault", ["503", "500", "reset", "cut"])
def test_transient_faults_on_listing_are_retried(
    proxy: tuple[faultproxy.FaultProxy, str], trail: tuple[str, Manifest], tmp_path: Path, fault: str
) -> None:
    state, url = proxy
    bucket, manifest = trail
    rule = state.add("GET", "list-type=2", fault, times=2)
    summary = run_through(url, bucket, tmp_path / "lake")
    assert rule.hits == 2 and summary.exit_code == 0
    assert count(tmp_path / "lake") == manifest.events


def test_a_persistent_fault_quarantines_that_object_only(
    proxy: tuple[faultproxy.FaultProxy, str], trail: tuple[str, Manifest], tmp_path: Path
) -> None:
    state, url = proxy
    bucket, manifest = trail
    victim = next(k for k in manifest.keys if "/CloudTrail/" in k)
    state.add("GET", victim, "cut", times=-1)
    summary = run_through(url, bucket, tmp_path / "lake")
    assert summary.exit_code == 3 and [f["key"] for f in summary.failures] == [victim]
    assert count(tmp_path / "lake") == manifest.events - len(manifest.records_by_key[victim])
    state.rules.clear()
    again = run_through(url, bucket, tmp_path / "lake")
    assert again.exit_code == 0 and count(tmp_path / "lake") == manifest.events


def test_access_denied_on_read_stops_with_the_missing_permission(
    proxy: tuple[faultproxy.FaultProxy, str], trail: tuple[str, Manifest], tmp_path: Path
) -> None:
    state, url = proxy
    bucket, manifest = trail
    victim = min(k for k in manifest.keys if "/CloudTrail/" in k)  # the first object read
    state.add("GET", victim, "denied", times=-1)
    with pytest.raises(AccessDeniedError) as info:
        run_through(url, bucket, tmp_path / "lake")
    message = str(info.value)
    assert "s3:GetObject" in message and f"arn:aws:s3:::{bucket}/{victim}" in message
    assert not list((tmp_path / "lake").rglob("*.parquet"))  # nothing half-written is left visible


def test_access_denied_on_listing_names_list_bucket(
    proxy: tuple[faultproxy.FaultProxy, str], trail: tuple[str, Manifest], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from trailduck.cli.app import app

    state, url = proxy
    bucket, _ = trail
    state.add("GET", "list-type=2", "denied", times=-1)
    result = CliRunner().invoke(
        app, ["ingest", f"s3://{bucket}", "--lake", str(tmp_path / "lake"), "--endpoint-url", url]
    )
    assert result.exit_code == 1
    assert "s3:ListBucket" in result.stderr and f"arn:aws:s3:::{bucket}" in result.stderr
    assert "Traceback" not in result.output


def test_one_denied_object_after_good_reads_is_quarantined(
    proxy: tuple[faultproxy.FaultProxy, str], trail: tuple[str, Manifest], tmp_path: Path
) -> None:
    """Reads already worked, so the permission is there: one object under, say, a disabled KMS key."""
    state, url = proxy
    bucket, manifest = trail
    victim = max(k for k in manifest.keys if "/CloudTrail/" in k)  # the last object read
    state.add("GET", victim, "denied", times=-1)
    summary = run_through(url, bucket, tmp_path / "lake")
    assert summary.exit_code == 3 and [f["key"] for f in summary.failures] == [victim]
    assert "s3:GetObject" in summary.failures[0]["reason"] and "kms:Decrypt" in summary.failures[0]["reason"]
    assert count(tmp_path / "lake") == manifest.events - len(manifest.records_by_key[victim])


def test_a_reader_allowed_to_list_only_awslogs_is_not_stopped_by_the_layout_check(
    proxy: tuple[faultproxy.FaultProxy, str], s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """The README's reader policy allows ListBucket only with the prefix AWSLogs/: a listing of the bucket's
    root is denied. Checking where the trail is must not turn that into a failure."""
    state, url = proxy
    root_listing = state.add("GET", "list-type=2&prefix=&", "denied", times=-1)
    s3_client.put_object(Bucket=bucket, Key="AWSLogs/", Body=b"")  # a new trail: nothing delivered yet
    empty = run_through(url, bucket, tmp_path / "empty-lake")
    assert (
        empty.exit_code == 0
        and empty.streams == 0
        and empty.note
        and "no CloudTrail files found" in empty.note
    )
    assert root_listing.hits >= 1  # the check did try to look around, and was denied
    manifest = write_trail(small_spec(insights=False), s3_sink(s3_client, bucket))
    summary = run_through(url, bucket, tmp_path / "lake")
    assert summary.exit_code == 0 and summary.note is None
    assert count(tmp_path / "lake") == manifest.events


def test_the_proxy_delays_every_request_and_serves_them_at_once(
    proxy: tuple[faultproxy.FaultProxy, str], trail: tuple[str, Manifest]
) -> None:
    """The latency the S3 benchmark injects (bench/s3_bench.py): every request waits, each on its own thread."""
    state, url = proxy
    bucket, manifest = trail
    keys = manifest.keys[:8]
    client = make_client(endpoint_url=url, region="us-east-1", max_pool_connections=8)
    state.delay = 0.5
    state.reset_counts()
    barrier = threading.Barrier(len(keys))

    def get(key: str) -> float:
        barrier.wait()  # sent together
        started = time.perf_counter()
        client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return time.perf_counter() - started

    with ThreadPoolExecutor(len(keys)) as pool:
        took = list(pool.map(get, keys))
    list(S3Source(client, bucket).list_objects("AWSLogs/"))
    assert min(took) >= 0.5  # the delay is applied to each
    assert state.peak_active == len(
        keys
    )  # and all were waiting at once: one connection does not hold up another
    assert state.counts == {"GET": len(keys), "LIST": 1}

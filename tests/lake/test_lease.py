"""The single writer's lease on S3, against a real S3 server: taken, refused, taken over once expired, renewed,
lost, released."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import faultproxy
from trailduck.errors import AwsAccessDeniedError, LakeError
from trailduck.lake.lease import S3Lease
from trailduck.scanner.s3 import make_client

KEY = "lake/_trailduck/lease.json"
START = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
HOLDER = f"pid {os.getpid()} on {socket.gethostname()}"


class Clock:
    """A UTC clock the test moves by hand."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def body(s3_client: Any, bucket: str) -> dict[str, Any]:
    return json.loads(s3_client.get_object(Bucket=bucket, Key=KEY)["Body"].read())


def exists(s3_client: Any, bucket: str) -> bool:
    return s3_client.list_objects_v2(Bucket=bucket, Prefix=KEY).get("KeyCount", 0) > 0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait until ``condition`` holds, looking every 20 ms; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_lease_is_taken_on_an_empty_lake(s3_client: Any, bucket: str) -> None:
    lease = S3Lease(s3_client, bucket, KEY, clock=Clock())
    assert lease.location == f"s3://{bucket}/{KEY}"
    lease.acquire()
    lease.check()
    assert body(s3_client, bucket) == {
        "owner": lease.owner,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "machine": lease.machine,
        "acquired": "2026-01-02T03:04:05+00:00",
        "expires": "2026-01-02T03:14:05+00:00",
    }
    # This kernel's boot and this pid namespace, on Linux: what makes a pid mean this process.
    boot = Path("/proc/sys/kernel/random/boot_id")
    if boot.exists():
        assert lease.machine == f"{boot.read_text().strip()}/{os.stat('/proc/self/ns/pid').st_ino}"
    host, pid, nonce = lease.owner.split(":")
    assert (host, pid) == (socket.gethostname(), str(os.getpid())) and len(nonce) >= 8


def test_a_held_lease_is_refused_naming_its_holder_and_its_expiry(s3_client: Any, bucket: str) -> None:
    clock = Clock()
    S3Lease(s3_client, bucket, KEY, clock=clock).acquire()
    clock.advance(minutes=9, seconds=59)
    with pytest.raises(LakeError) as e:
        S3Lease(s3_client, bucket, KEY, clock=clock).acquire()
    said = str(e.value)
    assert said.startswith(
        f"s3://{bucket}/{KEY}: another trailduck process ({HOLDER}) is writing to this lake"
    )
    assert "its lease expires at 2026-01-02 03:14:05 UTC" in said
    assert "if that process is dead, run again after 2026-01-02 03:14:05 UTC" in said


def test_an_expired_lease_is_taken_over_and_its_old_holder_has_lost_it(s3_client: Any, bucket: str) -> None:
    clock = Clock()
    old, new = S3Lease(s3_client, bucket, KEY, clock=clock), S3Lease(s3_client, bucket, KEY, clock=clock)
    old.acquire()
    clock.advance(minutes=10)
    new.acquire()
    assert body(s3_client, bucket)["owner"] == new.owner
    assert body(s3_client, bucket)["expires"] == "2026-01-02T03:24:05+00:00"
    with pytest.raises(LakeError, match="lost the lake's lease") as e:
        old.renew()
    assert "for longer than the lease's 10 minutes" in str(e.value) and "must stop without committing" in str(
        e.value
    )
    assert old.lost
    with pytest.raises(LakeError, match="lost the lake's lease"):
        old.check()
    new.check()
    assert body(s3_client, bucket)["owner"] == new.owner


def test_of_two_takers_of_one_expired_lease_exactly_one_wins(s3_client: Any, bucket: str) -> None:
    clock = Clock()
    S3Lease(s3_client, bucket, KEY, clock=clock).acquire()
    clock.advance(minutes=11)
    takers = [S3Lease(s3_client, bucket, KEY, clock=clock, owner=f"taker-{n}") for n in range(2)]
    barrier = threading.Barrier(2)
    outcome: dict[str, LakeError | None] = {}

    def take(lease: S3Lease) -> None:
        barrier.wait()
        try:
            lease.acquire()
            outcome[lease.owner] = None
        except LakeError as exc:
            outcome[lease.owner] = exc

    threads = [threading.Thread(target=take, args=(t,)) for t in takers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [owner for owner, exc in outcome.items() if exc is None]
    assert len(winners) == 1, outcome
    assert body(s3_client, bucket)["owner"] == winners[0]
    [refused] = [exc for exc in outcome.values() if exc is not None]
    assert "is writing to this lake; its lease expires at 2026-01-02 03:25:05 UTC" in str(refused)


def test_renewing_moves_the_expiry(s3_client: Any, bucket: str) -> None:
    clock = Clock()
    lease = S3Lease(s3_client, bucket, KEY, clock=clock)
    lease.acquire()
    clock.advance(minutes=3)
    lease.renew()
    assert body(s3_client, bucket)["acquired"] == "2026-01-02T03:04:05+00:00"
    assert body(s3_client, bucket)["expires"] == "2026-01-02T03:17:05+00:00"
    clock.advance(minutes=6)  # past the first expiry, with more than a third of the renewed one to go
    lease.check()
    with pytest.raises(LakeError, match="its lease expires at 2026-01-02 03:17:05 UTC"):
        S3Lease(s3_client, bucket, KEY, clock=clock).acquire()


def test_a_lease_that_expired_unrenewed_fails_the_check(s3_client: Any, bucket: str) -> None:
    """Taken over or not: once its expiry passed, another process may hold it; and a commit must not start
    with less than a third of the ttl left, so that it ends before anyone may take the lease over."""
    clock = Clock()
    lease = S3Lease(s3_client, bucket, KEY, clock=clock)
    lease.acquire()
    clock.advance(minutes=6)
    lease.check()  # four minutes to go
    clock.advance(minutes=1)  # three: the margin reached
    with pytest.raises(LakeError, match="expires at 2026-01-02 03:14:05 UTC and was not renewed"):
        lease.check()
    clock.advance(minutes=3)
    with pytest.raises(LakeError, match="expires at 2026-01-02 03:14:05 UTC and was not renewed"):
        lease.check()


def test_a_lease_deleted_under_its_holder_is_lost(s3_client: Any, bucket: str) -> None:
    lease = S3Lease(s3_client, bucket, KEY, clock=Clock())
    lease.acquire()
    s3_client.delete_object(Bucket=bucket, Key=KEY)
    with pytest.raises(LakeError, match="lost the lake's lease"):
        lease.renew()
    assert not exists(s3_client, bucket)


def test_release_deletes_only_its_own_lease(s3_client: Any, bucket: str) -> None:
    clock = Clock()
    old, new = S3Lease(s3_client, bucket, KEY, clock=clock), S3Lease(s3_client, bucket, KEY, clock=clock)
    old.acquire()
    clock.advance(minutes=11)
    new.acquire()
    old.release()  # no longer its own: left alone
    assert body(s3_client, bucket)["owner"] == new.owner
    new.release()
    assert not exists(s3_client, bucket)
    new.release()  # twice is harmless
    S3Lease(s3_client, bucket, KEY, clock=clock).acquire()  # and the lake is free


def test_an_unreadable_lease_expires_ttl_after_it_was_written(s3_client: Any, bucket: str) -> None:
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=b'{"owner": "cut sho')
    written = s3_client.head_object(Bucket=bucket, Key=KEY)["LastModified"]
    clock = Clock(written + dt.timedelta(minutes=9))
    with pytest.raises(LakeError, match="a process that wrote an unreadable lease is writing to this lake"):
        S3Lease(s3_client, bucket, KEY, clock=clock).acquire()
    clock.advance(minutes=1)
    lease = S3Lease(s3_client, bucket, KEY, clock=clock)
    lease.acquire()
    assert body(s3_client, bucket)["owner"] == lease.owner


def test_held_renews_the_lease_past_its_ttl_and_releases_it(s3_client: Any, bucket: str) -> None:
    """With a ttl of 0.9 s, renewed every 0.3 s, the lease outlives its ttl; another writer is refused all
    along, and the lease is gone once the block exits."""
    ttl = dt.timedelta(seconds=0.9)
    lease = S3Lease(s3_client, bucket, KEY, ttl=ttl)
    etags: list[str] = []

    def renewed(times: int) -> bool:
        etag = s3_client.head_object(Bucket=bucket, Key=KEY)["ETag"]
        if not etags or etags[-1] != etag:
            etags.append(etag)
        return len(etags) > times

    with lease.held() as held:
        assert held is lease
        started = time.monotonic()
        wait_for(lambda: renewed(4), "four renewals")
        assert time.monotonic() - started > ttl.total_seconds()  # four renewals: past the first expiry
        lease.check()
        with pytest.raises(LakeError, match="is writing to this lake"):
            S3Lease(s3_client, bucket, KEY, ttl=ttl).acquire()
        assert body(s3_client, bucket)["owner"] == lease.owner
    assert not exists(s3_client, bucket)
    assert not lease.lost


def test_held_records_a_lease_lost_to_a_taker_and_leaves_the_takers_lease(
    s3_client: Any, bucket: str
) -> None:
    lease = S3Lease(s3_client, bucket, KEY, ttl=dt.timedelta(seconds=0.6))
    with lease.held():
        # A taker whose clock says the lease expired long ago (a writer presumed dead).
        taker = S3Lease(s3_client, bucket, KEY, clock=Clock(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)))
        taker.acquire()
        wait_for(lambda: lease.lost, "the renewal thread to find the lease lost")
        with pytest.raises(LakeError, match="lost the lake's lease"):
            lease.check()
    assert body(s3_client, bucket)["owner"] == taker.owner


def test_held_releases_the_lease_when_its_block_fails(s3_client: Any, bucket: str) -> None:
    lease = S3Lease(s3_client, bucket, KEY, clock=Clock())
    with pytest.raises(ValueError, match="boom"), lease.held():
        assert exists(s3_client, bucket)
        raise ValueError("boom")
    assert not exists(s3_client, bucket)


def test_held_does_not_start_when_the_lease_is_held(s3_client: Any, bucket: str) -> None:
    clock = Clock()
    S3Lease(s3_client, bucket, KEY, clock=clock).acquire()
    entered = False
    with (
        pytest.raises(LakeError, match="is writing to this lake"),
        S3Lease(s3_client, bucket, KEY, clock=clock).held(),
    ):
        entered = True
    assert not entered
    assert all(t.name != "trailduck-lease" for t in threading.enumerate())


def test_a_refused_put_names_the_permission(s3_client: Any, bucket: str) -> None:
    arn = f"arn:aws:s3:::{bucket}/{KEY}"
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": arn}
    s3_client.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny]})
    )
    try:
        with pytest.raises(
            AwsAccessDeniedError,
            match=f"writing the lake's lease s3://{bucket}/{KEY}: the caller needs s3:PutObject on {arn}",
        ):
            S3Lease(s3_client, bucket, KEY, clock=Clock()).acquire()
    finally:
        s3_client.delete_bucket_policy(Bucket=bucket)


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[tuple[faultproxy.FaultProxy, str]]:
    state, url, server = faultproxy.start(s3_endpoint)
    yield state, url
    server.shutdown()
    server.server_close()


def test_a_lease_whose_answer_was_lost_is_still_taken(
    proxy: tuple[faultproxy.FaultProxy, str], s3_client: Any, bucket: str
) -> None:
    """The create lands, its answer is lost, botocore sends it again and S3 refuses it because of the create:
    the lease reads its own owner back and holds the lake, not "another process" that is itself."""
    state, url = proxy
    lease = S3Lease(make_client(endpoint_url=url, region="us-east-1"), bucket, KEY, clock=Clock())
    rule = state.add("PUT", KEY, "lost")
    lease.acquire()
    assert rule.hits == 1 and body(s3_client, bucket)["owner"] == lease.owner
    lease.renew()  # with the ETag read back
    lease.release()
    assert not exists(s3_client, bucket)


def _dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(child.stdout)


def test_a_lease_whose_holder_died_on_this_machine_is_taken_over_at_once(s3_client: Any, bucket: str) -> None:
    """A job killed here and run again at once need not wait for the ttl: its pid no longer runs here."""
    dead = S3Lease(s3_client, bucket, KEY)
    dead.pid = _dead_pid()
    dead.acquire()
    clock = Clock()  # the dead holder's lease is far from expired by this clock
    taker = S3Lease(s3_client, bucket, KEY, clock=clock)
    taker.acquire()
    assert json.loads(s3_client.get_object(Bucket=bucket, Key=KEY)["Body"].read())["pid"] == os.getpid()
    taker.release()


def test_a_lease_of_a_dead_pid_on_another_machine_waits_for_its_expiry(s3_client: Any, bucket: str) -> None:
    """Another host, or a container with the same host name and a pid namespace of its own: a pid there says
    nothing about a process here."""
    other = S3Lease(s3_client, bucket, KEY)
    other.pid, other.host, other.machine = _dead_pid(), "another-host", "another-boot/4026531836"
    other.acquire()
    with pytest.raises(LakeError, match="another-host"):
        S3Lease(s3_client, bucket, KEY).acquire()
    other.host = socket.gethostname()  # the same host name, another pid namespace
    other.release()
    other.acquire()
    with pytest.raises(LakeError, match="is writing to this lake"):
        S3Lease(s3_client, bucket, KEY).acquire()

"""The checkpoint on S3: read with its ETag, replaced only if it is still the one read, against a real S3 server."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests import faultproxy
from trailduck.errors import AwsAccessDeniedError, StateError
from trailduck.scanner.s3 import make_client
from trailduck.state.checkpoint import Checkpoint
from trailduck.state.s3store import S3StateStore

KEY = "lake/_trailduck/state.json"


def checkpoint(sequence: int) -> Checkpoint:
    done = Checkpoint(sequence=sequence)
    done.stream("AWSLogs/111122223333/CloudTrail/us-east-1/").mark_done(
        dt.date(2026, 1, 2), f"f{sequence}.json.gz"
    )
    done.record_run(f"run-{sequence}", "s3://trail", dt.datetime(2026, 1, 2, 3, 4, sequence, tzinfo=dt.UTC))
    return done


def stored(s3_client: Any, bucket: str) -> Checkpoint:
    body = s3_client.get_object(Bucket=bucket, Key=KEY)["Body"].read()
    return Checkpoint.from_json(json.loads(body))


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[tuple[faultproxy.FaultProxy, str]]:
    state, url, server = faultproxy.start(s3_endpoint)
    yield state, url
    server.shutdown()
    server.server_close()


def test_a_missing_checkpoint_loads_as_none(s3_client: Any, bucket: str) -> None:
    store = S3StateStore(s3_client, bucket, KEY)
    assert store.location == f"s3://{bucket}/{KEY}"
    assert store.load() is None


def test_save_then_load_round_trips(s3_client: Any, bucket: str) -> None:
    store = S3StateStore(s3_client, bucket, KEY)
    assert store.load() is None
    store.save(checkpoint(1))
    store.save(checkpoint(2))  # the store follows its own writes
    assert S3StateStore(s3_client, bucket, KEY).load() == checkpoint(2)
    assert store.load() == checkpoint(2)


def test_a_writer_that_read_an_older_checkpoint_overwrites_nothing(s3_client: Any, bucket: str) -> None:
    S3StateStore(s3_client, bucket, KEY).save(checkpoint(1))
    first, second = S3StateStore(s3_client, bucket, KEY), S3StateStore(s3_client, bucket, KEY)
    assert first.load() == second.load() == checkpoint(1)
    first.save(checkpoint(2))
    with pytest.raises(
        StateError, match="another writer changed the checkpoint since this process read it"
    ) as e:
        second.save(checkpoint(3))
    assert "nothing was overwritten" in str(e.value) and "no other trailduck" in str(e.value)
    assert str(e.value).startswith(f"s3://{bucket}/{KEY}: ")
    assert stored(s3_client, bucket) == checkpoint(2)


def test_a_checkpoint_deleted_since_it_was_read_is_not_recreated(s3_client: Any, bucket: str) -> None:
    store = S3StateStore(s3_client, bucket, KEY)
    store.save(checkpoint(1))
    assert store.load() == checkpoint(1)
    s3_client.delete_object(Bucket=bucket, Key=KEY)
    with pytest.raises(StateError, match="another writer changed the checkpoint"):
        store.save(checkpoint(2))
    assert "Contents" not in s3_client.list_objects_v2(Bucket=bucket)


def test_a_save_without_a_load_expects_no_checkpoint(s3_client: Any, bucket: str) -> None:
    S3StateStore(s3_client, bucket, KEY).save(checkpoint(1))
    with pytest.raises(StateError, match=r"expected none"):
        S3StateStore(s3_client, bucket, KEY).save(checkpoint(2))
    assert stored(s3_client, bucket) == checkpoint(1)


def test_of_two_first_writers_exactly_one_wins(s3_client: Any, bucket: str) -> None:
    stores = [S3StateStore(s3_client, bucket, KEY) for _ in range(2)]
    assert [s.load() for s in stores] == [None, None]
    barrier = threading.Barrier(2)
    outcome: dict[int, BaseException | None] = {}

    def save(n: int) -> None:
        barrier.wait()
        try:
            stores[n].save(checkpoint(n + 1))
            outcome[n] = None
        except StateError as exc:
            outcome[n] = exc

    threads = [threading.Thread(target=save, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [n for n, exc in outcome.items() if exc is None]
    assert len(winners) == 1, outcome
    assert stored(s3_client, bucket) == checkpoint(winners[0] + 1)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"format": "trailduck-state", "vers', "the checkpoint is corrupt"),
        (b"\xff\xfe not even text", "the checkpoint is corrupt"),
        (b'{"hello": "world"}', "not a trailduck checkpoint"),
    ],
)
def test_a_corrupt_checkpoint_says_how_to_rebuild_it(
    s3_client: Any, bucket: str, body: bytes, needle: str
) -> None:
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=body)
    with pytest.raises(StateError) as e:
        S3StateStore(s3_client, bucket, KEY).load()
    assert str(e.value).startswith(f"s3://{bucket}/{KEY}: ")
    assert needle in str(e.value) and "`trailduck state rebuild`" in str(e.value)


def test_refusals_name_the_iam_action(s3_client: Any, bucket: str) -> None:
    """moto enforces a bucket policy's Deny (its answer is a bare 403, which the error table reads as a
    refusal, as it reads AWS's AccessDenied)."""
    S3StateStore(s3_client, bucket, KEY).save(checkpoint(1))
    arn = f"arn:aws:s3:::{bucket}/{KEY}"
    deny = {"Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": arn}
    s3_client.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny]})
    )
    try:
        store = S3StateStore(s3_client, bucket, KEY)
        with pytest.raises(AwsAccessDeniedError, match=f"the caller needs s3:GetObject on {arn}"):
            store.load()
        with pytest.raises(AwsAccessDeniedError, match=f"the caller needs s3:PutObject on {arn}"):
            store.save(checkpoint(2))
    finally:
        s3_client.delete_bucket_policy(Bucket=bucket)
    assert stored(s3_client, bucket) == checkpoint(1)


@pytest.mark.parametrize("first", [False, True], ids=["replacing", "creating"])
def test_a_write_whose_answer_was_lost_is_not_reported_as_a_conflict(
    proxy: tuple[faultproxy.FaultProxy, str], s3_client: Any, bucket: str, first: bool
) -> None:
    """The PUT lands, its answer is lost, botocore sends it again, and S3 refuses the retry because of the PUT
    that landed: the store reads the object back, finds its own bytes, and carries on."""
    state, url = proxy
    if not first:
        S3StateStore(s3_client, bucket, KEY).save(checkpoint(1))
    store = S3StateStore(make_client(endpoint_url=url, region="us-east-1"), bucket, KEY)
    assert store.load() == (None if first else checkpoint(1))
    rule = state.add("PUT", KEY, "lost")
    store.save(checkpoint(2))
    assert rule.hits == 1 and stored(s3_client, bucket) == checkpoint(2)
    store.save(checkpoint(3))  # the ETag read back is the one the next save expects
    assert stored(s3_client, bucket) == checkpoint(3)


def test_a_retried_write_refused_for_another_writer_is_a_conflict(
    proxy: tuple[faultproxy.FaultProxy, str], s3_client: Any, bucket: str
) -> None:
    """A retry refused because another writer's checkpoint is there is still a conflict."""
    state, url = proxy
    S3StateStore(s3_client, bucket, KEY).save(checkpoint(1))
    store = S3StateStore(make_client(endpoint_url=url, region="us-east-1"), bucket, KEY)
    assert store.load() == checkpoint(1)
    other = S3StateStore(s3_client, bucket, KEY)
    other.load()
    other.save(checkpoint(2))
    state.add("PUT", KEY, "500")  # the first try fails, the retry is refused: the object is the other's
    with pytest.raises(StateError, match="another writer changed the checkpoint"):
        store.save(checkpoint(3))
    assert stored(s3_client, bucket) == checkpoint(2)


def test_a_concurrent_conditional_write_409_is_a_conflict(
    proxy: tuple[faultproxy.FaultProxy, str], s3_client: Any, bucket: str
) -> None:
    """S3 answers 409 ConditionalRequestConflict to a conditional write racing another on the same key (moto
    never does: the proxy answers it)."""
    state, url = proxy
    store = S3StateStore(make_client(endpoint_url=url, region="us-east-1"), bucket, KEY)
    assert store.load() is None
    state.add("PUT", KEY, "conflict")
    with pytest.raises(StateError, match="another writer changed the checkpoint"):
        store.save(checkpoint(1))
    assert store.load() is None

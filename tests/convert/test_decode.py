from __future__ import annotations

import gzip
import json

import pytest

from trailduck.convert.decode import Limits, decompress, split_records
from trailduck.errors import BadObjectError

BODY = json.dumps({"Records": [{"eventName": "A"}, {"eventName": "B", "x": [1, 2]}]}).encode()


def test_gzip_and_plain_json_give_the_same_records() -> None:
    gz = split_records(decompress(gzip.compress(BODY)))
    plain = split_records(decompress(BODY))
    assert (
        [bytes(r) for r in gz]
        == [bytes(r) for r in plain]
        == [b'{"eventName": "A"}', b'{"eventName": "B", "x": [1, 2]}']
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (gzip.compress(BODY)[:-9], "truncated"),
        (gzip.compress(BODY)[:-4], "truncated"),  # trailer cut: the JSON would parse, it is still truncated
        (gzip.compress(BODY) + b"\n", "after the first gzip member"),
        (gzip.compress(BODY) + gzip.compress(BODY), "after the first gzip member"),
        (b"\x1f\x8bnot really gzip", "corrupt gzip"),
        (b"{not json", "invalid JSON"),
        (b'{"foo": []}', "not a CloudTrail log file"),
        (b'{"Records": {"a": 1}}', "not a CloudTrail log file"),
    ],
    # Named, not by their bytes: a gzip header holds the time it was made, and every pytest-xdist worker
    # process must collect the same test names.
    ids=[
        "cut-9",
        "cut-4",
        "newline-after",
        "two-members",
        "not-gzip",
        "not-json",
        "no-records",
        "records-object",
    ],
)
def test_broken_objects_raise_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(BadObjectError, match=reason):
        split_records(decompress(data))


def test_decompression_is_capped() -> None:
    bomb = gzip.compress(b'{"Records": [' + b" " * (8 << 20) + b"]}")
    assert len(bomb) < 100_000
    with pytest.raises(BadObjectError, match="gzip bomb"):
        decompress(bomb, Limits(max_decompressed_bytes=1 << 20))
    assert split_records(decompress(bomb)) == []


def test_record_count_is_capped() -> None:
    body = json.dumps({"Records": [{}] * 11}).encode()
    with pytest.raises(BadObjectError, match="more than the cap"):
        split_records(body, Limits(max_records=10))

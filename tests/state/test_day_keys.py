"""A day's keys kept compact: the same set of names as a plain set, in memory and through the file, at about 18
bytes a CloudTrail key; a checkpoint of the previous version is read."""

from __future__ import annotations

import datetime as dt
import json
import random
import string

from hypothesis import given
from hypothesis import strategies as st

from trailduck.state.checkpoint import Checkpoint, DayKeys, StreamState
from trailduck.state.store import decode, encode
from trailduck.synthetic.events import rand_suffix
from trailduck.synthetic.generator import log_key

DAY = dt.date(2024, 3, 9)


def _name(account: str, region: str, minute: int, suffix: str, day: dt.date = DAY) -> str:
    when = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(minutes=minute)
    return log_key(account, region, when, suffix).rsplit("/", 1)[1].removesuffix(".gz")


cloudtrail_names = st.builds(
    _name,
    st.sampled_from(["111122223333", "444455556666"]),
    st.sampled_from(["us-east-1", "eu-west-1"]),
    st.integers(0, 1439),
    st.text(string.ascii_letters + string.digits, min_size=16, max_size=16),
)
odd_names = st.one_of(
    st.text(max_size=40),
    # Near misses of the shape: a 25th hour, a short random part, another suffix, non-ASCII digits.
    st.sampled_from(
        [
            "111122223333_CloudTrail_us-east-1_20240309T2460Z_abcdefghijklmnop.json",
            "111122223333_CloudTrail_us-east-1_20240309T0800Z_abcdefghijklmno.json",
            "111122223333_CloudTrail_us-east-1_20240309T0800Z_abcdefghijklmnop.json.bz2",
            "111122223333_CloudTrail_us-east-1_20240309T08\u00b2\u00b2Z_abcdefghijklmnop.json",
            "111122223333_CloudTrail_us-east-1_20240309T0800Z_abcdefghijklmn\u00e9p.json",
        ]
    ),
)


@given(
    names=st.lists(st.one_of(cloudtrail_names, odd_names), max_size=40),
    probes=st.lists(st.one_of(cloudtrail_names, odd_names), max_size=10),
)
def test_day_keys_are_the_set_of_names_and_survive_the_file(names: list[str], probes: list[str]) -> None:
    keys = DayKeys(names)
    assert set(keys) == set(names) and len(keys) == len(set(names))
    for name in names + probes:
        assert (name in keys) is (name in set(names))
    back = DayKeys.from_json(json.loads(json.dumps(keys.to_json())))
    assert back == keys and set(back) == set(names)
    for name in probes:
        assert (name in back) is (name in set(names))


def test_a_cloudtrail_day_costs_about_18_bytes_a_key() -> None:
    rng = random.Random(1)
    names = [_name("111122223333", "us-east-1", rng.randrange(1440), rand_suffix(rng)) for _ in range(10_000)]
    keys = DayKeys(names)
    assert not keys.others and len(keys.codes) == len(set(names))
    size = len(json.dumps(keys.to_json()))
    assert size / len(names) < 18.1
    old = len(json.dumps(sorted(set(names))))
    assert old / len(names) > 70  # the version 1 list of names


def test_a_version_1_checkpoint_is_read_and_written_as_version_2() -> None:
    names = [_name("111122223333", "us-east-1", 60 * h, "A" * 15 + str(h)) for h in range(3)] + [
        "odd-key.json"
    ]
    v1 = {
        "format": "trailduck-state",
        "version": 1,
        "updated": None,
        "sequence": 4,
        "sources": ["s3://b/"],
        "runs": ["r1"],
        "streams": {
            "AWSLogs/111122223333/CloudTrail/us-east-1/": {
                "watermark": "2024-03-07",
                "sealed_before": "2024-03-07",
                "days": {"2024-03-09": sorted(names)},
            }
        },
        "failed": {},
    }
    cp = Checkpoint.from_json(v1)
    st_ = cp.streams["AWSLogs/111122223333/CloudTrail/us-east-1/"]
    assert set(st_.days[DAY]) == set(names) and st_.is_done(DAY, names[0] + ".gz")
    again = cp.to_json()
    assert again["version"] == 2
    day = again["streams"]["AWSLogs/111122223333/CloudTrail/us-east-1/"]["days"]["2024-03-09"]
    assert day["others"] == ["odd-key.json"] and len(day["packed"]) == 3 * 18
    assert Checkpoint.from_json(json.loads(json.dumps(again))) == cp


def test_mark_done_and_is_done_go_through_the_compact_keys() -> None:
    state = StreamState()
    name = _name("111122223333", "us-east-1", 125, "abcdefghijklmnop") + ".gz"
    state.mark_done(DAY, name)
    assert state.is_done(DAY, name) and state.is_done(DAY, name.removesuffix(".gz"))
    assert not state.is_done(DAY, name.replace("abcdefghijklmnop", "abcdefghijklmnoq"))
    assert state.days[DAY].codes and not state.days[DAY].others


def test_an_organizations_checkpoint_is_under_20_bytes_a_key_and_reads_back() -> None:
    """1,020 streams of 96 files on one day, the shape of an organization trail's day (issue #19's target)."""
    rng = random.Random(2)
    cp = Checkpoint()
    for s in range(1020):
        account, region = f"{300000000000 + s // 17:012d}", f"eu-west-{s % 17}"
        stream = cp.stream(f"AWSLogs/o-aa00bb11cc/{account}/CloudTrail/{region}/")
        stream.watermark = stream.sealed_before = DAY - dt.timedelta(days=1)
        for i in range(96):
            stream.mark_done(DAY, _name(account, region, 15 * i, rand_suffix(rng)) + ".gz")
    data = encode(cp)
    assert len(data) / cp.key_count() < 20
    day = json.loads(data)["streams"]["AWSLogs/o-aa00bb11cc/300000000000/CloudTrail/eu-west-0/"]["days"]
    assert (
        "head" not in day[DAY.isoformat()]
    )  # the usual head is not written; a day named otherwise keeps its own
    assert decode(data, "test") == cp


def test_a_head_other_than_the_usual_one_is_kept() -> None:
    cp = Checkpoint()
    stream = cp.stream("AWSLogs/111122223333/CloudTrail/us-east-1/")
    other = _name("444455556666", "us-east-1", 5, "abcdefghijklmnop")  # another account's name in this folder
    stream.mark_done(DAY, other + ".gz")
    doc = json.loads(encode(cp))
    assert doc["streams"]["AWSLogs/111122223333/CloudTrail/us-east-1/"]["days"]["2024-03-09"][
        "head"
    ].startswith("444455556666_")
    assert (
        decode(encode(cp), "test").streams["AWSLogs/111122223333/CloudTrail/us-east-1/"].is_done(DAY, other)
    )


@given(
    done=st.lists(st.one_of(cloudtrail_names, odd_names), max_size=12),
    listed=st.lists(st.one_of(cloudtrail_names, odd_names), max_size=12),
    gzipped=st.lists(st.booleans(), max_size=12),
)
def test_covers_answers_what_a_membership_test_of_each_name_answers(
    done: list[str], listed: list[str], gzipped: list[bool]
) -> None:
    """A folder is covered when each name's identity is done and no two of its names are one file."""
    keys = DayKeys.from_json(DayKeys(done).to_json())  # packed, as read from the file
    names = {
        name + ".gz" if gz else name
        for name, gz in zip(listed + done, gzipped + [True] * len(done), strict=False)
    }
    identities = [name.removesuffix(".gz") for name in names]
    one_by_one = all(i in keys for i in identities) and len(set(identities)) == len(identities)
    assert keys.covers(names) == one_by_one
    assert keys.covers(names) == DayKeys(done).covers(names)  # the same from the packed string and the set


def test_packed_codes_are_checked_against_the_minutes_of_a_day() -> None:
    from trailduck.state.checkpoint import _DIGITS, _MINUTE_CODE, _PACKED

    pairs = {a + b for a in _DIGITS for b in _DIGITS}
    assert {p for p in pairs if _PACKED.fullmatch(p + "x" * 16)} == set(_MINUTE_CODE)
    head = "111122223333_CloudTrail_us-east-1_20240309T"
    keys = DayKeys.from_json({"head": head, "packed": "00" + "a" * 16 + "nd" + "b" * 16})
    assert sorted(keys) == [f"{head}0000Z_{'a' * 16}.json", f"{head}2359Z_{'b' * 16}.json"]
    assert DayKeys.from_json(keys.to_json()).to_json() == keys.to_json()

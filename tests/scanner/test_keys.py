from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trailduck.scanner.keys import InvalidKeyError, Kind, Stream, TrailKey, format_key, parse_key

A = "123456789012"
F = f"{A}_CloudTrail_us-east-1_20240131T2355Z_abcdEFGH12345678.json.gz"

VALID = [
    (
        f"AWSLogs/{A}/CloudTrail/eusc-de-east-1/2026/01/31/{A}_CloudTrail_eusc-de-east-1_20260131T2355Z_"
        "abcdEFGH12345678.json.gz",
        A,
        "eusc-de-east-1",  # the AWS European Sovereign Cloud
        Kind.LOG,
        None,
        dt.date(2026, 1, 31),
    ),
    # key, account, region, kind, org, day
    (
        f"AWSLogs/{A}/CloudTrail/us-east-1/2024/01/31/{F}",
        A,
        "us-east-1",
        Kind.LOG,
        None,
        dt.date(2024, 1, 31),
    ),
    (
        f"AWSLogs/{A}/CloudTrail/us-east-1/2024/01/31/{F[:-3]}",
        A,
        "us-east-1",
        Kind.LOG,
        None,
        dt.date(2024, 1, 31),
    ),  # a local copy, already decompressed
    (
        f"AWSLogs/o-abcdefghij/{A}/CloudTrail/us-east-1/2024/02/29/{F}",
        A,
        "us-east-1",
        Kind.LOG,
        "o-abcdefghij",
        dt.date(2024, 2, 29),
    ),
    (
        f"AWSLogs/{A}/CloudTrail/us-gov-west-1/2024/01/31/{A}_CloudTrail_us-gov-west-1_20240131T2355Z_"
        "abcdEFGH12345678.json.gz",
        A,
        "us-gov-west-1",
        Kind.LOG,
        None,
        dt.date(2024, 1, 31),
    ),
    (
        f"AWSLogs/{A}/CloudTrail-Insight/eu-west-1/2024/01/31/{A}_CloudTrail-Insight_eu-west-1_20240131T2355Z_"
        "abcdEFGH12345678.json.gz",
        A,
        "eu-west-1",
        Kind.INSIGHT,
        None,
        dt.date(2024, 1, 31),
    ),
    (
        f"AWSLogs/{A}/CloudTrail-Digest/us-east-1/2024/01/31/{A}_CloudTrail-Digest_us-east-1_mgmt-trail_"
        "us-east-1_20240131T235501Z.json.gz",
        A,
        "us-east-1",
        Kind.DIGEST,
        None,
        dt.date(2024, 1, 31),
    ),
    (
        f"AWSLogs/{A}/CloudTrail-Digest/us-east-1/2024/01/31/{A}_CloudTrail-Digest_us-east-1_mgmt-trail_"
        "us-east-1_20240131T235501Z_backfill.json.gz",
        A,
        "us-east-1",
        Kind.DIGEST,
        None,
        dt.date(2024, 1, 31),
    ),
]


@pytest.mark.parametrize(("key", "account", "region", "kind", "org", "day"), VALID)
def test_valid_keys(key: str, account: str, region: str, kind: Kind, org: str | None, day: dt.date) -> None:
    parsed = parse_key(key)
    assert (parsed.account, parsed.region, parsed.kind, parsed.stream.org_id, parsed.day) == (
        account,
        region,
        kind,
        org,
        day,
    )
    assert parsed.key == key


HOSTILE = [
    (f"AWSLogs/{A}/CloudTrail/us-east-1/2024/01/31/../../../../../etc/{F}", "expected"),
    (f"/AWSLogs/{A}/CloudTrail/us-east-1/2024/01/31/{F}", "not under AWSLogs"),
    (f"AWSLogs/{A}/CloudTrail/us-east-1/2024/01/../{F}", "date folders"),
    (f"AWSLogs/12345678901/CloudTrail/us-east-1/2024/01/31/{F}", "account"),
    (f"AWSLogs/１２３４５６７８９０１２/CloudTrail/us-east-1/2024/01/31/{F}", "account"),  # full-width digits
    (f"AWSLogs/{A}/CloudTrail/us-east-1/٢٠٢٤/01/31/{F}", "date folders"),  # Arabic-Indic digits
    (f"AWSLogs/{A}/CloudTrail/us-east-1/2024/02/30/{F}", "calendar"),
    (f"AWSLogs/{A}/CloudTrail/US-EAST-1/2024/01/31/{F}", "region"),
    (f"AWSLogs/{A}/CloudTrail/us-east-1;drop/2024/01/31/{F}", "region"),
    (f"AWSLogs/{A}/CloudTrailX/us-east-1/2024/01/31/{F}", "folder"),
    (f"AWSLogs/{A}/CloudTrail/us-east-1/2024/01/31/extra/{F}", "expected"),
    (f"AWSLogs/{A}/CloudTrail/us-east-1/2024/01/31/notes.txt", "naming pattern"),
    (f"AWSLogs/{A}/CloudTrail/us-east-1/2024/01/31/{F}.exe", "naming pattern"),
    (f"AWSLogs/{A}/CloudTrail/eu-west-1/2024/01/31/{F}", "another account or region"),
    (f"AWSLogs/210987654321/CloudTrail/us-east-1/2024/01/31/{F}", "another account or region"),
    (f"AWSLogs/o-short/{A}/CloudTrail/us-east-1/2024/01/31/{F}", "organization id"),
    (f"AWSLogs/o-ABCDEFGHIJ/{A}/CloudTrail/us-east-1/2024/01/31/{F}", "organization id"),
    ("AWSLogs/", "not under AWSLogs"),
    ("", "not under AWSLogs"),
]


@pytest.mark.parametrize(("key", "reason"), HOSTILE)
def test_hostile_keys_are_rejected_with_a_reason(key: str, reason: str) -> None:
    with pytest.raises(InvalidKeyError, match=reason):
        parse_key(key)


_accounts = st.from_regex(r"[0-9]{12}", fullmatch=True)
_regions = st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1", "il-central-1"])
_orgs = st.none() | st.from_regex(r"o-[a-z0-9]{10,32}", fullmatch=True)
_days = st.dates(min_value=dt.date(2013, 1, 1), max_value=dt.date(2099, 12, 31))
_suffix = st.from_regex(r"[A-Za-z0-9]{16}", fullmatch=True)


@given(
    account=_accounts,
    region=_regions,
    org=_orgs,
    day=_days,
    suffix=_suffix,
    kind=st.sampled_from([Kind.LOG, Kind.INSIGHT]),
    gz=st.booleans(),
)
def test_parse_inverts_format(
    account: str, region: str, org: str | None, day: dt.date, suffix: str, kind: Kind, gz: bool
) -> None:
    filename = f"{account}_{kind.value}_{region}_{day:%Y%m%d}T0105Z_{suffix}.json{'.gz' if gz else ''}"
    key = TrailKey(Stream(account, region, kind, org), day, filename)
    assert parse_key(format_key(key)) == key


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/logs/cloudtrail/", ("bucket", "logs/cloudtrail/")),
        ("s3://bucket/MyAWSLogs", ("bucket", "MyAWSLogs/")),
        # Accepted here; check_layout then names the location above AWSLogs (tests/scanner/test_locate.py).
        ("s3://bucket/x/AWSLogs/", ("bucket", "x/AWSLogs/")),
    ],
)
def test_s3_uris(uri: str, expected: tuple[str, str]) -> None:
    from trailduck.scanner.s3 import split_s3_uri

    assert split_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["s3://", "s3:///prefix"])
def test_bad_s3_uris(uri: str) -> None:
    from trailduck.errors import ConfigError
    from trailduck.scanner.s3 import split_s3_uri

    with pytest.raises(ConfigError):
        split_s3_uri(uri)

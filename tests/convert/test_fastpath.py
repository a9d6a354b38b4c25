"""DuckDB's fast path gives exactly the Python path's typed columns, and is the one taken on real shapes when the
native path (tests/convert/test_native.py) is absent or refuses a batch."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pytest

from trailduck.convert import converter as convert
from trailduck.convert.fastpath import FastPath
from trailduck.synthetic.generator import TrailSpec, generate

DATA = Path(__file__).resolve().parents[1] / "data" / "otrf_ec2_proxy_s3_exfiltration.ndjson"

ODD_BUT_WELL_SHAPED = [
    {"eventID": "a", "eventTime": "2024-03-08T23:59:30.25Z", "readOnly": "TRUE", "managementEvent": "no"},
    {"eventID": "b", "eventTime": "2024-03-08T23:59:30-07:00", "readOnly": 1, "eventName": 42},
    {"eventID": "c", "eventTime": "0001-01-01T00:00:00+05:00", "errorCode": {"code": 1}, "userAgent": True},
    {"eventID": "d", "eventTime": "yesterday", "userIdentity": {"type": "Root", "arn": None, "userName": 7}},
    {
        "eventID": "e",
        "userIdentity": {"sessionContext": {"webIdFederationData": {"attributes": {"aud": "x"}}}},
    },
    {"eventID": "f", "resources": [], "tlsDetails": {}, "addendum": {"reason": ["list"]}, "apiVersion": 2.5},
    {"eventID": "g", "errorMessage": "Ünïcødé 测试 \u0000 \n", "sourceIPAddress": None},
    {},
]


def raws_of(records: list[dict[str, Any]]) -> list[msgspec.Raw]:
    return [msgspec.Raw(json.dumps(r, ensure_ascii=False).encode()) for r in records]


def assert_paths_agree(raws: list[msgspec.Raw]) -> None:
    assert convert.decode_file(raws, source_key="k", key_day=dt.date(2024, 1, 1)).decode_shapes()
    event_json = pa.array([bytes(r) for r in raws], pa.binary()).cast(pa.string())
    fast = FastPath().typed_columns(event_json)
    slow = convert._python_columns([convert._record_decoder.decode(r) for r in raws])
    assert set(fast) == set(slow)
    for name, column in slow.items():
        assert fast[name].to_pylist() == column.to_pylist(), name


def test_generated_events() -> None:
    spec = TrailSpec(days=2, files_per_day=3, events_per_file=(50, 100))
    records = [r for f in generate(spec) for r in f.records]
    assert len(records) > 500
    assert_paths_agree(raws_of(records))


def test_real_events() -> None:
    assert_paths_agree([msgspec.Raw(line.encode()) for line in DATA.read_text().splitlines() if line.strip()])


def test_odd_values_in_well_shaped_records() -> None:
    assert_paths_agree(raws_of(ODD_BUT_WELL_SHAPED))


@pytest.mark.parametrize(
    "record",
    [
        {"userIdentity": "not-an-object"},
        {"resources": [{"ARN": "a"}, "junk"]},
        {"resources": "str"},
        {"tlsDetails": [1]},
    ],
)
def test_odd_shapes_take_the_python_path(record: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    raws = raws_of([record])
    assert not convert.decode_file(raws, source_key="k", key_day=dt.date(2024, 1, 1)).decode_shapes()
    monkeypatch.setattr(convert.native, "typed_columns", lambda *a: None)
    monkeypatch.setattr(convert._fast(), "typed_columns", lambda *a: pytest.fail("fast path used"))
    decoded = convert.decode_file(raws, source_key="k", key_day=dt.date(2024, 1, 1))
    assert convert.build_table([decoded]).num_rows == 1


def test_well_shaped_batches_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(convert.native, "typed_columns", lambda *a: None)
    monkeypatch.setattr(convert, "_python_columns", lambda *a: pytest.fail("python path used"))
    decoded = convert.decode_file(raws_of(ODD_BUT_WELL_SHAPED), source_key="k", key_day=dt.date(2024, 1, 1))
    assert convert.build_table([decoded]).num_rows == len(ODD_BUT_WELL_SHAPED)

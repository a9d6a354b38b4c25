"""The C column builder gives exactly the reference (Python) path's columns, or refuses the batch; it never
crashes on malformed input and is the path taken on real and generated records."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import shutil
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import NOW
from trailduck.convert import converter as convert
from trailduck.convert import native
from trailduck.convert.decode import split_records
from trailduck.convert.schema import JSON_TEXT_FIELDS, RECORD_FIELDS
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.synthetic.generator import Manifest, TrailSpec, generate

from .test_converter import every_row
from .test_fastpath import DATA, ODD_BUT_WELL_SHAPED

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason="the C extension is not built")


def records_of(records: list[Any], **dumps: Any) -> list[msgspec.Raw]:
    """The raw records as the pipeline gets them: a log file's text, split by msgspec."""
    return split_records(json.dumps({"Records": records}, **dumps).encode())


def reference(raws: list[msgspec.Raw]) -> dict[str, pa.Array]:
    columns = convert._python_columns([convert._record_decoder.decode(r) for r in raws])
    shapes = [convert._shape_decoder.decode(r) for r in raws]
    for name in JSON_TEXT_FIELDS:
        columns[name] = convert._raw_column([getattr(s, name) for s in shapes])
    return columns


def built(raws: list[msgspec.Raw]) -> dict[str, pa.Array] | None:
    columns = native.typed_columns(convert.json_texts(raws))
    if columns is not None:
        columns["eventTime"] = convert.parse_event_time_texts(columns["eventTime"])
    return columns


def assert_same(raws: list[msgspec.Raw], *, refusable: bool = False) -> bool:
    """C builds the batch and its columns equal the reference's. Only a ``refusable`` batch (one that may hold a
    value the reference prints its own way) may be refused; returns whether C built it."""
    columns = built(raws)
    if columns is None:
        assert refusable, "C refused a batch it should build"
        return False
    expected = reference(raws)
    assert set(columns) == set(expected)
    for name, column in expected.items():
        assert columns[name].type == column.type, name
        assert columns[name].to_pylist() == column.to_pylist(), name
    return True


def test_the_extension_is_built_where_a_compiler_is() -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here")
    assert native.AVAILABLE  # setup.py builds it as optional: a silent build failure would cost 3x in speed


def test_generated_events() -> None:
    spec = TrailSpec(days=2, files_per_day=3, events_per_file=(50, 100))
    records = [r for f in generate(spec) for r in f.records]
    assert len(records) > 500
    assert assert_same(records_of(records, separators=(",", ":")))
    assert assert_same(records_of(records, ensure_ascii=True))  # escapes and spaces as another writer might


def test_real_events() -> None:
    assert assert_same([msgspec.Raw(line.encode()) for line in DATA.read_text().splitlines() if line.strip()])


ODD_SHAPES = [
    {"userIdentity": "not-an-object"},
    {"resources": [{"ARN": "a"}, "junk", None, [], {"type": 5}]},
    {"resources": "str"},
    {"tlsDetails": [1]},
    {"userIdentity": {"sessionContext": "s", "onBehalfOf": [1, 2]}},
    {"readOnly": "FaLsE", "managementEvent": "tRUE", "eventTime": 20240101},
    {"errorMessage": 'quote " backslash \\ tab \t nul \u0000 emoji \U0001f600 sep \u2028', "eventType": True},
    {"requestParameters": {"a": [1, {"b": None}]}, "responseElements": "text", "additionalEventData": 0},
    {"userIdentity": {"sessionContext": {"webIdFederationData": {"attributes": {"k": [1, "v", True]}}}}},
    {"errorCode": {"nested": {"deep": [1, 2, {"x": "y"}]}}, "apiVersion": -12345678901234567890123},
]


@pytest.mark.parametrize("record", ODD_BUT_WELL_SHAPED[:5] + ODD_BUT_WELL_SHAPED[6:] + ODD_SHAPES)
def test_odd_values_and_shapes_match_the_reference(record: dict[str, Any]) -> None:
    assert assert_same(records_of([record], separators=(",", ":"), ensure_ascii=False))
    # May refuse a spaced-out object kept as text, or an escape inside one.
    assert_same(records_of([record], ensure_ascii=True), refusable=True)


def test_duplicate_keys_the_last_wins() -> None:
    raws = [msgspec.Raw(b'{"eventName":"a","userIdentity":{"type":"x","type":"y"},"eventName":"b"}')]
    assert assert_same(raws)
    assert built(raws)["eventName"].to_pylist() == ["b"]  # type: ignore[index]


@pytest.mark.parametrize(
    "text",
    [
        b'{"apiVersion":2.5}',  # a float in a string column: Python prints it its own way
        b'{"eventName":-0}',
        b'{"event\\u004eame":"x"}',  # an escaped key
        b'{"errorCode":{"a": 1}}',  # whitespace inside an object kept as text
        b'{"errorCode":{"a":"\\u00e9"}}',  # an escape inside an object kept as text
        b'{"userIdentity":{"sessionContext":{"webIdFederationData":{"attributes":{"x":1.5}}}}}',
    ],
)
def test_values_printed_differently_refuse_the_batch_and_the_reference_converts_it(text: bytes) -> None:
    raws = [msgspec.Raw(b'{"eventName":"fine"}'), msgspec.Raw(text)]
    assert built(raws) is None
    table = convert.build_table([convert.decode_file(raws, source_key="k", key_day=dt.date(2024, 1, 1))])
    assert table.num_rows == 2
    assert table.column("eventName").to_pylist()[0] == "fine"


FIELDS = [f.name for f in RECORD_FIELDS] + ["type", "arn", "sessionContext", "attributes", "ARN", "unknown"]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["true", "FALSE", "2024-03-08T23:59:30Z", "2024-03-08T23:59:30.5+02:00", "x\\y"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=5),
    max_leaves=20,
)
records = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=12)


def has_float(value: Any) -> bool:
    if isinstance(value, dict):
        return any(has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(has_float(v) for v in value)
    return isinstance(value, float)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records, min_size=1, max_size=5), st.booleans(), st.booleans())
def test_any_records_give_the_reference_columns_or_a_refusal(
    batch: list[dict[str, Any]], ascii_only: bool, compact: bool
) -> None:
    separators = (",", ":") if compact else (", ", ": ")
    raws = records_of(batch, ensure_ascii=ascii_only, separators=separators)
    # C refuses only for what the reference prints its own way: a float, or whitespace or an escape inside a
    # value kept as text. Without any of the three anywhere, it must build the batch.
    refusable = not compact or has_float(batch) or any(b"\\" in bytes(r) for r in raws)
    assert_same(raws, refusable=refusable)


def test_strings_and_objects_without_floats_are_never_refused() -> None:
    rng = random.Random(7)
    made = []
    for _ in range(200):
        made.append(
            {
                "eventName": "".join(rng.choice('ab"\\/\n\u00e9\U0001f600') for _ in range(8)),
                "userIdentity": {"type": rng.choice(["Root", None, 3, True]), "sessionContext": {}},
                "resources": [{"ARN": str(rng.random())}] * rng.randrange(3),
                "readOnly": rng.choice([True, "false", "maybe", None]),
            }
        )
    assert assert_same(records_of(made, ensure_ascii=True, separators=(",", ":")))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(min_value=0, max_value=200), max_size=6))
def test_malformed_bytes_are_refused_or_read_never_crash(text: bytes, cuts: list[int]) -> None:
    # The pipeline only passes JSON that msgspec has validated; C must still stay inside the buffer.
    bounds = sorted({0, len(text), *[min(c, len(text)) for c in cuts]})
    offsets = pa.array(bounds, pa.int32()).buffers()[1]
    out = native._columns.columns(native._ROOT, text, offsets, len(bounds) - 1)
    assert out is None or isinstance(out, list)


def test_a_bad_call_is_an_error_not_a_crash() -> None:
    with pytest.raises(ValueError):
        native._columns.columns(native._ROOT, b"{}", b"\0\0\0\0", 1)  # offsets for 0 records, not 1
    with pytest.raises(ValueError):
        native._columns.columns((9, None), b"{}", bytes(8), 1)
    with pytest.raises(TypeError):
        native._columns.first_non_object([1])


def test_first_non_object() -> None:
    raws = records_of([{"a": 1}, {}, 5, [1]])
    assert native.first_non_object(raws) == 2
    assert native.first_non_object(raws[:2]) == -1


def test_a_sliced_batch_reads_its_own_records() -> None:
    raws = records_of([{"eventName": str(i)} for i in range(10)])
    texts = convert.json_texts(raws).slice(3, 4)
    columns = native.typed_columns(texts)
    assert columns is not None
    assert columns["eventName"].to_pylist() == ["3", "4", "5", "6"]


def past_the_limit(limit: str) -> tuple[int, Any]:
    """native's description of the record schema, one step past a limit of _columns.c: a struct of more than 64
    fields, or a field more than 16 levels deep. The records' own fields are described as before."""
    kind, fields = native._ROOT
    if limit == "fields":
        extra = tuple((f"unmodelled{i}", (native._STR, None)) for i in range(65 - len(fields)))
        return kind, fields + extra
    deep: tuple[int, Any] = (native._STR, None)
    for _ in range(17):
        deep = (native._LIST, deep)
    return kind, (*fields, ("deep", deep))


@pytest.mark.parametrize("limit", ["fields", "depth"])
def test_a_schema_past_the_c_builders_limits_is_refused_never_quarantined(
    limit: str,
    local_trail: tuple[Path, Manifest],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root, manifest = local_trail
    spec = past_the_limit(limit)
    with pytest.raises(ValueError):  # the limit is C's own, hit for real
        native._columns.columns(spec, b"{}", pa.array([0, 2], pa.int32()).buffers()[1], 1)
    python = ingest(
        IngestOptions(source=str(root), lake=tmp_path / "python", converter="python", workers=1), now=NOW
    )
    monkeypatch.setattr(native, "_ROOT", spec)
    caplog.set_level(logging.DEBUG, logger=native.__name__)
    refused = ingest(IngestOptions(source=str(root), lake=tmp_path / "c", converter="c", workers=1), now=NOW)
    assert (refused.exit_code, refused.files_failed, refused.failures) == (0, 0, [])
    assert refused.converter == "c" and "the C column builder refused a batch" in caplog.text
    assert refused.files_converted == python.files_converted and refused.events == python.events > 0
    assert every_row(tmp_path / "c") == every_row(tmp_path / "python")
    assert manifest.events == python.events

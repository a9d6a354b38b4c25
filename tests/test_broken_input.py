"""Broken and hostile objects are quarantined whole with their reason, never fatal, never silently skipped."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import zlib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import query, small_spec
from trailduck.cli.app import app
from trailduck.convert.decode import Limits, decompress, split_records
from trailduck.errors import BadObjectError
from trailduck.synthetic.generator import Manifest, encode_log, folder_sink, log_key, s3_sink, write_trail

GOOD = encode_log([{"eventID": "inside-a-broken-file", "eventName": "X"}])
RAW_GOOD = gzip.decompress(GOOD)
CASES: dict[str, tuple[bytes, str]] = {
    "truncated": (GOOD[: len(GOOD) // 2], "truncated gzip"),
    "no_trailer": (GOOD[:-8], "truncated gzip"),  # the JSON inside is complete; the gzip is not
    "not_gzip": (b"PK\x03\x04 this is a zip file", "invalid JSON"),
    "invalid_json": (gzip.compress(b'{"Records": [{"eventID": "a"},'), "invalid JSON"),
    "no_records": (gzip.compress(b'{"foo": []}'), "Records"),
    "records_not_list": (gzip.compress(b'{"Records": {"eventID": "a"}}'), "not a CloudTrail log file"),
    "record_not_object": (gzip.compress(b'{"Records": [{"eventID": "good-one"}, 42]}'), "not a JSON object"),
    "empty_object": (gzip.compress(b"{}"), "Records"),
    "empty_file": (b"", "invalid JSON"),
    "newline_after_member": (GOOD + b"\n", "after the first gzip member"),
    "second_member": (GOOD + gzip.compress(RAW_GOOD), "after the first gzip member"),
    "bomb": (gzip.compress(b'{"Records": [' + b" " * (3 << 20) + b"]}"), "gzip bomb"),
    "too_many_records": (encode_log([{"eventID": f"r{i}"} for i in range(60)]), "more than the cap"),
    "bad_utf8_in_a_string": (
        gzip.compress(b'{"Records": [{"eventID": "u1", "userAgent": "a\xffb"}]}'),
        "UTF-8",
    ),
    "bad_utf8_in_json_field": (
        gzip.compress(b'{"Records": [{"requestParameters": {"a": "\xff"}}]}'),
        "UTF-8",
    ),
    "nested_too_deep": (
        gzip.compress(b'{"Records": [{"requestParameters": ' + b"[" * 5000 + b"]" * 5000 + b"}]}"),
        "deep",
    ),
}


DAY = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/09/"
NAME = "111122223333_CloudTrail_us-east-1_20240309T0000Z_aaaaaaaaaaaaaaaa.json.gz"
HOSTILE: dict[str, str] = {
    f"{DAY}../../../../../../../tmp/{NAME}": "expected <account>",
    f"{DAY}..%2F..%2F{NAME}": "naming pattern",
    "AWSLogs/111122223333/CloudTrail/us-east-1/2024/02/30/"
    + NAME.replace("20240309", "20240230"): "calendar",
    "AWSLogs/111122223333/CloudTrail/us-east-1/２０２４/03/09/" + NAME: "YYYY/MM/DD",
    "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/09/sub/" + NAME: "expected <account>",
    "AWSLogs/1111222233334/CloudTrail/us-east-1/2024/03/09/" + NAME: "not an account or organization",
    "AWSLogs/111122223333/CloudTrail/us-east-1\u202e/2024/03/09/" + NAME: "not a region folder",
    f"{DAY}111122223333_CloudTrail_us-east-1_20240309T0000Z_aaaaaaaaaaaaaaaa.json.gz.exe": "naming pattern",
}


def bad_key(i: int) -> str:
    when = dt.datetime(2024, 3, 9, 12, i, tzinfo=dt.UTC)
    return log_key("111122223333", "us-east-1", when, f"BROKEN{i:010d}")


@pytest.fixture
def broken_bucket(s3_client: Any, bucket: str) -> tuple[str, Manifest, dict[str, str]]:
    manifest = write_trail(small_spec(), s3_sink(s3_client, bucket))
    reasons: dict[str, str] = {}
    for i, (body, reason) in enumerate(CASES.values()):
        key = bad_key(i)
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)
        reasons[key] = reason
    for key in HOSTILE:
        s3_client.put_object(Bucket=bucket, Key=key, Body=encode_log([{"eventID": "hostile"}]))
    s3_client.put_object(Bucket=bucket, Key="/AWSLogs/111122223333/x.json.gz", Body=b"absolute")
    s3_client.put_object(Bucket=bucket, Key=DAY, Body=b"")  # a zero-byte "folder" object
    return bucket, manifest, reasons


def test_every_broken_case_is_quarantined_and_the_rest_goes_on(
    broken_bucket: tuple[str, Manifest, dict[str, str]],
    s3_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket, manifest, reasons = broken_bucket
    work = tmp_path / "cwd"
    work.mkdir()
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("TMPDIR", str(scratch))
    lake = tmp_path / "lake"
    runner = CliRunner()
    args = [
        "ingest",
        f"s3://{bucket}",
        "--lake",
        str(lake),
        "--endpoint-url",
        s3_endpoint,
        "--json",
        "--max-decompressed-mb",
        "2",
        "--max-records",
        "50",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 3, result.output
    summary = json.loads(result.stdout)
    assert summary["files_failed"] == len(CASES)
    assert (summary["events"], summary["insight_events"]) == (manifest.events, manifest.insight_events)

    failed = runner.invoke(app, ["state", "failed", "--lake", str(lake), "--json"])
    assert failed.exit_code == 0
    entries = {e["key"]: e for e in json.loads(failed.stdout)}
    assert set(entries) == set(reasons)
    for key, reason in reasons.items():
        assert reason in entries[key]["reason"], (key, entries[key]["reason"])
        assert isinstance(entries[key]["attempts"], int) and entries[key]["attempts"] == 1
        assert entries[key]["reason"].startswith(f"s3://{bucket}/{key}: ")
    # Hostile keys are skipped with their reason, never read, never a path.
    skipped = {k["key"]: k["reason"] for k in summary["skipped"]}
    for key, reason in HOSTILE.items():
        listed_as = next((k for k in skipped if key.startswith(k) or k == key), None)
        assert listed_as is not None, key
        assert reason in skipped[listed_as], (key, skipped[listed_as])
    assert query(lake, "SELECT count(*) FROM events WHERE eventID = 'hostile'") == [(0,)]
    # Quarantined whole: not even the good record of a half-good file is in the lake.
    assert query(
        lake, "SELECT count(*) FROM events WHERE eventID IN ('good-one', 'inside-a-broken-file')"
    ) == [(0,)]
    assert query(lake, "SELECT count(*) FROM events")[0][0] == manifest.events
    # Nothing written outside the lake: not the working directory, not the temp directory, not beside the lake.
    assert list(work.iterdir()) == [] and list(scratch.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "lake", "tmpdir"]

    again = runner.invoke(app, args)
    assert again.exit_code == 3
    entries = {
        e["key"]: e
        for e in json.loads(runner.invoke(app, ["state", "failed", "--lake", str(lake), "--json"]).stdout)
    }
    assert {e["attempts"] for e in entries.values()} == {2}
    assert json.loads(again.stdout)["events"] == 0


def test_a_repaired_file_is_ingested_and_leaves_the_quarantine(
    broken_bucket: tuple[str, Manifest, dict[str, str]], s3_client: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    bucket, manifest, reasons = broken_bucket
    lake = tmp_path / "lake"
    runner = CliRunner()
    args = ["ingest", f"s3://{bucket}", "--lake", str(lake), "--endpoint-url", s3_endpoint, "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 3
    # With the default caps the small bomb and the 60-record file are fine; everything else is quarantined.
    failed = {f["key"] for f in json.loads(first.stdout)["failures"]}
    assert len(failed) == len(reasons) - 2
    for key in failed:
        s3_client.put_object(Bucket=bucket, Key=key, Body=encode_log([{"eventID": f"repaired-{key[-20:]}"}]))
    fixed = runner.invoke(app, args)
    assert fixed.exit_code == 0, fixed.stdout
    assert json.loads(fixed.stdout)["events"] == len(failed)
    assert json.loads(runner.invoke(app, ["state", "failed", "--lake", str(lake), "--json"]).stdout) == []
    assert query(lake, "SELECT count(*) FROM events WHERE eventID LIKE 'repaired-%'")[0][0] == len(failed)
    assert query(lake, "SELECT count(*) FROM events")[0][0] == manifest.events + len(failed) + 60


def test_an_object_deleted_between_listing_and_reading(
    s3_client: Any, bucket: str, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trailduck.scanner.s3 import S3Source

    manifest = write_trail(small_spec(insights=False), s3_sink(s3_client, bucket))
    victim = manifest.keys[0]
    real_read = S3Source.read

    def read_after_delete(self: S3Source, key: str) -> bytes:
        if key == victim:
            s3_client.delete_object(Bucket=bucket, Key=key)  # deleted after it was listed
        return real_read(self, key)

    monkeypatch.setattr(S3Source, "read", read_after_delete)
    lake = tmp_path / "lake"
    runner = CliRunner()
    args = ["ingest", f"s3://{bucket}", "--lake", str(lake), "--endpoint-url", s3_endpoint, "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 3  # a CloudTrail file vanishing deserves an alert, once
    failures = json.loads(first.stdout)["failures"]
    assert [f["key"] for f in failures] == [victim] and "gone" in failures[0]["reason"]
    assert query(lake, "SELECT count(*) FROM events")[0][0] == manifest.events - len(
        manifest.records_by_key[victim]
    )
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and json.loads(second.stdout)["gone"] == [victim]
    assert json.loads(runner.invoke(app, ["state", "failed", "--lake", str(lake), "--json"]).stdout) == []


def whitespace_bomb(size: int) -> bytes:
    """A gzip object that inflates to ``size`` bytes of JSON whitespace (valid JSON, zero records).

    Built from one deflate block repeated: after a full flush every block is independent, so this takes
    milliseconds where compressing gigabytes would take a minute. The trailer's CRC is left zero: a decoder
    that honours its cap never reaches it.
    """
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(b'{"Records": [') + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(b" " * (1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.compress(b"]}") + c.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return (
        header + head + block * (size >> 20) + tail + b"\x00" * 4 + (size & 0xFFFFFFFF).to_bytes(4, "little")
    )


def test_the_default_cap_refuses_4_gib_of_whitespace() -> None:
    bomb = whitespace_bomb(4 << 30)
    assert len(bomb) < 8 << 20
    with pytest.raises(BadObjectError, match="gzip bomb"):
        decompress(bomb)  # default limits


def test_the_bomb_builder_really_builds_valid_json() -> None:
    small = whitespace_bomb(3 << 20)
    d = zlib.decompressobj(-15)
    body = d.decompress(small[10:-8])
    assert d.eof and len(body) == (3 << 20) + 15
    assert split_records(body) == []
    with pytest.raises(BadObjectError, match="gzip bomb"):
        decompress(whitespace_bomb(16 << 20), Limits(max_decompressed_bytes=1 << 20))


def test_local_sources_never_follow_symbolic_links(tmp_path: Path) -> None:
    from trailduck.ingestion.run import IngestOptions, ingest

    outside = tmp_path / "outside"
    write_trail(
        small_spec(accounts=["999999999999"], org_id=None, insights=False),
        folder_sink(outside),
    )
    root = tmp_path / "bucket"
    manifest = write_trail(
        small_spec(org_id=None, insights=False),
        folder_sink(root),
    )
    # A linked account folder and a linked file inside a real day folder: both point outside the source.
    os.symlink(outside / "AWSLogs" / "999999999999", root / "AWSLogs" / "999999999999")
    linked = root / bad_key(0)
    os.symlink(next((outside / "AWSLogs").rglob("*.json.gz")), linked)
    fifo = root / bad_key(1)
    os.mkfifo(fifo)  # reading it would block forever
    summary = ingest(IngestOptions(source=str(root), lake=tmp_path / "lake"))
    assert summary.events == manifest.events and summary.files_failed == 0
    assert query(tmp_path / "lake", "SELECT count(*) FROM events WHERE account = '999999999999'") == [(0,)]
    skipped = {s["key"]: s["reason"] for s in summary.skipped}
    assert "symbolic link" in skipped[linked.relative_to(root).as_posix()]
    assert "not a regular file" in skipped[fifo.relative_to(root).as_posix()]


def test_odd_but_valid_values_are_kept_not_quarantined(tmp_path: Path) -> None:
    from trailduck.ingestion.run import IngestOptions, ingest
    from trailduck.synthetic.generator import folder_sink

    root = tmp_path / "bucket"
    records = [
        {"eventID": "year-one", "eventTime": "0001-01-01T00:00:00+05:00"},  # out of range once in UTC
        {"eventID": "far-future", "eventTime": "9999-12-31T23:59:59-01:00"},
        {"eventID": "big-number", "requestParameters": {"n": 123456789012345678901234567890}},
        {"eventID": "nul", "userAgent": "a\u0000b"},
    ]
    folder_sink(root)(bad_key(1), encode_log(records))
    summary = ingest(IngestOptions(source=str(root), lake=tmp_path / "lake"))
    assert summary.exit_code == 0 and summary.events == 4
    rows = query(tmp_path / "lake", "SELECT eventID, eventTime, date FROM events ORDER BY eventID")
    assert [(r[0], r[1], r[2]) for r in rows if r[0] in ("year-one", "far-future")] == [
        ("far-future", None, "2024-03-09"),
        ("year-one", None, "2024-03-09"),
    ]


def test_a_file_arrow_refuses_is_quarantined_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure inside a batch of many files (here forced) falls back to converting file by file."""
    import trailduck.ingestion.share as share_module
    from trailduck.ingestion.run import IngestOptions, ingest
    from trailduck.synthetic.generator import folder_sink

    root = tmp_path / "bucket"
    for i in range(5):
        folder_sink(root)(bad_key(i), encode_log([{"eventID": f"f{i}-{j}"} for j in range(3)]))
    guilty = bad_key(2)
    real = share_module.build_table

    def picky(files: list[Any], **kw: Any) -> Any:
        if any(f.source_key == guilty for f in files):
            raise ValueError("simulated Arrow failure")
        return real(files, **kw)

    monkeypatch.setattr(share_module, "build_table", picky)
    summary = ingest(IngestOptions(source=str(root), lake=tmp_path / "lake"))
    assert summary.exit_code == 3 and [f["key"] for f in summary.failures] == [guilty]
    assert (summary.files_converted, summary.events) == (4, 12)
    assert query(tmp_path / "lake", "SELECT count(*) FROM events")[0][0] == 12

"""Real public CloudTrail events, laid out as a bucket in a folder and on the S3 server, ingested and compared.

Always: the MIT-licensed OTRF events in tests/data. Also, when the shared samples folder is beside the checkout,
the AWS documentation examples (not in this repository).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import NOW, SHARED, lay_out, query, sample_lines
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.scanner.s3 import S3Source
from trailduck.synthetic.generator import folder_sink, s3_sink

TYPED = {
    "eventName": "eventName",
    "eventSource": "eventSource",
    "awsRegion": "awsRegion",
    "sourceIPAddress": "sourceIPAddress",
    "userAgent": "userAgent",
    "errorCode": "errorCode",
    "errorMessage": "errorMessage",
    "requestID": "requestID",
    "eventID": "eventID",
    "eventType": "eventType",
    "recipientAccountId": "recipientAccountId",
    "eventCategory": "eventCategory",
}


def check_lake(lake: Path, lines: list[str]) -> None:
    stored = [r[0] for r in query(lake, "SELECT event_json::VARCHAR FROM events")]
    assert sorted(stored) == sorted(lines)  # every record once, byte for byte
    cols = ", ".join(TYPED.values())
    rows = query(
        lake,
        f"SELECT event_json::VARCHAR, {cols}, userIdentity.type, userIdentity.arn, "
        "userIdentity.sessionContext.sessionIssuer.userName, "
        "strftime(eventTime, '%Y-%m-%dT%H:%M:%SZ'), readOnly, requestParameters::VARCHAR, "
        "responseElements::VARCHAR, to_json(resources)::VARCHAR FROM events",
    )
    for row in rows:
        ev: dict[str, Any] = json.loads(row[0])
        ident = ev.get("userIdentity") or {}
        issuer = ((ident.get("sessionContext") or {}).get("sessionIssuer") or {}).get("userName")
        expected = [ev.get(k) for k in TYPED] + [
            ident.get("type"),
            ident.get("arn"),
            issuer,
            ev.get("eventTime"),
        ]
        assert list(row[1 : len(expected) + 1]) == expected
        read_only, params, response, resources = row[len(expected) + 1 :]
        assert read_only == {True: True, False: False, "true": True, "false": False}.get(ev.get("readOnly"))
        assert (json.loads(params) if params else None) == ev.get("requestParameters")
        assert (json.loads(response) if response else None) == ev.get("responseElements")
        if ev.get("resources") is not None:
            assert json.loads(resources) == [
                {k: r.get(k) for k in ("ARN", "accountId", "type")} for r in ev["resources"]
            ]


def test_real_events_local_and_s3(s3_client: Any, bucket: str, tmp_path: Path) -> None:
    lines = sample_lines()
    assert len(lines) >= 103
    objects = lay_out(lines)
    put_local, put_s3 = folder_sink(tmp_path / "copy"), s3_sink(s3_client, bucket)
    for key, body in objects.items():
        put_local(key, body)
        put_s3(key, body)
    lake_local, lake_s3 = tmp_path / "lake-local", tmp_path / "lake-s3"
    local = ingest(IngestOptions(source=str(tmp_path / "copy"), lake=lake_local), now=NOW)
    remote = ingest(
        IngestOptions(source=f"s3://{bucket}", lake=lake_s3), source=S3Source(s3_client, bucket), now=NOW
    )
    assert local.files_failed == remote.files_failed == 0
    assert local.events == remote.events == len(lines)
    check_lake(lake_local, lines)
    check_lake(lake_s3, lines)
    sql = "SELECT * EXCLUDE (event_json), event_json::VARCHAR FROM events ORDER BY source_key, event_json"
    assert query(lake_local, sql) == query(lake_s3, sql)
    # Events exported without eventTime land on their file's day.
    otrf = query(
        lake_local, "SELECT count(*), count(eventTime) FROM events WHERE event_json->>'@version' = '1'"
    )
    assert otrf == [(103, 0)]
    for lake, src, source in (
        (lake_local, str(tmp_path / "copy"), None),
        (lake_s3, f"s3://{bucket}", S3Source(s3_client, bucket)),
    ):
        again = ingest(IngestOptions(source=src, lake=lake), source=source, now=NOW)
        assert (again.files_new, again.files_converted) == (0, 0)


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared samples folder is not beside this checkout")
def test_shared_samples_are_included() -> None:
    assert len(sample_lines()) > 200

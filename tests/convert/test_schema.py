"""The events view's schema contract, on events of every awkward shape, through a real ingest."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import NOW, connect, query
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.synthetic.generator import encode_log, log_key

ACCOUNT = "000000000000"  # must stay a string: DuckDB would otherwise guess the integer 0
DELIVERED = dt.datetime(2024, 3, 9, 0, 5, tzinfo=dt.UTC)

EVENTS: list[dict[str, Any]] = [
    {  # 0: a full modern event
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAX:alice",
            "arn": "arn:aws:sts::000000000000:assumed-role/R/a",
            "accountId": ACCOUNT,
            "accessKeyId": "ASIAX",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAX",
                    "arn": "arn:aws:iam::0:role/R",
                    "accountId": ACCOUNT,
                    "userName": "R",
                },
                "webIdFederationData": {
                    "federatedProvider": "arn:aws:iam::0:oidc-provider/x",
                    "attributes": {"aud": "sts"},
                },
                "attributes": {"creationDate": "2024-03-08T23:00:00Z", "mfaAuthenticated": "false"},
                "sourceIdentity": "alice@example.com",
                "ec2RoleDelivery": "2.0",
                "assumedRoot": "true",
            },
            "onBehalfOf": {"userId": "u-1", "identityStoreArn": "arn:aws:identitystore::0:identitystore/d-1"},
        },
        "eventTime": "2024-03-08T23:59:30Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.1",
        "userAgent": "aws-cli/2",
        "requestParameters": {"bucketName": "b", "key": "k", "nested": {"list": [1, "two", None]}},
        "responseElements": None,
        "additionalEventData": {"bytesTransferredOut": 42},
        "requestID": "R1",
        "eventID": "E0",
        "readOnly": True,
        "resources": [
            {"ARN": "arn:aws:s3:::b/k", "type": "AWS::S3::Object"},
            {"ARN": "arn:aws:s3:::b", "accountId": ACCOUNT, "type": "AWS::S3::Bucket"},
        ],
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Data",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "b.s3.amazonaws.com",
        },
        "addendum": {
            "reason": "DELIVERY_DELAY",
            "updatedFields": "",
            "originalRequestID": "",
            "originalEventID": "",
        },
        "sessionCredentialFromConsole": "true",
    },
    {  # 1: requestParameters absent, readOnly a string, an unknown top-level field
        "eventTime": "2024-03-09T00:01:00Z",
        "eventID": "E1",
        "eventName": "Decrypt",
        "readOnly": "true",
        "managementEvent": "false",
        "futureField": {"x": [1, 2]},
        "userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"},
    },
    {  # 2: requestParameters a string, readOnly "maybe", eventTime missing, non-ASCII
        "eventID": "E2",
        "requestParameters": "name=café ✓",
        "readOnly": "maybe",
        "responseElements": {"message": "Ünïcødé 测试", "Tag": "a", "tag": ["b"]},
        "errorMessage": "Zugriff verweigert für Jörg",
    },
    {  # 3: odd types where strings belong, eventTime unparseable, userIdentity not an object
        "eventID": "E3",
        "eventTime": "yesterday",
        "eventName": 42,
        "errorCode": {"code": 1},
        "userIdentity": "not-an-object",
        "resources": [{"ARN": 7}, "junk"],
        "requestParameters": [1, 2],
        "serviceEventDetails": {"a": 1},
        "edgeDeviceDetails": "edge",
        "insightDetails": None,
    },
    {},  # 4: an empty record is still a record
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("schema")
    trail = root / "bucket"
    key = log_key(ACCOUNT, "us-east-1", DELIVERED, "abcdEFGH12345678")
    path = trail / key
    path.parent.mkdir(parents=True)
    path.write_bytes(encode_log(EVENTS))
    lake = root / "lake"
    summary = ingest(IngestOptions(source=str(trail), lake=lake), now=NOW)
    assert summary.events == len(EVENTS) and summary.files_failed == 0
    return lake


def row(lake: Path, event_id: str | None, columns: str) -> tuple[Any, ...]:
    where = "event_json::VARCHAR = '{}'" if event_id is None else f"eventID = '{event_id}'"
    rows = query(lake, f"SELECT {columns} FROM events WHERE {where}")
    assert len(rows) == 1
    return rows[0]


def test_column_types(lake: Path) -> None:
    con = connect(lake)
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall())
    con.close()
    assert types["eventTime"] == "TIMESTAMP WITH TIME ZONE"
    assert types["readOnly"] == types["managementEvent"] == "BOOLEAN"
    for name in (
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "serviceEventDetails",
        "insightDetails",
        "edgeDeviceDetails",
        "event_json",
    ):
        assert types[name] == "JSON", name
    for name in ("account", "region", "date", "eventName", "source_key", "sessionCredentialFromConsole"):
        assert types[name] == "VARCHAR", name
    assert types["userIdentity"].startswith("STRUCT(")
    assert types["resources"] == 'STRUCT(ARN VARCHAR, accountId VARCHAR, "type" VARCHAR)[]'
    assert types["tlsDetails"].startswith("STRUCT(tlsVersion VARCHAR")
    assert types["addendum"].startswith("STRUCT(reason VARCHAR")


def test_every_record_once_with_its_original_json(lake: Path) -> None:
    stored = [json.loads(r[0]) for r in query(lake, "SELECT event_json FROM events")]
    assert sorted(map(json.dumps, stored)) == sorted(map(json.dumps, EVENTS))


def test_nested_identity_fields(lake: Path) -> None:
    got = row(
        lake,
        "E0",
        "userIdentity.arn, userIdentity.sessionContext.sessionIssuer.userName, "
        "userIdentity.sessionContext.attributes.mfaAuthenticated, "
        "userIdentity.sessionContext.webIdFederationData.attributes, "
        "userIdentity.sessionContext.sourceIdentity, userIdentity.onBehalfOf.userId, "
        "tlsDetails.tlsVersion, addendum.reason, resources[2].accountId, len(resources)",
    )
    assert got == (
        "arn:aws:sts::000000000000:assumed-role/R/a",
        "R",
        "false",
        '{"aud":"sts"}',
        "alice@example.com",
        "u-1",
        "TLSv1.3",
        "DELIVERY_DELAY",
        ACCOUNT,
        2,
    )


def test_time_and_partitions(lake: Path) -> None:
    # E0 happened before midnight: its partition is the event's UTC day, not the file's delivery day.
    assert row(lake, "E0", "eventTime, date, account, region") == (
        dt.datetime(2024, 3, 8, 23, 59, 30, tzinfo=dt.UTC),
        "2024-03-08",
        ACCOUNT,
        "us-east-1",
    )
    # No or unparseable eventTime: NULL, and the partition is the file's day.
    assert row(lake, "E2", "eventTime, date") == (None, "2024-03-09")
    assert row(lake, "E3", "eventTime, date") == (None, "2024-03-09")


def test_booleans(lake: Path) -> None:
    assert row(lake, "E0", "readOnly, managementEvent") == (True, False)
    assert row(lake, "E1", "readOnly, managementEvent") == (True, False)  # the strings "true"/"false" count
    assert row(lake, "E2", "readOnly, event_json->>'readOnly'") == (None, "maybe")  # the truth stays in JSON


def test_variable_fields_are_json_whatever_their_shape(lake: Path) -> None:
    assert row(lake, "E0", "requestParameters->>'$.nested.list[1]', responseElements IS NULL") == (
        "two",
        True,
    )
    assert row(lake, "E1", "requestParameters IS NULL, event_json->>'$.futureField.x[1]'") == (True, "2")
    assert row(lake, "E2", "json_type(requestParameters), requestParameters->>'$'") == (
        "VARCHAR",
        "name=café ✓",
    )
    assert row(
        lake, "E3", "json_type(requestParameters), serviceEventDetails->>'a', edgeDeviceDetails->>'$'"
    ) == ("ARRAY", "1", "edge")


def test_values_that_do_not_fit_are_kept_faithfully(lake: Path) -> None:
    assert row(lake, "E3", "eventName, errorCode, userIdentity IS NULL, resources[1].ARN, resources[2]") == (
        "42",
        '{"code":1}',
        True,
        "7",
        None,
    )


def test_non_ascii(lake: Path) -> None:
    assert row(lake, "E2", "responseElements->>'message', errorMessage") == (
        "Ünïcødé 测试",
        "Zugriff verweigert für Jörg",
    )
    assert row(lake, "E2", "responseElements->>'Tag', responseElements->'tag'") == ("a", '["b"]')


def test_empty_record_and_lineage(lake: Path) -> None:
    assert row(
        lake, None, "eventID, source_key LIKE 'AWSLogs/000000000000/CloudTrail/us-east-1/2024/03/09/%'"
    ) == (None, True)

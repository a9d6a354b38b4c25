"""trailduck setup against the test server's S3, STS, Organizations and CloudTrail (moto, over HTTP)."""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

import boto3
import botocore.exceptions
import pytest
from typer.testing import CliRunner

from trailduck import trail_setup
from trailduck.cli.app import app
from trailduck.errors import AwsAccessDeniedError, AwsError, ConfigError, SourceError
from trailduck.trail_setup import SetupOptions, bucket_policy, client_factory, reader_policy, setup_trail

_names = itertools.count()


@pytest.fixture
def names() -> tuple[str, str]:
    n = next(_names)
    return f"setup-logs-{n}-{os.getpid()}", f"trail-{n}"


def run(args: list[str]) -> Any:
    return CliRunner().invoke(app, ["setup", *args])


def test_setup_twice_the_second_run_changes_nothing(s3_endpoint: str, names: tuple[str, str]) -> None:
    bucket, trail = names
    args = ["--bucket", bucket, "--trail", trail, "--endpoint-url", s3_endpoint, "--region", "eu-west-1"]
    first = run([*args, "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["changed"] is True
    assert {s["outcome"] for s in report["steps"]} == {"created"}

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="eu-west-1")
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    account = boto3.client("sts", endpoint_url=s3_endpoint).get_caller_identity()["Account"]
    arn = f"arn:aws:cloudtrail:eu-west-1:{account}:trail/{trail}"
    write = next(s for s in policy["Statement"] if s["Sid"] == "AWSCloudTrailWrite")
    assert write["Resource"] == f"arn:aws:s3:::{bucket}/AWSLogs/{account}/*"
    assert write["Condition"]["StringEquals"]["aws:SourceArn"] == arn
    ct = boto3.client("cloudtrail", endpoint_url=s3_endpoint, region_name="eu-west-1")
    described = ct.get_trail(Name=trail)["Trail"]
    assert described["IsMultiRegionTrail"] and described["LogFileValidationEnabled"]
    assert described["S3BucketName"] == bucket
    assert ct.get_trail_status(Name=trail)["IsLogging"]

    second = run(args)
    assert second.exit_code == 0, second.output
    assert "no changes" in second.stdout
    again = json.loads(run([*args, "--json"]).stdout)
    assert again["changed"] is False
    assert {s["outcome"] for s in again["steps"]} == {"unchanged"}


def test_setup_repairs_what_drifted_and_keeps_other_policy_statements(
    s3_endpoint: str, names: tuple[str, str]
) -> None:
    bucket, trail = names
    options = SetupOptions(bucket, trail, "us-east-1")
    clients = client_factory("us-east-1", endpoint_url=s3_endpoint)
    setup_trail(options, clients)
    s3, ct = clients("s3"), clients("cloudtrail")
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    policy["Statement"].append(
        {
            "Sid": "SomeoneElses",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:DeleteObject",
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    ct.update_trail(Name=trail, EnableLogFileValidation=False)
    ct.stop_logging(Name=trail)
    result = setup_trail(options, clients)
    outcomes = dict(result.steps)
    assert outcomes[f"trail {trail}"] == "updated"
    assert outcomes["logging"] == "created"
    assert outcomes["bucket policy for CloudTrail"] == "unchanged"  # ours are there; theirs is kept
    assert ct.get_trail(Name=trail)["Trail"]["LogFileValidationEnabled"]
    sids = {s["Sid"] for s in json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]}
    assert sids == {"AWSCloudTrailAclCheck", "AWSCloudTrailWrite", "SomeoneElses"}


def test_an_organization_trail_with_a_kms_key(s3_endpoint: str, names: tuple[str, str]) -> None:
    bucket, trail = names
    clients = client_factory("us-east-1", endpoint_url=s3_endpoint)
    org = clients("organizations")
    try:
        org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    except org.exceptions.AlreadyInOrganizationException:
        org_id = org.describe_organization()["Organization"]["Id"]
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    result = setup_trail(SetupOptions(bucket, trail, "us-east-1", organization=True, kms_key=key), clients)
    write = next(s for s in result.bucket_policy["Statement"] if s["Sid"] == "AWSCloudTrailWrite")
    assert f"arn:aws:s3:::{bucket}/AWSLogs/{org_id}/*" in write["Resource"]
    described = clients("cloudtrail").get_trail(Name=trail)["Trail"]
    assert described["IsOrganizationTrail"] and described["KmsKeyId"] == key
    rule = clients("s3").get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    decrypt = next(s for s in result.reader_policy["Statement"] if s["Sid"] == "DecryptSseKmsObjects")
    assert decrypt["Resource"] == key


def test_dry_run_calls_nothing_and_prints_the_policies(names: tuple[str, str]) -> None:
    bucket, trail = names
    # No endpoint and no credentials that work: any call would fail, so a clean exit proves none was made.
    res = run(["--bucket", bucket, "--trail", trail, "--dry-run", "--region", "eu-west-1"])
    assert res.exit_code == 0, res.output
    assert "dry run" in res.stdout and "AWSCloudTrailWrite" in res.stdout and "ListPublicKeys" in res.stdout
    report = json.loads(run(["--bucket", bucket, "--trail", trail, "--dry-run", "--json"]).stdout)
    assert report["dry_run"] is True and report["changed"] is False
    assert report["bucket_policy"]["Statement"][0]["Resource"] == f"arn:aws:s3:::{bucket}"


def test_reader_policy_is_least_privilege() -> None:
    policy = reader_policy(SetupOptions("logs-bucket", "main"))
    actions = {s["Action"] for s in policy["Statement"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "cloudtrail:ListPublicKeys"}
    listing = next(s for s in policy["Statement"] if s["Action"] == "s3:ListBucket")
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["AWSLogs/", "AWSLogs/*"]
    reads = next(s for s in policy["Statement"] if s["Action"] == "s3:GetObject")["Resource"]
    assert all(r.startswith("arn:aws:s3:::logs-bucket/AWSLogs/") for r in reads)
    assert any(r.endswith("/CloudTrail-Digest/*") for r in reads)
    assert "Principal" not in json.dumps(policy)
    assert bucket_policy(SetupOptions("b-b-b", "t1t"), "123456789012", None)["Statement"][1]["Condition"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--bucket", "Bad_Bucket", "--trail", "main"], "--bucket"),
        (["--bucket", "ok-bucket", "--trail", "x"], "--trail"),
        (["--bucket", "ok-bucket", "--trail", "main", "--kms-key", "alias/mine"], "--kms-key"),
    ],
)
def test_bad_options_get_a_message(args: list[str], needle: str) -> None:
    res = run([*args, "--dry-run"])
    assert res.exit_code == 2
    assert needle in res.output and "Traceback" not in res.output


def test_setup_without_clients_outside_a_dry_run_is_refused() -> None:
    with pytest.raises(ConfigError):
        setup_trail(SetupOptions("ok-bucket", "main"))


def _refusing(service: str, operation: str, code: str, clients: Any) -> Any:
    """``clients``, except that ``service``'s ``operation`` fails with the AWS error ``code``."""

    class Refusing:
        def __init__(self, client: Any) -> None:
            self.client = client

        def __getattr__(self, name: str) -> Any:
            if name != operation:
                return getattr(self.client, name)

            def refuse(**_: Any) -> None:
                answer = {
                    "Error": {"Code": code, "Message": "no"},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                }
                raise botocore.exceptions.ClientError(answer, operation)

            return refuse

    return lambda name: Refusing(clients(name)) if name == service else clients(name)


@pytest.mark.parametrize(
    ("service", "operation", "code", "needs"),
    [
        ("sts", "get_caller_identity", "AccessDenied", "sts:GetCallerIdentity on *"),
        (
            "organizations",
            "describe_organization",
            "AccessDeniedException",
            "organizations:DescribeOrganization",
        ),
        ("s3", "put_bucket_policy", "AccessDenied", "s3:PutBucketPolicy on arn:aws:s3:::{bucket}"),
        ("cloudtrail", "create_trail", "AccessDeniedException", "cloudtrail:CreateTrail on {trail_arn}"),
        ("cloudtrail", "start_logging", "AccessDeniedException", "cloudtrail:StartLogging on {trail_arn}"),
    ],
)
def test_a_refused_setup_call_names_the_permission_and_is_not_a_source_error(
    s3_endpoint: str, names: tuple[str, str], service: str, operation: str, code: str, needs: str
) -> None:
    bucket, trail = names
    clients = client_factory("us-east-1", endpoint_url=s3_endpoint)
    account = clients("sts").get_caller_identity()["Account"]
    trail_arn = f"arn:aws:cloudtrail:us-east-1:{account}:trail/{trail}"
    options = SetupOptions(bucket, trail, "us-east-1", organization=service == "organizations")
    with pytest.raises(AwsAccessDeniedError) as info:
        setup_trail(options, _refusing(service, operation, code, clients))
    assert not isinstance(info.value, SourceError)  # setting up a trail is not reading the trail source
    assert f"{code} " in str(info.value)
    assert f"the caller needs {needs.format(bucket=bucket, trail_arn=trail_arn)}" in str(info.value)


def test_other_setup_failures_are_aws_errors_and_the_cli_exits_1(
    s3_endpoint: str, names: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket, trail = names
    clients = client_factory("us-east-1", endpoint_url=s3_endpoint)
    failing = _refusing("cloudtrail", "get_trail", "InternalError", clients)
    with pytest.raises(AwsError) as info:
        setup_trail(SetupOptions(bucket, trail, "us-east-1"), failing)
    assert not isinstance(info.value, SourceError)
    assert f"InternalError reading trail {trail}: no" in str(info.value)

    monkeypatch.setattr(
        trail_setup,
        "client_factory",
        lambda *_: _refusing("sts", "get_caller_identity", "AccessDenied", clients),
    )
    res = run(["--bucket", bucket, "--trail", trail, "--region", "us-east-1"])
    assert res.exit_code == 1
    assert "AccessDenied reading the caller's account: the caller needs sts:GetCallerIdentity" in res.stderr
    assert "Traceback" not in res.output


def test_an_unknown_profile_is_a_usage_error_not_a_traceback(names: tuple[str, str]) -> None:
    bucket, trail = names
    res = run(["--bucket", bucket, "--trail", trail, "--profile", "no-such-profile"])
    assert res.exit_code == 2
    assert "AWS profile 'no-such-profile' not found" in res.stderr and "Traceback" not in res.output

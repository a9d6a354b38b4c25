"""``trailduck setup``: create the bucket and the trail that trailduck reads, idempotently.

What the article's first half does with code, without its SNS/SQS part (trailduck scans the bucket instead):
an S3 bucket with public access blocked and default encryption, a bucket policy that lets CloudTrail (and only
for this trail, through ``aws:SourceArn``) check the bucket's ACL and write under ``AWSLogs/``, and a
multi-region trail with log file validation on, logging. Every step first reads what is there and changes only
what differs, so a second run changes nothing and says so. A dry run prints the plan and the policies without
calling AWS.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import botocore.exceptions

from trailduck.errors import AwsFault, ConfigError, aws_code, aws_fault, from_aws

log = logging.getLogger(__name__)

_BUCKET_RE = r"(?=.{3,63}$)[a-z0-9][a-z0-9.-]*[a-z0-9]"
_TRAIL_RE = r"[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]"
#: Placeholders a dry run prints where only AWS can tell the value.
ACCOUNT_PLACEHOLDER = "<your-account-id>"
ORG_PLACEHOLDER = "<your-organization-id>"


@dataclass(frozen=True)
class SetupOptions:
    bucket: str
    trail: str
    region: str = "us-east-1"
    organization: bool = False
    kms_key: str | None = None
    dry_run: bool = False

    def validate(self) -> None:
        if not re.fullmatch(_BUCKET_RE, self.bucket) or ".." in self.bucket:
            raise ConfigError(
                f"--bucket {self.bucket!r}: a bucket name is 3-63 lowercase letters, digits, dots and hyphens"
            )
        if not re.fullmatch(_TRAIL_RE, self.trail) or any(
            p in self.trail for p in ("..", "._", "_.", "-.", ".-")
        ):
            raise ConfigError(
                f"--trail {self.trail!r}: a trail name is 3-128 letters, digits, dots, underscores and hyphens, "
                "starting and ending with a letter or digit"
            )
        if self.kms_key is not None and not self.kms_key.startswith("arn:"):
            raise ConfigError(
                f"--kms-key {self.kms_key!r}: give the key's ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"
            )


def trail_arn(options: SetupOptions, account: str) -> str:
    return f"arn:aws:cloudtrail:{options.region}:{account}:trail/{options.trail}"


def bucket_policy(options: SetupOptions, account: str, org_id: str | None) -> dict[str, Any]:
    """The policy CloudTrail needs on the bucket, limited to this trail through ``aws:SourceArn``."""
    arn = trail_arn(options, account)
    writes = [f"arn:aws:s3:::{options.bucket}/AWSLogs/{account}/*"]
    if options.organization:
        writes.append(f"arn:aws:s3:::{options.bucket}/AWSLogs/{org_id or ORG_PLACEHOLDER}/*")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSCloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": f"arn:aws:s3:::{options.bucket}",
                "Condition": {"StringEquals": {"aws:SourceArn": arn}},
            },
            {
                "Sid": "AWSCloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": writes if len(writes) > 1 else writes[0],
                "Condition": {
                    "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": arn}
                },
            },
        ],
    }


def reader_policy(options: SetupOptions) -> dict[str, Any]:
    """Least privilege for ``trailduck ingest`` and ``trailduck verify`` on this bucket."""
    objects = [
        f"arn:aws:s3:::{options.bucket}/AWSLogs/*/{kind}/*"
        for kind in ("CloudTrail", "CloudTrail-Insight", "CloudTrail-Digest")
    ]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ListTheTrail",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{options.bucket}",
            "Condition": {"StringLike": {"s3:prefix": ["AWSLogs/", "AWSLogs/*"]}},
        },
        {"Sid": "ReadLogAndDigestFiles", "Effect": "Allow", "Action": "s3:GetObject", "Resource": objects},
        {
            "Sid": "DigestValidation",
            "Effect": "Allow",
            "Action": "cloudtrail:ListPublicKeys",
            "Resource": "*",
        },
    ]
    if options.kms_key:
        statements.append(
            {
                "Sid": "DecryptSseKmsObjects",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": options.kms_key,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{options.region}.amazonaws.com"}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


class Outcome(StrEnum):
    """What setup did to one step (its value is what ``setup --json`` prints)."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    #: A dry run: what a real run would make sure of.
    WOULD_ENSURE = "would ensure"


#: Outcomes that changed something in the account.
CHANGES = frozenset({Outcome.CREATED, Outcome.UPDATED})


@dataclass
class SetupResult:
    """What setup did (or, in a dry run, would do), step by step."""

    bucket: str
    trail: str
    region: str
    dry_run: bool
    account: str
    trail_arn: str
    #: (step, what happened).
    steps: list[tuple[str, Outcome]] = field(default_factory=list)
    bucket_policy: dict[str, Any] = field(default_factory=dict)
    reader_policy: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(outcome in CHANGES for _, outcome in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "trail": self.trail,
            "trail_arn": self.trail_arn,
            "region": self.region,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "steps": [{"step": step, "outcome": outcome} for step, outcome in self.steps],
            "bucket_policy": self.bucket_policy,
            "reader_policy": self.reader_policy,
        }


#: Makes a boto3 client for a service name (``s3``, ``cloudtrail``, ``sts``, ``organizations``).
ClientFactory = Callable[[str], Any]
#: What a boto3 call raises: an AWS error answer, or botocore's own (no credentials, a broken connection).
_AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


def client_factory(region: str, profile: str | None = None, endpoint_url: str | None = None) -> ClientFactory:
    session = _session(profile, region)
    return lambda service: session.client(service, endpoint_url=endpoint_url)


def default_region(profile: str | None = None) -> str:
    """The region of the profile (or of ``AWS_REGION`` / ``AWS_DEFAULT_REGION``), else us-east-1."""
    return _session(profile, None).region_name or "us-east-1"


def _session(profile: str | None, region: str | None) -> Any:
    import boto3

    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except _AWS_ERRORS as exc:
        raise from_aws(exc, where="opening an AWS session") from exc


def setup_trail(options: SetupOptions, clients: ClientFactory | None = None) -> SetupResult:
    """Ensure the bucket, its policy and the trail; ``clients`` is needed unless it is a dry run."""
    options.validate()
    if options.dry_run:
        account = ACCOUNT_PLACEHOLDER
        result = SetupResult(
            options.bucket, options.trail, options.region, True, account, trail_arn(options, account)
        )
        result.bucket_policy = bucket_policy(options, account, None)
        result.reader_policy = reader_policy(options)
        result.steps = [(step, Outcome.WOULD_ENSURE) for step in _planned_steps(options)]
        return result
    if clients is None:
        raise ConfigError("setup needs AWS clients unless it is a dry run")
    with _translated("reading the caller's account", "sts:GetCallerIdentity", "*"):
        account = clients("sts").get_caller_identity()["Account"]
    org_id = None
    if options.organization:
        with _translated("reading the organization", "organizations:DescribeOrganization", "*"):
            org_id = clients("organizations").describe_organization()["Organization"]["Id"]
    result = SetupResult(
        options.bucket, options.trail, options.region, False, account, trail_arn(options, account)
    )
    result.bucket_policy = bucket_policy(options, account, org_id)
    result.reader_policy = reader_policy(options)
    s3 = clients("s3")
    result.steps.append(("bucket " + options.bucket, _ensure_bucket(s3, options)))
    result.steps.append(("public access block", _ensure_public_access_block(s3, options.bucket)))
    result.steps.append(("default encryption", _ensure_encryption(s3, options)))
    result.steps.append(
        ("bucket policy for CloudTrail", _ensure_policy(s3, options.bucket, result.bucket_policy))
    )
    cloudtrail = clients("cloudtrail")
    result.steps.append((f"trail {options.trail}", _ensure_trail(cloudtrail, options, result.trail_arn)))
    result.steps.append(("logging", _ensure_logging(cloudtrail, options.trail, result.trail_arn)))
    return result


def _planned_steps(options: SetupOptions) -> list[str]:
    return [
        f"bucket {options.bucket} (create if absent, in {options.region})",
        "public access block (all four settings on)",
        "default encryption (" + (f"SSE-KMS with {options.kms_key}" if options.kms_key else "SSE-S3") + ")",
        "bucket policy for CloudTrail (below)",
        f"trail {options.trail}: multi-region, global service events, log file validation on"
        + (", organization trail" if options.organization else "")
        + (f", encrypted with {options.kms_key}" if options.kms_key else ""),
        "logging started",
    ]


@contextmanager
def _translated(where: str, action: str, resource: str) -> Iterator[None]:
    """A failed AWS call becomes an :class:`~trailduck.errors.AwsError` naming what was being done and the
    permission it needs."""
    try:
        yield
    except _AWS_ERRORS as exc:
        raise from_aws(exc, where=where, action=action, resource=resource) from exc


def _bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def _ensure_bucket(s3: Any, options: SetupOptions) -> Outcome:
    bucket = options.bucket
    try:
        s3.head_bucket(Bucket=bucket)
        return Outcome.UNCHANGED
    except _AWS_ERRORS as exc:
        if aws_fault(exc) not in (AwsFault.NOT_FOUND, AwsFault.NO_BUCKET):
            raise from_aws(
                exc,
                where=f"checking bucket {bucket}",
                action="s3:ListBucket",
                resource=_bucket_arn(bucket),
                if_denied="or another account owns the bucket: then choose another --bucket",
            ) from exc
    with _translated(f"creating bucket {bucket}", "s3:CreateBucket", _bucket_arn(bucket)):
        kwargs: dict[str, Any] = {"Bucket": options.bucket}
        if options.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": options.region}
        s3.create_bucket(**kwargs)
    return Outcome.CREATED


_BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def _ensure_public_access_block(s3: Any, bucket: str) -> Outcome:
    try:
        current = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except _AWS_ERRORS as exc:
        if aws_code(exc) != "NoSuchPublicAccessBlockConfiguration":
            raise from_aws(
                exc,
                where=f"reading the public access block of {bucket}",
                action="s3:GetBucketPublicAccessBlock",
                resource=_bucket_arn(bucket),
            ) from exc
        current = None
    if current == _BLOCK_ALL:
        return Outcome.UNCHANGED
    with _translated(
        f"blocking public access to {bucket}", "s3:PutBucketPublicAccessBlock", _bucket_arn(bucket)
    ):
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=_BLOCK_ALL)
    return Outcome.CREATED if current is None else Outcome.UPDATED


def _encryption_rule(options: SetupOptions) -> dict[str, Any]:
    if options.kms_key:
        return {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": options.kms_key,
            },
            "BucketKeyEnabled": True,
        }
    return {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}


def _ensure_encryption(s3: Any, options: SetupOptions) -> Outcome:
    wanted = _encryption_rule(options)
    try:
        rules = s3.get_bucket_encryption(Bucket=options.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except _AWS_ERRORS as exc:
        if aws_code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
            raise from_aws(
                exc,
                where=f"reading the encryption of {options.bucket}",
                action="s3:GetEncryptionConfiguration",
                resource=_bucket_arn(options.bucket),
            ) from exc
        rules = None
    if (
        rules
        and rules[0].get("ApplyServerSideEncryptionByDefault") == wanted["ApplyServerSideEncryptionByDefault"]
    ):
        return Outcome.UNCHANGED
    with _translated(
        f"setting default encryption on {options.bucket}",
        "s3:PutEncryptionConfiguration",
        _bucket_arn(options.bucket),
    ):
        s3.put_bucket_encryption(Bucket=options.bucket, ServerSideEncryptionConfiguration={"Rules": [wanted]})
    return Outcome.CREATED if not rules else Outcome.UPDATED


def _ensure_policy(s3: Any, bucket: str, policy: dict[str, Any]) -> Outcome:
    """Our two statements, by Sid, in the bucket's policy; any other statement there is kept."""
    try:
        current = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except _AWS_ERRORS as exc:
        if aws_code(exc) != "NoSuchBucketPolicy":
            raise from_aws(
                exc,
                where=f"reading the policy of {bucket}",
                action="s3:GetBucketPolicy",
                resource=_bucket_arn(bucket),
            ) from exc
        current = None
    ours = {s["Sid"]: s for s in policy["Statement"]}
    if current is not None:
        theirs = [s for s in current.get("Statement", []) if s.get("Sid") not in ours]
        present = {s.get("Sid"): s for s in current.get("Statement", []) if s.get("Sid") in ours}
        if present == ours:
            return Outcome.UNCHANGED
        merged = {**current, "Statement": theirs + list(ours.values())}
    else:
        merged = policy
    with _translated(f"writing the policy of {bucket}", "s3:PutBucketPolicy", _bucket_arn(bucket)):
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(merged))
    return Outcome.CREATED if current is None else Outcome.UPDATED


def _ensure_trail(cloudtrail: Any, options: SetupOptions, arn: str) -> Outcome:
    wanted: dict[str, Any] = {
        "S3BucketName": options.bucket,
        "IncludeGlobalServiceEvents": True,
        "IsMultiRegionTrail": True,
        "EnableLogFileValidation": True,
        "IsOrganizationTrail": options.organization,
    }
    if options.kms_key:
        wanted["KmsKeyId"] = options.kms_key
    try:
        trail = cloudtrail.get_trail(Name=options.trail)["Trail"]
    except _AWS_ERRORS as exc:
        if aws_code(exc) != "TrailNotFoundException":
            raise from_aws(
                exc, where=f"reading trail {options.trail}", action="cloudtrail:GetTrail", resource=arn
            ) from exc
        with _translated(f"creating trail {options.trail}", "cloudtrail:CreateTrail", arn):
            cloudtrail.create_trail(Name=options.trail, **wanted)
        return Outcome.CREATED
    current = {
        "S3BucketName": trail.get("S3BucketName"),
        "IncludeGlobalServiceEvents": trail.get("IncludeGlobalServiceEvents"),
        "IsMultiRegionTrail": trail.get("IsMultiRegionTrail"),
        "EnableLogFileValidation": trail.get("LogFileValidationEnabled"),
        "IsOrganizationTrail": bool(trail.get("IsOrganizationTrail")),
    }
    if options.kms_key:
        current["KmsKeyId"] = trail.get("KmsKeyId")
    if current == wanted:
        return Outcome.UNCHANGED
    with _translated(f"updating trail {options.trail}", "cloudtrail:UpdateTrail", arn):
        cloudtrail.update_trail(Name=options.trail, **wanted)
    return Outcome.UPDATED


def _ensure_logging(cloudtrail: Any, trail: str, arn: str) -> Outcome:
    with _translated(f"reading the status of trail {trail}", "cloudtrail:GetTrailStatus", arn):
        if cloudtrail.get_trail_status(Name=trail).get("IsLogging"):
            return Outcome.UNCHANGED
    with _translated(f"starting trail {trail}", "cloudtrail:StartLogging", arn):
        cloudtrail.start_logging(Name=trail)
    return Outcome.CREATED

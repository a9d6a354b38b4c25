"""A deterministic synthetic CloudTrail trail: the demo's data and the test suite's fixtures.

It lays out objects exactly as CloudTrail does (``AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/``),
gzipped ``{"Records": [...]}`` files whose names carry the delivery time, events a few minutes older than their
file (so some land on the previous day), an organization trail, Insights files and digest files. The events
cover the variety real trails have: console sign-ins with and without MFA and failed ones, assumed roles with
session context, root activity, IAM, EC2 network changes, KMS, S3 data events, service events, access denied
errors, TLS details, requestParameters that are null, absent, objects or strings, and non-ASCII text.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import random
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from trailduck.synthetic.signer import DigestChain, LogFileInfo, SigningKey, demo_signing_key, hourly_digests

Record = dict[str, Any]


class Sink(Protocol):
    """Stores one object; ``metadata`` is its S3 user metadata (a digest's signature)."""

    def __call__(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None: ...


_ALNUM = string.ascii_letters + string.digits
_IPS = ["203.0.113.17", "198.51.100.23", "192.0.2.44", "203.0.113.200", "198.51.100.7"]
_AGENTS = [
    "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 prompt/off command/s3.ls",
    "Boto3/1.34.20 md/Botocore#1.34.20 ua/2.0 os/linux lang/python#3.11.7",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15",
    "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux api/ec2#1.141.0",
    "console.amazonaws.com",
]


@dataclass
class TrailSpec:
    """What trail to generate. The defaults make a small but varied multi-account trail."""

    accounts: list[str] = field(default_factory=lambda: ["111122223333", "444455556666"])
    org_id: str | None = "o-a1b2c3d4e5"
    org_accounts: list[str] = field(default_factory=lambda: ["777788889999"])
    regions: list[str] = field(default_factory=lambda: ["us-east-1", "eu-west-1"])
    end: dt.date = dt.date(2024, 3, 10)
    days: int = 3
    files_per_day: int = 4
    events_per_file: tuple[int, int] = (5, 40)
    insights: bool = True
    #: Signed hourly digest files for the log files (the ``CloudTrail-Digest`` folders), one chain per stream.
    digests: bool = True
    digest_every: dt.timedelta = dt.timedelta(hours=1)
    #: The key the digests are signed with; None: one generated per process (:func:`demo_signing_key`).
    signing_key: SigningKey | None = None
    #: The bucket name written into the digests (``digestS3Bucket``, ``s3Bucket``).
    bucket: str = "trailduck-demo"
    trail: str = "management"
    #: Also one file of events planted for the detections, matches and near misses (see detection_cases).
    detections: bool = False
    prefix: str = ""
    seed: int = 7


@dataclass
class GeneratedFile:
    key: str
    body: bytes
    records: list[Record]
    planted: list[PlantedEvent] = field(default_factory=list)
    #: S3 user metadata: a digest's signature.
    metadata: dict[str, str] | None = None


@dataclass
class Manifest:
    """What was generated: enough for a test to know the exact expected lake."""

    files: int = 0
    events: int = 0
    insight_events: int = 0
    digests: int = 0
    keys: list[str] = field(default_factory=list)
    digest_keys: list[str] = field(default_factory=list)
    #: The key the digests were signed with (its ``public_key_list()`` is the ``--public-keys`` file).
    signing_key: SigningKey | None = None
    records_by_key: dict[str, list[Record]] = field(default_factory=dict)
    planted: list[PlantedEvent] = field(default_factory=list)


def rand_suffix(rng: random.Random) -> str:
    return "".join(rng.choice(_ALNUM) for _ in range(16))


def log_key(
    account: str,
    region: str,
    delivered: dt.datetime,
    suffix: str,
    org_id: str | None = None,
    kind: str = "CloudTrail",
) -> str:
    org = f"{org_id}/" if org_id else ""
    return (
        f"AWSLogs/{org}{account}/{kind}/{region}/{delivered:%Y/%m/%d}/"
        f"{account}_{kind}_{region}_{delivered:%Y%m%dT%H%MZ}_{suffix}.json.gz"
    )


def encode_log(records: list[Record]) -> bytes:
    """A CloudTrail log object: compact JSON, gzip with a fixed mtime so output is reproducible."""
    text = json.dumps({"Records": records}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return gzip.compress(text, mtime=0)


class EventFactory:
    """Builds realistic events for one account and region."""

    def __init__(self, rng: random.Random, account: str, region: str) -> None:
        self.rng = rng
        self.account = account
        self.region = region

    # -- identities ----------------------------------------------------------------------------------------
    def _iam_user(self, name: str | None = None) -> Record:
        name = name or self.rng.choice(["alice", "bob", "carol", "deploy-bot", "jörg"])
        return {
            "type": "IAMUser",
            "principalId": "AIDA" + "".join(self.rng.choice(string.ascii_uppercase) for _ in range(16)),
            "arn": f"arn:aws:iam::{self.account}:user/{name}",
            "accountId": self.account,
            "accessKeyId": "AKIA" + "".join(self.rng.choice(string.ascii_uppercase) for _ in range(16)),
            "userName": name,
        }

    def _assumed_role(self, when: dt.datetime) -> Record:
        role = self.rng.choice(["Admin", "ReadOnly", "ci-deployer", "lambda-exec"])
        session = self.rng.choice(["alice", "i-0abc1234def567890", "GitHubActions", "botocore-session-1"])
        rid = "AROA" + "".join(self.rng.choice(string.ascii_uppercase) for _ in range(16))
        return {
            "type": "AssumedRole",
            "principalId": f"{rid}:{session}",
            "arn": f"arn:aws:sts::{self.account}:assumed-role/{role}/{session}",
            "accountId": self.account,
            "accessKeyId": "ASIA" + "".join(self.rng.choice(string.ascii_uppercase) for _ in range(16)),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": rid,
                    "arn": f"arn:aws:iam::{self.account}:role/{role}",
                    "accountId": self.account,
                    "userName": role,
                },
                "webIdFederationData": {},
                "attributes": {
                    "creationDate": (when - dt.timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "mfaAuthenticated": self.rng.choice(["true", "false"]),
                },
                **({"ec2RoleDelivery": "2.0"} if session.startswith("i-") else {}),
            },
        }

    def _root(self, invoked_by: str | None = None) -> Record:
        ident: Record = {
            "type": "Root",
            "principalId": self.account,
            "arn": f"arn:aws:iam::{self.account}:root",
            "accountId": self.account,
            "accessKeyId": "",
        }
        if invoked_by:
            ident["invokedBy"] = invoked_by
        return ident

    def _service(self, service: str) -> Record:
        return {"type": "AWSService", "invokedBy": service}

    # -- events --------------------------------------------------------------------------------------------
    def _base(self, when: dt.datetime, source: str, name: str, identity: Record, **extra: Any) -> Record:
        rec: Record = {
            "eventVersion": self.rng.choice(["1.08", "1.09", "1.10", "1.11"]),
            "userIdentity": identity,
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": name,
            "awsRegion": self.region,
            "sourceIPAddress": self.rng.choice(_IPS),
            "userAgent": self.rng.choice(_AGENTS),
            "requestParameters": None,
            "responseElements": None,
            "requestID": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "eventID": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": self.account,
            "eventCategory": "Management",
        }
        if self.rng.random() < 0.6:
            rec["tlsDetails"] = {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": source.replace("amazonaws.com", f"{self.region}.amazonaws.com"),
            }
        rec.update(extra)
        return rec

    def console_login(self, when: dt.datetime) -> Record:
        ok = self.rng.random() < 0.75
        mfa = self.rng.choice(["Yes", "No"]) if ok else "No"
        user = self.rng.choice(["alice", "bob", "carol", "mallory"])
        rec = self._base(
            when,
            "signin.amazonaws.com",
            "ConsoleLogin",
            self._iam_user(user),
            eventType="AwsConsoleSignIn",
            requestParameters=None,
            responseElements={"ConsoleLogin": "Success" if ok else "Failure"},
            additionalEventData={
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": mfa,
            },
        )
        rec.pop("tlsDetails", None)
        if not ok:
            rec["errorMessage"] = "Failed authentication"
            rec["userIdentity"].pop("accessKeyId", None)
        return rec

    def assume_role(self, when: dt.datetime) -> Record:
        role = self.rng.choice(["Admin", "ReadOnly", "ci-deployer"])
        return self._base(
            when,
            "sts.amazonaws.com",
            "AssumeRole",
            self._iam_user(),
            requestParameters={
                "roleArn": f"arn:aws:iam::{self.account}:role/{role}",
                "roleSessionName": "session-" + rand_suffix(self.rng)[:6],
                "durationSeconds": 3600,
            },
            responseElements={
                "credentials": {
                    "accessKeyId": "ASIA"
                    + "".join(self.rng.choice(string.ascii_uppercase) for _ in range(16)),
                    "sessionToken": "IQoJb3JpZ2luX2VjE" + rand_suffix(self.rng) * 4,
                    "expiration": "Jan 1, 2030, 12:00:00 AM",
                },
                "assumedRoleUser": {"assumedRoleId": "AROAEXAMPLE:session", "arn": "arn:aws:sts::x"},
            },
            resources=[
                {
                    "ARN": f"arn:aws:iam::{self.account}:role/{role}",
                    "accountId": self.account,
                    "type": "AWS::IAM::Role",
                }
            ],
            readOnly=True,
        )

    def s3_get(self, when: dt.datetime) -> Record:
        bucket = self.rng.choice(["prod-data", "logs-archive", "customer-exports"])
        key = self.rng.choice(["reports/2024/q1.csv", "exports/bericht-über-café.json", "a/b/c.parquet"])
        return self._base(
            when,
            "s3.amazonaws.com",
            self.rng.choice(["GetObject", "PutObject", "HeadObject"]),
            self._assumed_role(when),
            requestParameters={"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com", "key": key},
            additionalEventData={
                "SignatureVersion": "SigV4",
                "bytesTransferredIn": 0,
                "bytesTransferredOut": self.rng.randint(10, 10**6),
            },
            resources=[
                {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                {"accountId": self.account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
            ],
            readOnly=True,
            managementEvent=False,
            eventCategory="Data",
        )

    def ec2_describe(self, when: dt.datetime) -> Record:
        return self._base(
            when,
            "ec2.amazonaws.com",
            self.rng.choice(["DescribeInstances", "DescribeVpcs", "DescribeRegions"]),
            self._assumed_role(when),
            requestParameters={"maxResults": 1000, "filterSet": {}, "instancesSet": {}},
            readOnly=True,
        )

    def network_change(self, when: dt.datetime) -> Record:
        name = self.rng.choice(
            [
                "AuthorizeSecurityGroupIngress",
                "CreateRoute",
                "CreateVpc",
                "CreateNetworkAclEntry",
                "AttachInternetGateway",
                "DeleteSecurityGroup",
            ]
        )
        return self._base(
            when,
            "ec2.amazonaws.com",
            name,
            self._assumed_role(when),
            requestParameters={
                "groupId": "sg-0123456789abcdef0",
                "ipPermissions": {
                    "items": [
                        {
                            "ipProtocol": "tcp",
                            "fromPort": 22,
                            "toPort": 22,
                            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                        }
                    ]
                },
            },
            responseElements={"_return": True},
        )

    def iam_change(self, when: dt.datetime) -> Record:
        name = self.rng.choice(
            ["CreateUser", "CreateAccessKey", "PutUserPolicy", "AttachRolePolicy", "DeleteRolePolicy"]
        )
        rec = self._base(
            when,
            "iam.amazonaws.com",
            name,
            self._iam_user("alice"),
            awsRegion="us-east-1",
            requestParameters={
                "userName": self.rng.choice(["svc-backup", "temp-contractor"]),
                "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
            },
            responseElements={"user": {"userName": "svc-backup", "createDate": "Mar 1, 2024 10:00:00 AM"}},
        )
        return rec

    def access_denied(self, when: dt.datetime) -> Record:
        source, name, code = self.rng.choice(
            [
                ("s3.amazonaws.com", "ListBuckets", "AccessDenied"),
                ("secretsmanager.amazonaws.com", "GetSecretValue", "AccessDenied"),
                ("ec2.amazonaws.com", "TerminateInstances", "Client.UnauthorizedOperation"),
                ("iam.amazonaws.com", "CreateUser", "AccessDenied"),
            ]
        )
        return self._base(
            when,
            source,
            name,
            self._assumed_role(when),
            errorCode=code,
            errorMessage=f"User: arn:aws:sts::{self.account}:assumed-role/ReadOnly/x is not authorized",
        )

    def root_activity(self, when: dt.datetime) -> Record:
        return self._base(
            when,
            "iam.amazonaws.com",
            self.rng.choice(["GetAccountSummary", "ListUsers", "CreateAccessKey"]),
            self._root(),
            readOnly=True,
            sourceIPAddress="198.51.100.99",
        )

    def kms_service(self, when: dt.datetime) -> Record:
        rec = self._base(
            when,
            "kms.amazonaws.com",
            "Decrypt",
            self._service("s3.amazonaws.com"),
            sourceIPAddress="s3.amazonaws.com",
            userAgent="s3.amazonaws.com",
            requestParameters={
                "encryptionContext": {"aws:s3:arn": "arn:aws:s3:::prod-data/x"},
                "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            },
            readOnly="true",  # seen in real data: a string, not a JSON boolean
            sharedEventID=str(uuid.UUID(int=self.rng.getrandbits(128))),
        )
        rec["resources"] = [
            {
                "accountId": self.account,
                "type": "AWS::KMS::Key",
                "ARN": f"arn:aws:kms:{self.region}:{self.account}:key/1234abcd-12ab-34cd-56ef",
            }
        ]
        return rec

    def service_event(self, when: dt.datetime) -> Record:
        rec = self._base(
            when,
            "cloudtrail.amazonaws.com",
            "CloudTrailDigestDelivery" if self.rng.random() < 0.5 else "StopLogging",
            self._service("cloudtrail.amazonaws.com"),
            eventType="AwsServiceEvent",
            serviceEventDetails={"status": "ok", "count": 3},
        )
        del rec["requestParameters"]
        del rec["responseElements"]
        return rec

    def odd_shapes(self, when: dt.datetime) -> Record:
        """Shapes real data has: requestParameters as a string, a new field, unicode, addendum."""
        rec = self._base(
            when,
            "lambda.amazonaws.com",
            "Invoke",
            self._assumed_role(when),
            requestParameters="functionName=reporting ✓",
            responseElements={"message": "Ünïcødé 测试 ✓", "Tag": "a", "tag": ["b"]},
            addendum={
                "reason": "DELIVERY_DELAY",
                "updatedFields": "",
                "originalRequestID": "",
                "originalEventID": "",
            },
            someFutureField={"nested": [1, 2, 3]},
        )
        return rec

    def event(self, when: dt.datetime) -> Record:
        kinds = [
            (self.ec2_describe, 30),
            (self.s3_get, 25),
            (self.assume_role, 12),
            (self.kms_service, 8),
            (self.console_login, 6),
            (self.access_denied, 6),
            (self.network_change, 4),
            (self.iam_change, 4),
            (self.root_activity, 2),
            (self.service_event, 2),
            (self.odd_shapes, 1),
        ]
        fn = self.rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]
        return fn(when)

    def insight(self, when: dt.datetime) -> Record:
        return {
            "eventVersion": "1.08",
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "awsRegion": self.region,
            "eventID": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "eventType": "AwsCloudTrailInsight",
            "recipientAccountId": self.account,
            "sharedEventID": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "insightDetails": {
                "state": self.rng.choice(["Start", "End"]),
                "eventSource": "ec2.amazonaws.com",
                "eventName": "RunInstances",
                "insightType": "ApiCallRateInsight",
                "insightContext": {
                    "statistics": {"baseline": {"average": 0.01}, "insight": {"average": 2.5}}
                },
            },
            "eventCategory": "Insight",
        }


@dataclass
class PlantedEvent:
    """An event planted for the detections, with the ids of every detection it must match (none for a near
    miss): the tests hold the views to exactly these counts."""

    record: Record
    matches: frozenset[str]


def detection_cases(rng: random.Random, account: str, region: str, start: dt.datetime) -> list[PlantedEvent]:
    """For every detection, events that match it and near misses that must not, one minute apart from
    ``start`` (the failed sign-in bursts are seconds apart)."""
    f = EventFactory(rng, account, region)
    out: list[PlantedEvent] = []
    clock = [start]

    def at(step: dt.timedelta = dt.timedelta(minutes=1)) -> dt.datetime:
        clock[0] += step
        return clock[0]

    def plant(matches: str, source: str, name: Any, identity: Record | None = None, **extra: Any) -> Record:
        when = extra.pop("when", None) or at()
        rec = f._base(when, source, name, identity or f._iam_user("planted-admin"), **extra)
        for key, value in list(rec.items()):
            if value is _ABSENT:
                del rec[key]
        out.append(PlantedEvent(rec, frozenset(m for m in matches.split() if m)))
        return rec

    def login(matches: str, identity: Record, result: str, mfa: Any = _ABSENT, **extra: Any) -> Record:
        rec = plant(
            matches,
            "signin.amazonaws.com",
            "ConsoleLogin",
            identity,
            eventType="AwsConsoleSignIn",
            responseElements={"ConsoleLogin": result},
            **extra,
        )
        if mfa is not _ABSENT:
            rec["additionalEventData"] = {"LoginTo": "https://console.aws.amazon.com/", "MFAUsed": mfa}
        return rec

    user = f._iam_user
    # 4.1 unauthorized API calls
    plant("cis-4.1", "s3.amazonaws.com", "ListBuckets", errorCode="AccessDenied")
    plant("cis-4.1", "ec2.amazonaws.com", "TerminateInstances", errorCode="Client.UnauthorizedOperation")
    plant("cis-4.1", "kms.amazonaws.com", "Decrypt", errorCode="AccessDeniedException")
    plant(
        "",
        "s3.amazonaws.com",
        "PutObject",
        errorCode="AccessDenied",
        sourceIPAddress="delivery.logs.amazonaws.com",
    )
    plant("", "s3.amazonaws.com", "HeadBucket", errorCode="AccessDenied")
    plant("", "s3.amazonaws.com", "ListBuckets", errorCode="accessdenied")  # comparisons are case-sensitive
    plant("", "s3.amazonaws.com", "ListBuckets", errorCode=403)  # a number never matches
    plant(
        "", "s3.amazonaws.com", "ListBuckets", errorCode="AccessDenied", sourceIPAddress=_ABSENT
    )  # != on absent
    plant("", "s3.amazonaws.com", "ListBuckets", errorCode="AccessDenied", sourceIPAddress=None)  # != on null
    plant(
        "", "s3.amazonaws.com", "ListBuckets", errorCode="AccessDenied", sourceIPAddress=12345
    )  # != on a number
    # 4.2 console sign-in without MFA (and 4.6 failed authentication)
    login("cis-4.2", user("dave"), "Success", "No")
    login("cis-4.2", user("erin"), "Success", "no")  # anything but "Yes"
    login("", user("frank"), "Success", "Yes")
    login("", user("grace"), "Success")  # no MFAUsed at all: not a finding (the base pattern)
    login("", user("heidi"), "Success", False)  # not a string
    failed = {"errorMessage": "Failed authentication"}
    login("cis-4.2 cis-4.6", user("ivan"), "Failure", "No", **failed)
    login("", user("judy"), "Failure", **{"errorMessage": "failed authentication"})
    # 4.3 root account usage
    plant("cis-4.3", "iam.amazonaws.com", "GetAccountSummary", f._root())
    root_null = f._root()
    root_null["invokedBy"] = None  # NOT EXISTS holds for null
    plant("cis-4.3", "iam.amazonaws.com", "ListUsers", root_null)
    plant("", "s3.amazonaws.com", "GetBucketAcl", f._root(invoked_by="cloudtrail.amazonaws.com"))
    plant("", "iam.amazonaws.com", "GetAccountSummary", f._root(), eventType="AwsServiceEvent")
    plant("", "iam.amazonaws.com", "GetAccountSummary", f._root(), eventType=_ABSENT)  # != on absent
    lower = f._root()
    lower["type"] = "root"
    plant("", "iam.amazonaws.com", "GetAccountSummary", lower)
    login("cis-4.3 td-root-console-login", f._root(), "Success", "Yes")
    # 4.4 IAM policy changes
    plant("cis-4.4", "iam.amazonaws.com", "PutUserPolicy")
    plant("cis-4.4", "iam.amazonaws.com", "AttachRolePolicy")
    plant("cis-4.4", "iam.amazonaws.com", "CreatePolicy")
    plant("", "iam.amazonaws.com", "GetUserPolicy")
    plant("", "iam.amazonaws.com", "putuserpolicy")
    # 4.5 CloudTrail configuration changes
    plant("cis-4.5", "cloudtrail.amazonaws.com", "StopLogging")
    plant("cis-4.5", "cloudtrail.amazonaws.com", "DeleteTrail")
    plant("", "cloudtrail.amazonaws.com", "GetTrailStatus")
    # 4.7 KMS keys
    plant("cis-4.7", "kms.amazonaws.com", "DisableKey")
    plant("cis-4.7", "kms.amazonaws.com", "ScheduleKeyDeletion")
    plant("", "kms.amazonaws.com", "EnableKey")
    plant("", "cloudhsm.amazonaws.com", "DisableKey")
    # 4.8 S3 bucket policies
    plant("cis-4.8", "s3.amazonaws.com", "PutBucketPolicy")
    plant("cis-4.8", "s3.amazonaws.com", "DeleteBucketCors")
    plant("", "s3.amazonaws.com", "GetBucketPolicy")
    plant("", "s3-outposts.amazonaws.com", "PutBucketPolicy")
    # 4.9 AWS Config
    plant("cis-4.9", "config.amazonaws.com", "StopConfigurationRecorder")
    plant("", "config.amazonaws.com", "DescribeConfigurationRecorders")
    # 4.10 to 4.14 network
    plant("cis-4.10", "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress")
    plant("", "ec2.amazonaws.com", "DescribeSecurityGroups")
    plant("cis-4.11", "ec2.amazonaws.com", "CreateNetworkAclEntry")
    plant("", "ec2.amazonaws.com", "DescribeNetworkAcls")
    plant("cis-4.12", "ec2.amazonaws.com", "CreateInternetGateway")
    plant("", "ec2.amazonaws.com", "DescribeInternetGateways")
    plant("cis-4.13", "ec2.amazonaws.com", "CreateRoute")
    plant("", "networkmanager.amazonaws.com", "CreateRoute")  # a route change by a non-EC2 source
    plant("cis-4.14", "ec2.amazonaws.com", "CreateVpc")
    plant("", "ec2.amazonaws.com", "DescribeVpcs")
    plant("", "ec2.amazonaws.com", {"name": "CreateVpc"})  # an object never matches
    # 4.15 Organizations
    plant("cis-4.15", "organizations.amazonaws.com", "CreateAccount")
    plant("cis-4.4 cis-4.15", "organizations.amazonaws.com", "CreatePolicy")  # both lists name CreatePolicy
    plant("", "organizations.amazonaws.com", "ListAccounts")
    # trailduck's own
    plant("td-new-access-key", "iam.amazonaws.com", "CreateAccessKey")
    plant("cis-4.1", "iam.amazonaws.com", "CreateAccessKey", errorCode="AccessDenied")
    plant("td-new-iam-user", "iam.amazonaws.com", "CreateUser")
    plant("cis-4.1", "iam.amazonaws.com", "CreateUser", errorCode="AccessDenied")
    # Failed sign-in bursts: 6 in 5 minutes (the 5th and 6th complete a burst), 4 in 4 minutes, 5 in 48 minutes.
    for who, count, gap in (("mallory", 6, 60), ("trent", 4, 60), ("oscar", 5, 12 * 60)):
        identity = user(who)
        first = at()
        for i in range(count):
            matches = "cis-4.2 cis-4.6" + (" td-failed-login-burst" if who == "mallory" and i >= 4 else "")
            login(
                matches,
                identity,
                "Failure",
                "No",
                when=first + dt.timedelta(seconds=i * gap),
                sourceIPAddress="203.0.113.66",
                **failed,
            )
        at(dt.timedelta(seconds=count * gap))
    return out


_ABSENT: Any = object()


def generate(spec: TrailSpec) -> Iterator[GeneratedFile]:
    """Every object of the trail, in a deterministic order."""
    rng = random.Random(spec.seed)
    owners: list[tuple[str | None, str]] = [(None, a) for a in spec.accounts]
    if spec.org_id:
        owners += [(spec.org_id, a) for a in spec.org_accounts]
    first = spec.end - dt.timedelta(days=spec.days - 1)
    #: Per stream, the log files delivered, for its digests (written last, after the planted file).
    delivered_logs: dict[tuple[str | None, str, str], list[tuple[dt.datetime, LogFileInfo]]] = {}
    for org, account in owners:
        for region in spec.regions:
            factory = EventFactory(rng, account, region)
            stream_logs = delivered_logs.setdefault((org, account, region), [])
            for offset in range(spec.days):
                day = first + dt.timedelta(days=offset)
                for i in range(spec.files_per_day):
                    minute = (i * 1440 // spec.files_per_day) + rng.randint(
                        0, max(0, 1440 // spec.files_per_day - 1)
                    )
                    delivered = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(
                        minutes=minute
                    )
                    n = rng.randint(*spec.events_per_file)
                    records = [
                        factory.event(delivered - dt.timedelta(seconds=rng.randint(30, 900)))
                        for _ in range(n)
                    ]
                    key = spec.prefix + log_key(account, region, delivered, rand_suffix(rng), org)
                    body = encode_log(records)
                    stream_logs.append((delivered, log_file_info(key, body, records)))
                    yield GeneratedFile(key, body, records)
                if spec.insights and region == spec.regions[0] and offset % 2 == 0:
                    delivered = dt.datetime.combine(day, dt.time(12, 5), tzinfo=dt.UTC)
                    records = [factory.insight(delivered - dt.timedelta(minutes=5))]
                    key = spec.prefix + log_key(
                        account, region, delivered, rand_suffix(rng), org, kind="CloudTrail-Insight"
                    )
                    yield GeneratedFile(key, encode_log(records), records)
    if spec.detections:
        org, account = owners[0]
        region = spec.regions[0]
        delivered = dt.datetime.combine(spec.end, dt.time(6, 0), tzinfo=dt.UTC)
        planted = detection_cases(rng, account, region, delivered - dt.timedelta(hours=3))
        records = [p.record for p in planted]
        key = spec.prefix + log_key(account, region, delivered, rand_suffix(rng), org)
        body = encode_log(records)
        delivered_logs[(org, account, region)].append((delivered, log_file_info(key, body, records)))
        yield GeneratedFile(key, body, records, planted)
    if spec.digests:
        yield from _digests(spec, first, delivered_logs)


def _digests(
    spec: TrailSpec,
    first: dt.date,
    delivered_logs: dict[tuple[str | None, str, str], list[tuple[dt.datetime, LogFileInfo]]],
) -> Iterator[GeneratedFile]:
    """One signed chain per stream. Digests end 30 s past the hour, as CloudTrail's do; the first ends just
    after midnight of the first day, the last one before midnight of the last day, so the files delivered after
    it are not yet covered, as on a live trail."""
    start = dt.datetime.combine(first, dt.time(0, 0, 30), tzinfo=dt.UTC) - dt.timedelta(hours=1)
    last = dt.datetime.combine(spec.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    for (org, account, region), files in delivered_logs.items():
        chain = DigestChain(
            spec.signing_key or demo_signing_key(),
            account,
            region,
            spec.trail,
            spec.regions[0],
            spec.bucket,
            prefix=spec.prefix,
            org_id=org,
        )
        for digest in hourly_digests(chain, files, start, last, spec.digest_every):
            yield GeneratedFile(digest.key, digest.body, [], metadata=digest.metadata)


def log_file_info(key: str, body: bytes, records: list[Record]) -> LogFileInfo:
    """What a digest records about a log file: the SHA-256 of its decompressed text and its event times."""
    times = [dt.datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00")) for r in records]
    return LogFileInfo(
        key,
        hashlib.sha256(gzip.decompress(body)).hexdigest(),
        min(times) if times else None,
        max(times) if times else None,
    )


def write_trail(spec: TrailSpec, sink: Sink) -> Manifest:
    """Generate the trail into ``sink`` and return what it holds."""
    manifest = Manifest(signing_key=(spec.signing_key or demo_signing_key()) if spec.digests else None)
    for f in generate(spec):
        sink(f.key, f.body, f.metadata)
        manifest.keys.append(f.key)
        if "/CloudTrail-Digest/" in f.key:
            manifest.digests += 1
            manifest.digest_keys.append(f.key)
            continue
        manifest.files += 1
        manifest.records_by_key[f.key] = f.records
        manifest.planted += f.planted
        if "/CloudTrail-Insight/" in f.key:
            manifest.insight_events += len(f.records)
        else:
            manifest.events += len(f.records)
    return manifest


def folder_sink(root: Path) -> Sink:
    """Write objects as files below ``root`` (the layout ``aws s3 sync`` leaves); a signature goes into the
    sidecar file ``<key>.signature``, where ``trailduck verify`` looks for it in a folder."""

    def put(key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        if metadata and "signature" in metadata:
            path.with_name(path.name + ".signature").write_text(metadata["signature"] + "\n")

    return put


def s3_sink(client: Any, bucket: str) -> Sink:
    """Upload objects to a bucket through a boto3 client."""

    def put(key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata or {})

    return put

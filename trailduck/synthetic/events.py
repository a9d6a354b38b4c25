"""Realistic CloudTrail events for one account and region: the records a synthetic trail is made of.

The events cover the variety real trails have: console sign-ins with and without MFA and failed ones,
assumed roles with session context, root activity, IAM, EC2 network changes, KMS, S3 data events, service
events, access denied errors, TLS details, requestParameters that are null, absent, objects or strings, and
non-ASCII text.
"""

from __future__ import annotations

import datetime as dt
import random
import string
import uuid
from typing import Any

#: One CloudTrail event, as its JSON object.
Record = dict[str, Any]

_ALNUM = string.ascii_letters + string.digits
_IPS = ["203.0.113.17", "198.51.100.23", "192.0.2.44", "203.0.113.200", "198.51.100.7"]
_AGENTS = [
    "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 prompt/off command/s3.ls",
    "Boto3/1.34.20 md/Botocore#1.34.20 ua/2.0 os/linux lang/python#3.11.7",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15",
    "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux api/ec2#1.141.0",
    "console.amazonaws.com",
]


def rand_suffix(rng: random.Random) -> str:
    """16 random letters and digits, as in a log file's name."""
    return "".join(rng.choice(_ALNUM) for _ in range(16))


class EventFactory:
    """Builds realistic events for one account and region."""

    def __init__(self, rng: random.Random, account: str, region: str) -> None:
        self.rng = rng
        self.account = account
        self.region = region

    # -- identities ----------------------------------------------------------------------------------------
    # The identity builders return a ``userIdentity`` object; the record builders below take one.
    def iam_user(self, name: str | None = None) -> Record:
        """An IAM user with an access key; ``name`` None: one picked at random."""
        name = name or self.rng.choice(["alice", "bob", "carol", "deploy-bot", "jörg"])
        return {
            "type": "IAMUser",
            "principalId": "AIDA" + "".join(self.rng.choice(string.ascii_uppercase) for _ in range(16)),
            "arn": f"arn:aws:iam::{self.account}:user/{name}",
            "accountId": self.account,
            "accessKeyId": "AKIA" + "".join(self.rng.choice(string.ascii_uppercase) for _ in range(16)),
            "userName": name,
        }

    def assumed_role(self, when: dt.datetime) -> Record:
        """A session of a random role, with its session context (begun 20 minutes before ``when``)."""
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

    def root(self, invoked_by: str | None = None) -> Record:
        """The account's root user; ``invoked_by``: the AWS service acting as it."""
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

    def service(self, service: str) -> Record:
        """An AWS service acting on its own (``invokedBy`` the service's host name)."""
        return {"type": "AWSService", "invokedBy": service}

    # -- events --------------------------------------------------------------------------------------------
    def record(self, when: dt.datetime, source: str, name: str, identity: Record, **extra: Any) -> Record:
        """A management API call by ``identity``, random where CloudTrail varies; ``extra`` sets or replaces
        top-level fields."""
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
        rec = self.record(
            when,
            "signin.amazonaws.com",
            "ConsoleLogin",
            self.iam_user(user),
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
        return self.record(
            when,
            "sts.amazonaws.com",
            "AssumeRole",
            self.iam_user(),
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
        return self.record(
            when,
            "s3.amazonaws.com",
            self.rng.choice(["GetObject", "PutObject", "HeadObject"]),
            self.assumed_role(when),
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
        return self.record(
            when,
            "ec2.amazonaws.com",
            self.rng.choice(["DescribeInstances", "DescribeVpcs", "DescribeRegions"]),
            self.assumed_role(when),
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
        return self.record(
            when,
            "ec2.amazonaws.com",
            name,
            self.assumed_role(when),
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
        rec = self.record(
            when,
            "iam.amazonaws.com",
            name,
            self.iam_user("alice"),
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
        return self.record(
            when,
            source,
            name,
            self.assumed_role(when),
            errorCode=code,
            errorMessage=f"User: arn:aws:sts::{self.account}:assumed-role/ReadOnly/x is not authorized",
        )

    def root_activity(self, when: dt.datetime) -> Record:
        return self.record(
            when,
            "iam.amazonaws.com",
            self.rng.choice(["GetAccountSummary", "ListUsers", "CreateAccessKey"]),
            self.root(),
            readOnly=True,
            sourceIPAddress="198.51.100.99",
        )

    def kms_service(self, when: dt.datetime) -> Record:
        rec = self.record(
            when,
            "kms.amazonaws.com",
            "Decrypt",
            self.service("s3.amazonaws.com"),
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
        rec = self.record(
            when,
            "cloudtrail.amazonaws.com",
            "CloudTrailDigestDelivery" if self.rng.random() < 0.5 else "StopLogging",
            self.service("cloudtrail.amazonaws.com"),
            eventType="AwsServiceEvent",
            serviceEventDetails={"status": "ok", "count": 3},
        )
        del rec["requestParameters"]
        del rec["responseElements"]
        return rec

    def odd_shapes(self, when: dt.datetime) -> Record:
        """Shapes real data has: requestParameters as a string, a new field, unicode, addendum."""
        rec = self.record(
            when,
            "lambda.amazonaws.com",
            "Invoke",
            self.assumed_role(when),
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

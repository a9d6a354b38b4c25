"""Events planted for the detections: for each detection, events that must match it and near misses that
must not."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from trailduck.synthetic.events import EventFactory, Record

#: A field value meaning "leave this field out of the record" (None would write a JSON null).
ABSENT: Any = object()


def sign_in(result: str) -> dict[str, Any]:
    """The fields of a console sign-in with ``result`` (Success or Failure)."""
    return {"eventType": "AwsConsoleSignIn", "responseElements": {"ConsoleLogin": result}}


def with_mfa(rec: Record, mfa: Any) -> Record:
    """``rec`` with MFAUsed set to ``mfa`` in its additionalEventData (left without one for :data:`ABSENT`)."""
    if mfa is not ABSENT:
        rec["additionalEventData"] = {"LoginTo": "https://console.aws.amazon.com/", "MFAUsed": mfa}
    return rec


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
        rec = f.record(when, source, name, identity or f.iam_user("planted-admin"), **extra)
        for key, value in list(rec.items()):
            if value is ABSENT:
                del rec[key]
        out.append(PlantedEvent(rec, frozenset(m for m in matches.split() if m)))
        return rec

    def login(matches: str, identity: Record, result: str, mfa: Any = ABSENT, **extra: Any) -> Record:
        rec = plant(matches, "signin.amazonaws.com", "ConsoleLogin", identity, **sign_in(result), **extra)
        return with_mfa(rec, mfa)

    user = f.iam_user
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
        "", "s3.amazonaws.com", "ListBuckets", errorCode="AccessDenied", sourceIPAddress=ABSENT
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
    plant("cis-4.3", "iam.amazonaws.com", "GetAccountSummary", f.root())
    root_null = f.root()
    root_null["invokedBy"] = None  # NOT EXISTS holds for null
    plant("cis-4.3", "iam.amazonaws.com", "ListUsers", root_null)
    plant("", "s3.amazonaws.com", "GetBucketAcl", f.root(invoked_by="cloudtrail.amazonaws.com"))
    plant("", "iam.amazonaws.com", "GetAccountSummary", f.root(), eventType="AwsServiceEvent")
    plant("", "iam.amazonaws.com", "GetAccountSummary", f.root(), eventType=ABSENT)  # != on absent
    lower = f.root()
    lower["type"] = "root"
    plant("", "iam.amazonaws.com", "GetAccountSummary", lower)
    login("cis-4.3 td-root-console-login", f.root(), "Success", "Yes")
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

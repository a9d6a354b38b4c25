"""An independent evaluation of the detections over raw CloudTrail records (Python dicts), written from the
CloudWatch metric filter rules and the CIS table, not from trailduck's SQL: the tests hold the views to it.

Rules: a comparison matches a JSON string only (an absent, null, number, boolean, object or list field matches
no comparison, != included); ``*`` at either end of a pattern is a wildcard; NOT EXISTS is true for an absent or
null field; comparisons are case-sensitive.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

Event = dict[str, Any]
_MISSING = object()


def get(ev: Event, path: str) -> Any:
    value: Any = ev
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _like(value: str, pattern: str) -> bool:
    if pattern.startswith("*") and pattern.endswith("*") and len(pattern) > 1:
        return pattern[1:-1] in value
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def eq(ev: Event, path: str, *patterns: str) -> bool:
    value = get(ev, path)
    return isinstance(value, str) and any(_like(value, p) for p in patterns)


def ne(ev: Event, path: str, pattern: str) -> bool:
    value = get(ev, path)
    return isinstance(value, str) and not _like(value, pattern)


def not_exists(ev: Event, path: str) -> bool:
    return get(ev, path) in (_MISSING, None)


CIS: dict[str, Callable[[Event], bool]] = {
    "cis-4.1": lambda e: (
        eq(e, "errorCode", "*UnauthorizedOperation", "AccessDenied*")
        and ne(e, "sourceIPAddress", "delivery.logs.amazonaws.com")
        and ne(e, "eventName", "HeadBucket")
    ),
    "cis-4.2": lambda e: eq(e, "eventName", "ConsoleLogin") and ne(e, "additionalEventData.MFAUsed", "Yes"),
    "cis-4.3": lambda e: (
        eq(e, "userIdentity.type", "Root")
        and not_exists(e, "userIdentity.invokedBy")
        and ne(e, "eventType", "AwsServiceEvent")
    ),
    "cis-4.4": lambda e: eq(
        e,
        "eventName",
        *[
            "DeleteGroupPolicy",
            "DeleteRolePolicy",
            "DeleteUserPolicy",
            "PutGroupPolicy",
            "PutRolePolicy",
            "PutUserPolicy",
            "CreatePolicy",
            "DeletePolicy",
            "CreatePolicyVersion",
            "DeletePolicyVersion",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "AttachUserPolicy",
            "DetachUserPolicy",
            "AttachGroupPolicy",
            "DetachGroupPolicy",
        ],
    ),
    "cis-4.5": lambda e: eq(
        e, "eventName", "CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"
    ),
    "cis-4.6": lambda e: (
        eq(e, "eventName", "ConsoleLogin") and eq(e, "errorMessage", "Failed authentication")
    ),
    "cis-4.7": lambda e: (
        eq(e, "eventSource", "kms.amazonaws.com") and eq(e, "eventName", "DisableKey", "ScheduleKeyDeletion")
    ),
    "cis-4.8": lambda e: (
        eq(e, "eventSource", "s3.amazonaws.com")
        and eq(
            e,
            "eventName",
            *[
                "PutBucketAcl",
                "PutBucketPolicy",
                "PutBucketCors",
                "PutBucketLifecycle",
                "PutBucketReplication",
                "DeleteBucketPolicy",
                "DeleteBucketCors",
                "DeleteBucketLifecycle",
                "DeleteBucketReplication",
            ],
        )
    ),
    "cis-4.9": lambda e: (
        eq(e, "eventSource", "config.amazonaws.com")
        and eq(
            e,
            "eventName",
            "StopConfigurationRecorder",
            "DeleteDeliveryChannel",
            "PutDeliveryChannel",
            "PutConfigurationRecorder",
        )
    ),
    "cis-4.10": lambda e: eq(
        e,
        "eventName",
        *[
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupIngress",
            "RevokeSecurityGroupEgress",
            "CreateSecurityGroup",
            "DeleteSecurityGroup",
        ],
    ),
    "cis-4.11": lambda e: eq(
        e,
        "eventName",
        *[
            "CreateNetworkAcl",
            "CreateNetworkAclEntry",
            "DeleteNetworkAcl",
            "DeleteNetworkAclEntry",
            "ReplaceNetworkAclEntry",
            "ReplaceNetworkAclAssociation",
        ],
    ),
    "cis-4.12": lambda e: eq(
        e,
        "eventName",
        *[
            "CreateCustomerGateway",
            "DeleteCustomerGateway",
            "AttachInternetGateway",
            "CreateInternetGateway",
            "DeleteInternetGateway",
            "DetachInternetGateway",
        ],
    ),
    "cis-4.13": lambda e: (
        eq(e, "eventSource", "ec2.amazonaws.com")
        and eq(
            e,
            "eventName",
            *[
                "CreateRoute",
                "CreateRouteTable",
                "ReplaceRoute",
                "ReplaceRouteTableAssociation",
                "DeleteRouteTable",
                "DeleteRoute",
                "DisassociateRouteTable",
            ],
        )
    ),
    "cis-4.14": lambda e: eq(
        e,
        "eventName",
        *[
            "CreateVpc",
            "DeleteVpc",
            "ModifyVpcAttribute",
            "AcceptVpcPeeringConnection",
            "CreateVpcPeeringConnection",
            "DeleteVpcPeeringConnection",
            "RejectVpcPeeringConnection",
            "AttachClassicLinkVpc",
            "DetachClassicLinkVpc",
            "DisableVpcClassicLink",
            "EnableVpcClassicLink",
        ],
    ),
    "cis-4.15": lambda e: (
        eq(e, "eventSource", "organizations.amazonaws.com")
        and eq(
            e,
            "eventName",
            *[
                "AcceptHandshake",
                "AttachPolicy",
                "CreateAccount",
                "CreateOrganizationalUnit",
                "CreatePolicy",
                "DeclineHandshake",
                "DeleteOrganization",
                "DeleteOrganizationalUnit",
                "DeletePolicy",
                "DetachPolicy",
                "DisablePolicyType",
                "EnablePolicyType",
                "InviteAccountToOrganization",
                "LeaveOrganization",
                "MoveAccount",
                "RemoveAccountFromOrganization",
                "UpdatePolicy",
                "UpdateOrganizationalUnit",
            ],
        )
    ),
}

OWN: dict[str, Callable[[Event], bool]] = {
    "td-new-access-key": lambda e: (
        eq(e, "eventSource", "iam.amazonaws.com")
        and eq(e, "eventName", "CreateAccessKey")
        and not_exists(e, "errorCode")
    ),
    "td-new-iam-user": lambda e: (
        eq(e, "eventSource", "iam.amazonaws.com")
        and eq(e, "eventName", "CreateUser")
        and not_exists(e, "errorCode")
    ),
    "td-root-console-login": lambda e: (
        eq(e, "eventName", "ConsoleLogin") and eq(e, "userIdentity.type", "Root")
    ),
}


def _principal(ev: Event) -> Any:
    ident = ev.get("userIdentity") if isinstance(ev.get("userIdentity"), dict) else {}
    for key in ("arn", "userName", "principalId", "type"):
        if ident.get(key) is not None:
            return ident[key]
    return None


def _time(ev: Event) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(ev["eventTime"], "%Y-%m-%dT%H:%M:%SZ")
    except (KeyError, TypeError, ValueError):
        return None


def failed_login_bursts(events: Iterable[Event], n: int = 5, minutes: int = 10) -> int:
    """Failed sign-ins that are at least the n-th of their (principal, source IP) within ``minutes``."""
    groups: dict[tuple[Any, Any], list[dt.datetime]] = {}
    for ev in events:
        when = _time(ev)
        if (
            eq(ev, "eventName", "ConsoleLogin")
            and eq(ev, "responseElements.ConsoleLogin", "Failure")
            and when
        ):
            ip = ev["sourceIPAddress"] if isinstance(ev.get("sourceIPAddress"), str) else None
            groups.setdefault((_principal(ev), ip), []).append(when)
    found = 0
    for times in groups.values():
        times.sort()
        for t in times:
            if sum(1 for u in times if t - dt.timedelta(minutes=minutes) <= u <= t) >= n:
                found += 1
    return found


def evaluate(events: list[Event]) -> Counter[str]:
    """The count of every detection id over ``events``."""
    counts: Counter[str] = Counter()
    for ev in events:
        for rules in (CIS, OWN):
            for name, rule in rules.items():
                if rule(ev):
                    counts[name] += 1
    counts["td-failed-login-burst"] = failed_login_bursts(events)
    return counts

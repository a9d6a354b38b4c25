-- view: cis_4_03_root_account_usage
-- id: cis-4.3
-- title: Root account usage
-- severity: high
-- description: Calls made by the root user itself, not by a service on its behalf.
-- CIS AWS Foundations Benchmark v3.0, control 4.3: the metric filter, over cw_events (see README.md).
-- CloudWatch filter: { $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }
SELECT *
FROM cw_events
WHERE identityType = 'Root'
    AND NOT invokedByExists
    AND eventType <> 'AwsServiceEvent'

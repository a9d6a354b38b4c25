-- view: cis_4_07_cmk_disabled_or_deleted
-- id: cis-4.7
-- title: KMS keys disabled or scheduled for deletion
-- severity: high
-- description: Customer managed KMS keys disabled or scheduled for deletion.
-- CIS AWS Foundations Benchmark v3.0, control 4.7: the metric filter, over cw_events (see README.md).
-- CloudWatch filter: { ($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion)) }
SELECT *
FROM cw_events
WHERE eventSource = 'kms.amazonaws.com'
    AND eventName IN ('DisableKey', 'ScheduleKeyDeletion')

-- view: cis_4_05_cloudtrail_changes
-- id: cis-4.5
-- title: CloudTrail configuration changes
-- severity: high
-- description: Trails created, updated or deleted; logging started or stopped.
-- CIS AWS Foundations Benchmark v3.0, control 4.5: the metric filter, over cw_events (see README.md).
SELECT *
FROM cw_events
WHERE eventName IN ('CreateTrail', 'UpdateTrail', 'DeleteTrail', 'StartLogging', 'StopLogging')

-- view: cis_4_06_console_auth_failures
-- id: cis-4.6
-- title: Console authentication failures
-- severity: medium
-- description: Console sign-ins that failed authentication.
-- CIS AWS Foundations Benchmark v3.0, control 4.6: the metric filter, over cw_events (see README.md).
-- CloudWatch filter: { ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }
SELECT *
FROM cw_events
WHERE eventName = 'ConsoleLogin'
    AND errorMessage = 'Failed authentication'

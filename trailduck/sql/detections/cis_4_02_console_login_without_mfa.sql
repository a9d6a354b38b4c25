-- view: cis_4_02_console_login_without_mfa
-- id: cis-4.2
-- title: Console sign-in without MFA
-- severity: high
-- description: Console sign-ins whose MFAUsed is a string other than Yes.
-- CIS AWS Foundations Benchmark v3.0, control 4.2: the metric filter, over cw_events (see README.md).
-- CloudWatch filter: { ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }
-- The base pattern: a ConsoleLogin without MFAUsed (a failed or federated sign-in) is not a finding.
SELECT *
FROM cw_events
WHERE eventName = 'ConsoleLogin'
    AND mfaUsed <> 'Yes'

-- view: failed_logins
-- description: Failed console sign-ins per principal and source IP, with the most within 10 minutes (burst: 5).
-- One row per (account, principal, sourceIPAddress). maxIn10Minutes is the most failures in any 10-minute
-- window; burst is true when it reaches 5, the rule of td_failed_login_bursts. lastEventID and lastSourceKey
-- trace the latest failure to its file.
SELECT
    account,
    principal,
    sourceIPAddress,
    count(*) AS failures,
    min(eventTime) AS firstFailure,
    max(eventTime) AS lastFailure,
    max(failuresIn10Minutes) AS maxIn10Minutes,
    max(failuresIn10Minutes) >= 5 AS burst,
    arg_max(region, eventTime) AS lastRegion,
    arg_max(eventID, eventTime) AS lastEventID,
    arg_max(source_key, eventTime) AS lastSourceKey
FROM login_failures
GROUP BY account, principal, sourceIPAddress

-- view: console_logins
-- description: Every console sign-in with its result (Success/Failure) and whether MFA was used.
SELECT
    eventTime, eventID, account, region, date, principal, identityType, sourceIPAddress,
    consoleLogin AS result, mfaUsed, errorMessage, userAgent, source_key
FROM cw_events
WHERE eventName = 'ConsoleLogin'

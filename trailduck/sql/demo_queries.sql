-- name: Events per service and day (the article's own example)
SELECT eventSource, date, count(*) AS events
FROM events
GROUP BY ALL
ORDER BY events DESC
LIMIT 8;

-- name: Console sign-ins: result and MFA use
SELECT userIdentity.userName AS user,
       responseElements->>'ConsoleLogin' AS result,
       additionalEventData->>'MFAUsed' AS mfa,
       count(*) AS logins
FROM events
WHERE eventName = 'ConsoleLogin'
GROUP BY ALL
ORDER BY logins DESC;

-- name: Who was denied, and where
SELECT coalesce(userIdentity.sessionContext.sessionIssuer.userName, userIdentity.userName) AS principal,
       eventSource, eventName, errorCode, count(*) AS denied
FROM events
WHERE errorCode LIKE 'AccessDenied%' OR errorCode LIKE '%UnauthorizedOperation'
GROUP BY ALL
ORDER BY denied DESC
LIMIT 8;

-- name: Root account activity
SELECT eventTime, account, region, eventName, sourceIPAddress
FROM events
WHERE userIdentity.type = 'Root' AND userIdentity.invokedBy IS NULL
ORDER BY eventTime
LIMIT 5;

-- view: root_activity
-- description: Everything done as the root user, including by services on its behalf (see invokedBy).
SELECT
    eventTime, eventID, account, region, date, userIdentity.arn AS principal, eventSource, eventName,
    userIdentity.invokedBy AS invokedBy, eventType, sourceIPAddress, errorCode, userAgent, source_key
FROM events
WHERE cw_string(userIdentity.type) = 'Root'

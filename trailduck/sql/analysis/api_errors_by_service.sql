-- view: api_errors_by_service
-- description: Failed calls per service and error code, with how many principals hit them.
SELECT
    eventSource,
    errorCode,
    count(*) AS events,
    count(DISTINCT coalesce(userIdentity.arn, userIdentity.principalId)) AS principals,
    count(DISTINCT account) AS accounts,
    min(eventTime) AS firstSeen,
    max(eventTime) AS lastSeen,
    arg_max(account, eventTime) AS lastAccount,
    arg_max(region, eventTime) AS lastRegion,
    arg_max(coalesce(userIdentity.arn, userIdentity.principalId), eventTime) AS lastPrincipal,
    arg_max(eventID, eventTime) AS lastEventID,
    arg_max(source_key, eventTime) AS lastSourceKey
FROM events
WHERE errorCode IS NOT NULL
GROUP BY eventSource, errorCode
ORDER BY events DESC

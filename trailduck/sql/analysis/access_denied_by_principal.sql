-- view: access_denied_by_principal
-- description: Calls refused (AccessDenied*, *UnauthorizedOperation) per principal, busiest first.
-- One row per (account, principal): how many, over which services and calls, when, and the latest refusal's
-- eventID and file. Log delivery (delivery.logs.amazonaws.com) is included here; CIS 4.1 leaves it out.
SELECT
    account,
    principal,
    count(*) AS denied,
    count(DISTINCT eventSource) AS services,
    list(DISTINCT eventName ORDER BY eventName)[1:10] AS someEventNames,
    min(eventTime) AS firstSeen,
    max(eventTime) AS lastSeen,
    arg_max(region, eventTime) AS lastRegion,
    arg_max(eventID, eventTime) AS lastEventID,
    arg_max(source_key, eventTime) AS lastSourceKey
FROM cw_events
WHERE starts_with(errorCode, 'AccessDenied') OR ends_with(errorCode, 'UnauthorizedOperation')
GROUP BY account, principal
ORDER BY denied DESC

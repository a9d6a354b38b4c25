-- view: top_callers
-- description: Principals by number of calls, with their services, errors and where they called from.
SELECT
    account,
    principal_of(userIdentity) AS principal,
    count(*) AS events,
    count(DISTINCT eventSource) AS services,
    count(errorCode) AS errors,
    count(DISTINCT region) AS regions,
    count(DISTINCT sourceIPAddress) AS sourceIPs,
    min(eventTime) AS firstSeen,
    max(eventTime) AS lastSeen,
    arg_max(region, eventTime) AS lastRegion,
    arg_max(eventID, eventTime) AS lastEventID,
    arg_max(source_key, eventTime) AS lastSourceKey
FROM events
GROUP BY ALL
ORDER BY events DESC

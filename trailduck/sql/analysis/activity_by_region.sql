-- view: activity_by_region
-- description: Events per account and region, fewest first: a region nobody normally uses stands out.
SELECT
    account,
    region,
    count(*) AS events,
    count(DISTINCT date) AS days,
    count(DISTINCT coalesce(userIdentity.arn, userIdentity.principalId)) AS principals,
    count(DISTINCT eventName) AS eventNames,
    min(eventTime) AS firstSeen,
    max(eventTime) AS lastSeen,
    arg_max(coalesce(userIdentity.arn, userIdentity.principalId), eventTime) AS lastPrincipal,
    arg_max(eventID, eventTime) AS lastEventID,
    arg_max(source_key, eventTime) AS lastSourceKey
FROM events
GROUP BY account, region
ORDER BY events

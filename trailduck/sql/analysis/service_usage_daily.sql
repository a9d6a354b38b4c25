-- view: service_usage_daily
-- description: Events per day per service (eventSource), per account and region: how often each is used.
SELECT
    date,
    account,
    region,
    eventSource,
    count(*) AS events,
    count(DISTINCT coalesce(userIdentity.arn, userIdentity.principalId)) AS principals,
    min(eventTime) AS firstSeen,
    max(eventTime) AS lastSeen,
    arg_max(coalesce(userIdentity.arn, userIdentity.principalId), eventTime) AS lastPrincipal,
    arg_max(eventID, eventTime) AS lastEventID,
    arg_max(source_key, eventTime) AS lastSourceKey
FROM events
GROUP BY date, account, region, eventSource

-- The findings of one Sigma rule over a window of partition days, in one scan of the events that keeps at most
-- $sample_rows matches a day, however many match: one row per day with matches, with how many there are and
-- the day's newest (the sample is the newest of those). The condition is the rule's detection.
SELECT
    date,
    count(*) AS matches,
    max_by(
        {
            'eventTime': eventTime,
            'eventID': eventID,
            'account': account,
            'region': region,
            'principal': principal_of(userIdentity),
            'eventSource': eventSource,
            'eventName': eventName,
            'sourceIPAddress': sourceIPAddress,
            'source_key': source_key
        },
        (coalesce(eventTime, TIMESTAMPTZ '0001-01-01 00:00:00+00'), eventID),
        $sample_rows
    ) AS newest
FROM events
WHERE date >= $since AND date <= $until
    AND ({condition})
GROUP BY date
ORDER BY date

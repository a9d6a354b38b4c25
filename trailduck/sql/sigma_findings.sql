-- The findings of one Sigma rule over a window of partition days: its newest matches (the sample), each row
-- with the count of every match in the window, in one scan of the events; the condition is the rule's detection.
SELECT
    eventTime,
    eventID,
    account,
    region,
    principal_of(userIdentity) AS principal,
    eventSource,
    eventName,
    sourceIPAddress,
    source_key,
    count(*) OVER () AS matched
FROM events
WHERE date >= $since AND date <= $until
    AND ({condition})
ORDER BY eventTime DESC NULLS LAST, eventID
LIMIT $sample_rows

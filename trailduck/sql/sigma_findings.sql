-- The findings of one Sigma rule over a window of partition days, in one scan of the events: how many events
-- matched, how many on each day, and the newest matches (the sample). Always one row at least: the counts, with
-- NULL sample columns (and rank) when nothing matched. The condition is the rule's detection.
WITH matches AS MATERIALIZED (
    SELECT
        eventTime,
        eventID,
        account,
        region,
        date,
        principal_of(userIdentity) AS principal,
        eventSource,
        eventName,
        sourceIPAddress,
        source_key
    FROM events
    WHERE date >= $since AND date <= $until
        AND ({condition})
),
counts AS (
    SELECT
        (SELECT count(*) FROM matches) AS matched,
        (SELECT list({'date': date, 'matches': matches} ORDER BY date)
            FROM (SELECT date, count(*) AS matches FROM matches GROUP BY date)) AS per_day
),
sample AS (
    SELECT row_number() OVER (ORDER BY eventTime DESC NULLS LAST, eventID) AS rank, * EXCLUDE (date)
    FROM matches
    ORDER BY rank
    LIMIT $sample_rows
)
SELECT counts.matched, counts.per_day, sample.*
FROM counts LEFT JOIN sample ON true
ORDER BY sample.rank

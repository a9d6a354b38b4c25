-- The typed columns of a batch of raw CloudTrail records, computed by DuckDB's JSON reader (C++, all cores).
--
-- {structure} is the declared Arrow schema spelled as a json_transform structure: every leaf VARCHAR (a
-- number or object where a string belongs becomes its JSON text), the fields kept as JSON text "JSON".
-- Then the few conversions: readOnly and managementEvent from "true"/"false" in any case (anything else is
-- NULL), eventTime from CloudTrail's format or any ISO 8601 form, NULL when unparseable or outside years
-- 1 to 9999. The variable fields (requestParameters and friends) are not here: they are cut from the raw
-- bytes as delivered, without a parse-and-print round trip.
SELECT
    {columns}
FROM (
    SELECT
        r,
        coalesce(
            try_strptime(r.eventTime, '%Y-%m-%dT%H:%M:%SZ')::TIMESTAMPTZ,
            try_cast(r.eventTime AS TIMESTAMPTZ)
        ) AS parsed_time
    FROM (SELECT json_transform(event_json, {structure}) AS r FROM batch)
)

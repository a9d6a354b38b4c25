-- events_unique: events with CloudTrail's duplicate deliveries removed, one row per eventID.
-- The lake itself keeps every delivered record; records without an eventID are all kept.
CREATE OR REPLACE VIEW events_unique AS
SELECT *
FROM events
QUALIFY eventID IS NULL
    OR row_number() OVER (PARTITION BY eventID ORDER BY eventTime, source_key) = 1;

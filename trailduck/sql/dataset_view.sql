-- {view}: one row per CloudTrail record, with CloudTrail's own field names.
--
-- Typed columns: eventTime is a UTC timestamp; readOnly and managementEvent are BOOLEAN; userIdentity,
-- tlsDetails and addendum are STRUCTs; resources is a LIST of STRUCT(ARN, accountId, type). The fields whose
-- shape varies from event to event are DuckDB JSON. event_json is the complete record as delivered (NULL when
-- the lake was built with --no-event-json), source_key the object it came from. account, region and date are
-- the Hive partitions, always VARCHAR; date is the UTC day of eventTime (the file's day when it has none).
CREATE OR REPLACE VIEW {view} AS
SELECT
    * REPLACE (
        requestParameters::JSON AS requestParameters,
        responseElements::JSON AS responseElements,
        additionalEventData::JSON AS additionalEventData,
        serviceEventDetails::JSON AS serviceEventDetails,
        edgeDeviceDetails::JSON AS edgeDeviceDetails,
        insightDetails::JSON AS insightDetails,
        event_json::JSON AS event_json
    )
FROM {relation};

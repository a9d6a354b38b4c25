-- cw_events: the events with the fields the detections compare, under CloudWatch metric filter semantics.
--
-- Every comparison column is NULL unless the field is a JSON string (see cw_string), so a comparison, "<>"
-- included, never matches an absent, null or non-string field, as in a CloudWatch metric filter. mfaUsed and
-- consoleLogin (additionalEventData.MFAUsed, responseElements.ConsoleLogin) are read from the JSON fields,
-- and only for ConsoleLogin events, which are the only ones that compare them.
-- invokedByExists and errorCodeExists say whether the field exists (of any type): false when absent or null.
-- principal is for people to read (the ARN, else the user name, principal id or identity type).
CREATE OR REPLACE VIEW cw_events AS
SELECT
    eventTime,
    eventID,
    account,
    region,
    date,
    principal_of(userIdentity) AS principal,
    cw_string(eventSource) AS eventSource,
    cw_string(eventName) AS eventName,
    cw_string(errorCode) AS errorCode,
    cw_string(errorMessage) AS errorMessage,
    cw_string(sourceIPAddress) AS sourceIPAddress,
    cw_string(eventType) AS eventType,
    cw_string(userIdentity.type) AS identityType,
    userIdentity.invokedBy IS NOT NULL AS invokedByExists,
    events.errorCode IS NOT NULL AS errorCodeExists,
    CASE WHEN events.eventName = 'ConsoleLogin' AND json_type(additionalEventData, '$.MFAUsed') = 'VARCHAR'
        THEN additionalEventData ->> '$.MFAUsed' END AS mfaUsed,
    CASE WHEN events.eventName = 'ConsoleLogin' AND json_type(responseElements, '$.ConsoleLogin') = 'VARCHAR'
        THEN responseElements ->> '$.ConsoleLogin' END AS consoleLogin,
    userAgent,
    source_key
FROM events;

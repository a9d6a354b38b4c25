-- view: new_credentials
-- description: IAM users, access keys and console passwords created, with who created them for whom.
SELECT
    eventTime,
    eventID,
    account,
    region,
    date,
    principal_of(userIdentity) AS principal,
    eventName,
    requestParameters ->> '$.userName' AS forUser,
    responseElements ->> '$.accessKey.accessKeyId' AS newAccessKeyId,
    errorCode,
    sourceIPAddress,
    source_key
FROM events
WHERE eventSource = 'iam.amazonaws.com'
    AND eventName IN ('CreateUser', 'CreateAccessKey', 'CreateLoginProfile')

-- view: cis_4_01_unauthorized_api_calls
-- id: cis-4.1
-- title: Unauthorized API calls
-- severity: medium
-- description: API calls refused for lack of permission, except log delivery and HeadBucket probes.
-- CIS AWS Foundations Benchmark v3.0, control 4.1: the metric filter, over cw_events (see README.md).
-- CloudWatch filter: { (($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*")) && ($.sourceIPAddress != "delivery.logs.amazonaws.com") && ($.eventName != "HeadBucket") }
-- The published pattern joins its exclusions with ||, which matches almost everything; this is its intended
-- meaning.
SELECT *
FROM cw_events
WHERE (ends_with(errorCode, 'UnauthorizedOperation') OR starts_with(errorCode, 'AccessDenied'))
    AND sourceIPAddress <> 'delivery.logs.amazonaws.com'
    AND eventName <> 'HeadBucket'

-- view: td_new_access_keys
-- id: td-new-access-key
-- title: New IAM access keys
-- severity: low
-- description: Access keys created (successful CreateAccessKey calls), a common persistence step.
SELECT *
FROM cw_events
WHERE eventSource = 'iam.amazonaws.com'
    AND eventName = 'CreateAccessKey'
    AND NOT errorCodeExists

-- view: td_new_iam_users
-- id: td-new-iam-user
-- title: New IAM users
-- severity: low
-- description: IAM users created (successful CreateUser calls).
SELECT *
FROM cw_events
WHERE eventSource = 'iam.amazonaws.com'
    AND eventName = 'CreateUser'
    AND NOT errorCodeExists

-- view: td_root_console_login
-- id: td-root-console-login
-- title: Root user console sign-in
-- severity: high
-- description: Console sign-ins (successful or not) as the account's root user.
SELECT *
FROM cw_events
WHERE eventName = 'ConsoleLogin'
    AND identityType = 'Root'

-- view: td_failed_login_bursts
-- id: td-failed-login-burst
-- title: Bursts of failed console sign-ins
-- severity: high
-- description: Failed console sign-ins that make 5 or more from one user and source IP within 10 minutes.
-- The burst rule: a failed sign-in (ConsoleLogin whose responseElements.ConsoleLogin is "Failure") is a finding
-- when it is at least the 5th failure of the same principal from the same sourceIPAddress within the 10
-- minutes ending at it (both ends included). Six failures in five minutes are two findings. To change N or M,
-- copy this view with other numbers; failed_logins shows every (principal, IP) pair with its busiest window.
SELECT *
FROM (
    SELECT
        *,
        count(*) OVER (
            PARTITION BY principal, sourceIPAddress
            ORDER BY eventTime
            RANGE BETWEEN INTERVAL 10 MINUTES PRECEDING AND CURRENT ROW
        ) AS failuresIn10Minutes
    FROM cw_events
    WHERE eventName = 'ConsoleLogin'
        AND consoleLogin = 'Failure'
        AND eventTime IS NOT NULL
)
WHERE failuresIn10Minutes >= 5

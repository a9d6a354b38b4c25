-- login_failures: every failed console sign-in, with how many failures the same principal had from the same
-- source IP in the 10 minutes ending at it (both ends included). The burst rule of td_failed_login_bursts
-- and failed_logins (5 within 10 minutes) is applied to this count.
CREATE OR REPLACE VIEW login_failures AS
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
    AND eventTime IS NOT NULL;

-- view: td_failed_login_bursts
-- id: td-failed-login-burst
-- title: Bursts of failed console sign-ins
-- severity: high
-- description: Failed console sign-ins that make 5 or more from one user and source IP within 10 minutes.
-- The burst rule: a failed sign-in (ConsoleLogin whose responseElements.ConsoleLogin is "Failure") is a finding
-- when it is at least the 5th failure of the same principal from the same sourceIPAddress within the 10
-- minutes ending at it (both ends included). Six failures in five minutes are two findings. M (10 minutes) is
-- set in the view login_failures, N (5) here and in failed_logins, which shows every (principal, IP) pair.
SELECT *
FROM login_failures
WHERE failuresIn10Minutes >= 5

-- view: cis_4_15_organizations_changes
-- id: cis-4.15
-- title: AWS Organizations changes
-- severity: high
-- description: Accounts, organizational units, policies and handshakes of the organization changed.
-- CIS AWS Foundations Benchmark v3.0, control 4.15: the metric filter, over cw_events (see README.md).
SELECT *
FROM cw_events
WHERE eventSource = 'organizations.amazonaws.com'
    AND eventName IN (
        'AcceptHandshake', 'AttachPolicy', 'CreateAccount', 'CreateOrganizationalUnit', 'CreatePolicy',
        'DeclineHandshake', 'DeleteOrganization', 'DeleteOrganizationalUnit', 'DeletePolicy',
        'DetachPolicy', 'DisablePolicyType', 'EnablePolicyType', 'InviteAccountToOrganization',
        'LeaveOrganization', 'MoveAccount', 'RemoveAccountFromOrganization', 'UpdatePolicy',
        'UpdateOrganizationalUnit'
    )

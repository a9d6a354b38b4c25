-- view: cis_4_11_nacl_changes
-- id: cis-4.11
-- title: Network ACL changes
-- severity: medium
-- description: Network ACLs and their entries or associations created, changed or deleted.
-- CIS AWS Foundations Benchmark v3.0, control 4.11: the metric filter, over cw_events (see README.md).
SELECT *
FROM cw_events
WHERE eventName IN (
        'CreateNetworkAcl', 'CreateNetworkAclEntry', 'DeleteNetworkAcl', 'DeleteNetworkAclEntry',
        'ReplaceNetworkAclEntry', 'ReplaceNetworkAclAssociation'
    )

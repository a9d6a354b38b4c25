-- view: cis_4_13_route_table_changes
-- id: cis-4.13
-- title: Route table changes
-- severity: medium
-- description: EC2 route tables and routes created, replaced, disassociated or deleted.
-- CIS AWS Foundations Benchmark v3.0, control 4.13: the metric filter, over cw_events (see README.md).
SELECT *
FROM cw_events
WHERE eventSource = 'ec2.amazonaws.com'
    AND eventName IN (
        'CreateRoute', 'CreateRouteTable', 'ReplaceRoute', 'ReplaceRouteTableAssociation',
        'DeleteRouteTable', 'DeleteRoute', 'DisassociateRouteTable'
    )

-- view: cis_4_14_vpc_changes
-- id: cis-4.14
-- title: VPC changes
-- severity: medium
-- description: VPCs, peering connections and ClassicLink created, changed or deleted.
-- CIS AWS Foundations Benchmark v3.0, control 4.14: the metric filter, over cw_events (see README.md).
SELECT *
FROM cw_events
WHERE eventName IN (
        'CreateVpc', 'DeleteVpc', 'ModifyVpcAttribute', 'AcceptVpcPeeringConnection',
        'CreateVpcPeeringConnection', 'DeleteVpcPeeringConnection', 'RejectVpcPeeringConnection',
        'AttachClassicLinkVpc', 'DetachClassicLinkVpc', 'DisableVpcClassicLink', 'EnableVpcClassicLink'
    )

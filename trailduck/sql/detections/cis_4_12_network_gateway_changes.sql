-- view: cis_4_12_network_gateway_changes
-- id: cis-4.12
-- title: Network gateway changes
-- severity: medium
-- description: Customer and internet gateways created, attached, detached or deleted.
-- CIS AWS Foundations Benchmark v3.0, control 4.12: the metric filter, over cw_events (see README.md).
SELECT *
FROM cw_events
WHERE eventName IN (
        'CreateCustomerGateway', 'DeleteCustomerGateway', 'AttachInternetGateway', 'CreateInternetGateway',
        'DeleteInternetGateway', 'DetachInternetGateway'
    )

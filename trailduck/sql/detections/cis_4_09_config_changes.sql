-- view: cis_4_09_config_changes
-- id: cis-4.9
-- title: AWS Config changes
-- severity: medium
-- description: AWS Config recorders and delivery channels stopped, changed or deleted.
-- CIS AWS Foundations Benchmark v3.0, control 4.9: the metric filter, over cw_events (see README.md).
SELECT *
FROM cw_events
WHERE eventSource = 'config.amazonaws.com'
    AND eventName IN (
        'StopConfigurationRecorder', 'DeleteDeliveryChannel', 'PutDeliveryChannel',
        'PutConfigurationRecorder'
    )

-- view: cis_4_08_s3_bucket_policy_changes
-- id: cis-4.8
-- title: S3 bucket policy changes
-- severity: medium
-- description: Bucket ACLs, policies, CORS, lifecycle and replication changed or deleted.
-- CIS AWS Foundations Benchmark v3.0, control 4.8: the metric filter, over cw_events (see README.md).
SELECT *
FROM cw_events
WHERE eventSource = 's3.amazonaws.com'
    AND eventName IN (
        'PutBucketAcl', 'PutBucketPolicy', 'PutBucketCors', 'PutBucketLifecycle', 'PutBucketReplication',
        'DeleteBucketPolicy', 'DeleteBucketCors', 'DeleteBucketLifecycle', 'DeleteBucketReplication'
    )

(
    -- The partition columns last, in the Delta table's order (account, region, date), as Athena, Spark, Trino
    -- and Polars see them and as a lake on S3 gives them. DuckDB puts Hive folders' columns last in name order
    -- (account, date, region), and a lake partitioned by date has account and region in its files: this keeps
    -- every view's columns the same whatever the lake's partitioning and wherever it lives.
    SELECT * EXCLUDE (account, region, date), account, region, date
    FROM {relation}
)

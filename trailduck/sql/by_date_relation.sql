(
    -- A lake partitioned by date: account and region are columns of its files, date a Hive folder. The columns
    -- in the order a lake partitioned by account, region and date gives them (DuckDB puts Hive columns in
    -- name order), so that every query sees the same view whatever the lake's partitioning.
    SELECT * EXCLUDE (region, date), date, region
    FROM {relation}
)

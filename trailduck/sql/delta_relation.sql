read_parquet(
    -- The files of the table's current version, from its Delta log (relative to the lake's folder).
    trailduck_paths({paths}),
    hive_partitioning = true,
    hive_types = {hive_types}
)

read_parquet(
    trailduck_path({glob}),
    hive_partitioning = true,
    hive_types = {hive_types}
)

read_parquet(
    trailduck_path({glob}),
    hive_partitioning = true,
    hive_types = {{'account': VARCHAR, 'region': VARCHAR, 'date': VARCHAR}}
)

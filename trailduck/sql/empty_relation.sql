(
    -- No Parquet file yet: the same columns, no rows.
    SELECT *, NULL::VARCHAR AS account, NULL::VARCHAR AS region, NULL::VARCHAR AS date
    FROM read_parquet(trailduck_path({schema_file}))
)

CREATE TABLE IF NOT EXISTS {database}.{table} USING delta LOCATION {location};

CREATE EXTERNAL TABLE {database}.{table} LOCATION {location} TBLPROPERTIES ('table_type'='DELTA');

CREATE DATABASE IF NOT EXISTS {database};
{tables}
-- Spark needs:
--   spark.sql.session.timeZone=UTC (Spark shows timestamps in the session's time zone);
--   Delta Lake on its classpath, e.g. --packages io.delta:delta-spark_2.13:<version>
--     --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension
--     --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog
-- To read the plain Parquet files instead of the Delta tables:
--   spark.sql.sources.partitionColumnTypeInference.enabled=false (else account 000000000000 becomes the integer 0).

CREATE SCHEMA IF NOT EXISTS {catalog}.{database};
{tables}
-- The catalog's properties need delta.register-table-procedure.enabled=true for register_table.

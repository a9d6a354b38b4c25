CALL {catalog}.system.register_table(schema_name => {schema}, table_name => {name}, table_location => {location});

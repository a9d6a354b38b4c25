-- trailduck_path(relative): where a file of this lake is, for the views' read_parquet calls.
--
-- Every view reads the lake's files through this macro, so that the database reads the folder it is in,
-- wherever that folder was moved or copied. DuckDB names an open database's spill folder after its file
-- (<folder>/trailduck.duckdb.tmp, as the path was given: relative paths stay relative, and DuckDB reads
-- relative file paths from the same working directory), which is how the macro knows, while a query is bound
-- and before any file is listed, which folder the database was opened from.
-- Opened any other way (ATTACHed to another database, or with a temp_directory of its own), it cannot tell,
-- and reads the folder its views were last made for (`trailduck views --refresh --lake DIR` remakes them).
CREATE OR REPLACE MACRO trailduck_path(relative) AS
    CASE
        WHEN replace(current_setting('temp_directory'), '\', '/') = {spill_name}
            OR ends_with(replace(current_setting('temp_directory'), '\', '/'), '/' || {spill_name})
        THEN left(current_setting('temp_directory'), -length({spill_name})) || relative
        ELSE {root} || relative
    END;

-- trailduck_paths(relatives): the same for a list of files (a Delta table's current files).
CREATE OR REPLACE MACRO trailduck_paths(relatives) AS list_transform(relatives, lambda x: trailduck_path(x));

-- trailduck_path(relative): the absolute path of a file of this lake, for the views' read_parquet calls.
--
-- The lake's folder is written here once; every view reads through this macro. DuckDB names an open
-- database's spill folder after its file (<folder>/trailduck.duckdb.tmp) unless told otherwise, which is how
-- the macro knows, while a query is bound and before any file is listed, where the database was opened from.
-- Opened from another folder, the database belongs to a lake that was moved or copied: its views would read
-- the first folder's files (or find none), so they stop and say how to point them at their own folder.
-- Opened any other way (ATTACHed to another database, a temp_directory of its own), it cannot tell and reads
-- the folder below.
CREATE OR REPLACE MACRO trailduck_path(relative) AS
    CASE
        WHEN replace(current_setting('temp_directory'), '\', '/') IN ({spill_folders})
            OR NOT ends_with(replace(current_setting('temp_directory'), '\', '/'), {spill_suffix})
        THEN {root} || relative
        ELSE error(
            'this is the database of the lake at ' || {lake} || ', opened from '
            || left(current_setting('temp_directory'), -length({spill_suffix}))
            || ': the lake was moved or copied, so its views would read the other folder''s files. '
            || 'Run `trailduck views --refresh --lake '
            || left(current_setting('temp_directory'), -length({spill_suffix}))
            || '` once (any other trailduck command on that folder does it too).'
        )
    END;

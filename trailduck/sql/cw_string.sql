-- cw_string(value, doc, path): a string field under CloudWatch metric filter semantics.
--
-- value is a VARCHAR column of the lake, doc the record's event_json and path the field's JSON path. The
-- lake's string columns hold a number, boolean, object or list that stood where a string belongs as its JSON
-- text, so that nothing is lost; a CloudWatch comparison only ever matches a JSON string. The result is the
-- value when the field was a JSON string, NULL otherwise (absent, null, or another JSON type). Only a value
-- that could be the JSON text of something else (it starts with a digit, "-", "[" or "{", or is true or false)
-- costs a look at event_json; a lake built with --no-event-json takes such values as strings.
CREATE OR REPLACE MACRO cw_string(value, doc, path) AS
    CASE
        WHEN value IS NULL THEN NULL
        WHEN NOT regexp_matches(value, '^([-0-9\[{]|true$|false$)') THEN value
        WHEN doc IS NULL THEN value
        WHEN json_type(doc, path) = 'VARCHAR' THEN value
    END;

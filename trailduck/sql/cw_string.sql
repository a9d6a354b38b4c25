-- cw_string(value): a string field under CloudWatch metric filter semantics.
--
-- A CloudWatch comparison only ever matches a JSON string. The lake's string columns keep a number, boolean,
-- object or list that stood where a string belongs as its JSON text, so that nothing is lost (event_json has
-- the record as delivered). cw_string turns such text back into "not a string": the result is NULL when the
-- value is NULL or is exactly the JSON text of a number, true, false, an object ({...}) or a list ([...]), and
-- the value otherwise. It looks at the column alone, never at event_json, so a detection reads only the
-- columns it compares. The one case it gets wrong is a genuine string that reads exactly like a JSON number,
-- boolean, object or list ("403", "true"): CloudTrail's compared fields (names, codes, IP addresses, types)
-- do not hold such strings.
CREATE OR REPLACE MACRO cw_string(value) AS
    CASE
        WHEN regexp_full_match(value, '(?s)-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?|true|false|\{.*\}|\[.*\]')
            THEN NULL
        ELSE value
    END;

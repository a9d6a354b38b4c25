-- The macros the Sigma rules' SQL calls (trailduck/sigma/backend.py writes that SQL; the semantics are in
-- trailduck/sigma/README.md). Installed with the views, so a sigma_<rule> view works in the DuckDB CLI too.
--
-- sigma_texts(value): the texts a JSON value is compared as: a string is itself, a number its JSON text, true
-- and false 'true' and 'false', an object its compact JSON text; a list is the texts of its elements (an
-- object or list element as its compact JSON text); null and an absent value have no text.
CREATE OR REPLACE MACRO sigma_texts(value) AS
    CASE json_type(value)
        WHEN 'ARRAY' THEN list_filter(json_extract_string(value, '$[*]')::VARCHAR[], lambda x: x IS NOT NULL)
        WHEN 'NULL' THEN []::VARCHAR[]
        ELSE list_filter([json_extract_string(value, '$')::VARCHAR], lambda x: x IS NOT NULL)
    END;

-- sigma_number(text): text that is a JSON number (443, -1.5, 2e10) as a DOUBLE, NULL for anything else (" 443",
-- "+443", "1_000", "inf" and "NaN" are not numbers here, whatever a cast would make of them).
CREATE OR REPLACE MACRO sigma_number(text) AS
    CASE WHEN regexp_full_match(text, '-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?') THEN TRY_CAST(text AS DOUBLE) END;

-- sigma_strings(record): every string value anywhere in a record (at any depth, in lists too; not its keys,
-- numbers or booleans): what a keyword selection searches.
-- A scalar expression (no subquery), so that a test in front of it spares the records it rules out.
CREATE OR REPLACE MACRO sigma_strings(record) AS
    list_transform(
        list_filter(json_extract(record, '$..*'), lambda v: json_type(v) = 'VARCHAR'),
        lambda v: v ->> '$');

-- sigma_ipv4(text): an IPv4 address in dotted decimal (no leading zeros) as a number, NULL when text is not one.
CREATE OR REPLACE MACRO sigma_ipv4(text) AS
    CASE WHEN regexp_full_match(text, '((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])')
        THEN (split_part(text, '.', 1)::BIGINT << 24) + (split_part(text, '.', 2)::BIGINT << 16)
            + (split_part(text, '.', 3)::BIGINT << 8) + split_part(text, '.', 4)::BIGINT
    END;

-- sigma_hex_groups(part): the colon-separated groups of one side of an IPv6 address, each of 1 to 4 hex digits;
-- an empty side has none; NULL when a group is not hex.
CREATE OR REPLACE MACRO sigma_hex_groups(part) AS
    CASE
        WHEN part = '' THEN []::VARCHAR[]
        WHEN len(list_filter(string_split(part, ':'), lambda g: NOT regexp_full_match(g, '[0-9A-Fa-f]{1,4}'))) = 0
            THEN string_split(part, ':')
    END;

-- sigma_ipv6_fill(head, tail): the eight groups of an address written with '::' (at least one group of zeros).
CREATE OR REPLACE MACRO sigma_ipv6_fill(head, tail) AS
    CASE WHEN len(head) + len(tail) <= 7
        THEN head || list_transform(range(8 - len(head) - len(tail)), lambda i: '0') || tail
    END;

-- sigma_ipv6(text): an IPv6 address as 32 lowercase hex digits (so a network is a range of such strings), NULL
-- when text is not one. Not read: zone ids (fe80::1%eth0) and IPv4 written inside IPv6 (::ffff:192.0.2.1).
CREATE OR REPLACE MACRO sigma_ipv6(text) AS
    lower(array_to_string(list_transform(
        CASE
            WHEN NOT coalesce(regexp_full_match(text, '[0-9A-Fa-f:]{2,39}'), false) THEN NULL
            WHEN NOT contains(text, '::') THEN
                CASE WHEN len(sigma_hex_groups(text)) = 8 THEN sigma_hex_groups(text) END
            WHEN len(string_split(text, '::')) = 2 THEN
                sigma_ipv6_fill(sigma_hex_groups(split_part(text, '::', 1)), sigma_hex_groups(split_part(text, '::', 2)))
        END,
        lambda g: lpad(g, 4, '0')), ''));

"""Where a Sigma rule's field is in the lake: a typed column where the lake has one, a JSON path into a JSON
text column, and ``event_json`` (the record as delivered) for everything else, so no field a rule names is out
of reach.

A field is a dotted path into the record (``userIdentity.sessionContext.sessionIssuer.userName``,
``requestParameters.policyDocument``). What a comparison needs from it is its *texts*, the values it is
compared as (see ``sigma_texts`` in ``trailduck/sql/sigma.sql``), whether it is absent or null, and whether its
key exists. A typed leaf (a string or boolean column) has at most one text and is compared as a scalar, which
costs a scan of that column only; the rest are lists built from JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

from trailduck.convert.schema import JSON_META, RECORD_FIELDS
from trailduck.sql import sql_literal

#: The column holding the record as delivered.
RECORD = "event_json"
#: A field name part trailduck will splice into a JSON path or a column reference.
_PART = re.compile(r"[^\"\\\x00-\x1f]+")


class FieldError(ValueError):
    """A field name that cannot be a path into a record."""


@dataclass(frozen=True)
class Field:
    """The SQL for one field of a rule."""

    name: str
    #: The field's one text (VARCHAR), for a typed leaf; None for a field read from JSON.
    scalar: str | None
    #: The field's texts (VARCHAR[]): empty when absent or null.
    texts: str
    #: True when the field is absent or JSON null.
    is_null: str
    #: True when the record has the field's key (even with a null value).
    exists: str


def _ident(name: str) -> str:
    return '"' + name + '"'


def _json_path(parts: list[str]) -> str:
    return sql_literal("$" + "".join(f'."{p}"' for p in parts))


#: Characters JSON never has to escape (printable ASCII but the quote, backslash and slash): in JSON text without
#: a ``\\u`` escape, a run of them in a decoded string is in the text as it is.
_AS_WRITTEN = re.compile(r"[A-Za-z0-9 !#$%&'()*+,.:;<=>?@\[\]^_`{|}~-]+")


def longest_as_written(text: str) -> str:
    """The longest run of ``text`` that JSON writes as it is."""
    return max(_AS_WRITTEN.findall(text), key=len, default="")


def may_hold(doc: str, text: str, *, cased: bool) -> str | None:
    """SQL that is FALSE only when the JSON text ``doc`` certainly does not hold ``text`` (a key in quotes, a run
    of a value): a test on the raw text, far cheaper than parsing it, put before a parse so that most records
    skip it. None when ``text`` has characters JSON may write otherwise."""
    if not _AS_WRITTEN.fullmatch(text.strip('"')):
        return None
    raw = f"CAST({doc} AS VARCHAR)"
    if cased:
        test = f"contains({raw}, {sql_literal(text)})"
    else:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        test = f"{raw} ILIKE {sql_literal(pattern)} ESCAPE '\\'"
    return f"({test} OR contains({raw}, '\\u'))"


def record_if(test: str | None) -> str:
    """The record as delivered where ``test`` (a :func:`may_hold` test of its raw text) holds, NULL elsewhere, so
    the record is parsed only where it may match: inside the parse's argument, the test holds wherever DuckDB
    evaluates the expression (it computes a shared or OR'ed expression for every event, before the filter)."""
    return RECORD if test is None else f"(CASE WHEN {test} THEN {RECORD} END)"


def _from_json(name: str, doc: str, parts: list[str]) -> Field:
    if doc == RECORD:
        # The whole record is large: one that does not hold the field's key as text is not parsed (no texts,
        # absent).
        doc = record_if(may_hold(doc, f'"{parts[-1]}"', cased=True))
    path = _json_path(parts)
    return Field(
        name=name,
        scalar=None,
        texts=f"sigma_texts(json_extract({doc}, {path}))",
        is_null=f"coalesce(json_type({doc}, {path}), 'NULL') = 'NULL'",
        exists=f"coalesce(json_exists({doc}, {path}), false)",
    )


def _typed_leaf(name: str, column: str, kind: pa.DataType, parts: list[str]) -> Field:
    text = column if pa.types.is_string(kind) else f"CAST({column} AS VARCHAR)"
    # A typed column is NULL both for an absent key and for a JSON null: the record tells them apart.
    in_record = _from_json(name, RECORD, parts).exists
    return Field(
        name=name,
        scalar=text,
        texts=f"list_filter([{text}], lambda x: x IS NOT NULL)",
        is_null=f"{column} IS NULL",
        exists=f"({column} IS NOT NULL OR {in_record})",
    )


def resolve(name: str) -> Field:
    """The SQL for field ``name`` (raises :class:`FieldError` for a name that cannot be a path)."""
    parts = name.split(".")
    if not all(_PART.fullmatch(p) for p in parts):
        raise FieldError(
            f"field {name!r} is not a dotted path of names (no quotes, backslashes or empty parts)"
        )
    fields = {f.name: f for f in RECORD_FIELDS}
    column = ""
    for i, part in enumerate(parts):
        field = fields.get(part)
        if field is None:
            break
        column = f"{column}.{_ident(part)}" if column else _ident(part)
        rest = parts[i + 1 :]
        if field.metadata == JSON_META:
            return _from_json(name, column, rest)
        kind = field.type
        if pa.types.is_struct(kind) and rest:
            fields = {kind.field(j).name: kind.field(j) for j in range(kind.num_fields)}
            continue
        if (pa.types.is_string(kind) or pa.types.is_boolean(kind)) and not rest:
            return _typed_leaf(name, column, kind, parts)
        if pa.types.is_list(kind) and len(rest) == 1 and pa.types.is_struct(kind.value_type):
            item = kind.value_type
            if item.get_field_index(rest[0]) >= 0 and pa.types.is_string(item.field(rest[0]).type):
                # resources.ARN: a list of objects, any element's field.
                each = sql_literal(f'$.{part}[*]."{rest[0]}"')
                record = record_if(may_hold(RECORD, f'"{rest[0]}"', cased=True))
                texts = f"list_filter(list_transform({column}, lambda r: r.{_ident(rest[0])}), lambda x: x IS NOT NULL)"
                return Field(
                    name=name,
                    scalar=None,
                    texts=texts,
                    is_null=f"coalesce(len({texts}), 0) = 0",
                    exists=f"coalesce(list_bool_or(json_exists({record}, {each})), false)",
                )
        break  # a timestamp, a whole object, a path the lake does not model: the record as delivered
    return _from_json(name, RECORD, parts)

"""The SQL pieces of the Sigma backend against Python's own reading of the same thing: addresses and networks
(``ipaddress``), wildcard patterns (a regular expression built from the specification's words) and the texts of a
JSON value (``json``), on values hypothesis makes up."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.types import SigmaCIDRExpression, SigmaString

from trailduck.sigma.backend import cidr_match, string_match
from trailduck.sql import load_sql, sql_literal

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute(load_sql("sigma.sql"))
    return c


def _one(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> Any:
    row = con.execute(f"SELECT {sql}", list(params)).fetchone()
    assert row is not None
    return row[0]


def _is_address(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


ipv4_texts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.lists(
        st.integers(0, 300).map(str) | st.sampled_from(["01", "00", "", "a", " 1"]), min_size=3, max_size=5
    ).map(".".join),
)
ipv6_texts = st.one_of(
    st.ip_addresses(v=6).map(str),
    st.ip_addresses(v=6).map(lambda a: a.exploded),
    st.ip_addresses(v=6).map(lambda a: a.exploded.upper()),
    st.lists(st.sampled_from(["0", "1", "ffff", "12345", "", "g", "::"]), min_size=1, max_size=10).map(
        ":".join
    ),
)


@SETTINGS
@given(text=ipv4_texts)
def test_ipv4_reads_what_python_reads(con: duckdb.DuckDBPyConnection, text: str) -> None:
    expected = int(ipaddress.IPv4Address(text)) if _is_address(text, 4) else None
    assert _one(con, "sigma_ipv4(?)", text) == expected


@SETTINGS
@given(text=ipv6_texts)
def test_ipv6_reads_what_python_reads(con: duckdb.DuckDBPyConnection, text: str) -> None:
    plain = _is_address(text, 6) and "." not in text and "%" not in text
    expected = format(int(ipaddress.IPv6Address(text)), "032x") if plain else None
    assert _one(con, "sigma_ipv6(?)", text) == expected


@SETTINGS
@given(address=st.ip_addresses(), network=st.ip_addresses(), prefix=st.integers(0, 128))
def test_cidr_matches_what_python_says_is_inside(
    con: duckdb.DuckDBPyConnection, address: Any, network: Any, prefix: int
) -> None:
    prefix = min(prefix, network.max_prefixlen)
    net = ipaddress.ip_network(f"{network}/{prefix}", strict=False)
    cidr = SigmaCIDRExpression(str(net))
    inside = address.version == net.version and address in net
    assert bool(_one(con, f"coalesce({cidr_match('?', cidr)}, false)", str(address))) is inside


def _sigma_regex(value: str) -> re.Pattern[str]:
    """The specification's wildcards as a Python regex: * any run, ? one character, \\* \\? \\\\ themselves,
    a backslash before anything else a backslash."""
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value) and value[i + 1] in "*?\\":
            out.append(re.escape(value[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


alphabet = st.sampled_from(list("aAbB%_\\*?.\n'ß"))


@SETTINGS
@given(value=st.text(alphabet, max_size=8), text=st.text(alphabet, max_size=8), cased=st.booleans())
def test_wildcards_and_escapes_match_as_the_specification_says(
    con: duckdb.DuckDBPyConnection, value: str, text: str, cased: bool
) -> None:
    pattern = _sigma_regex(value)
    if not cased:
        pattern = re.compile(pattern.pattern, re.DOTALL | re.IGNORECASE)
    expected = pattern.fullmatch(text) is not None
    sql = string_match("?", SigmaString(value), cased=cased)
    assert bool(_one(con, f"coalesce({sql}, false)", text)) is expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text("abc", max_size=2), children, max_size=3)
    ),
    max_leaves=8,
)


def _texts(value: Any) -> list[Any]:
    """The texts the semantics give a value: a string itself, anything else (but null) as compact JSON, which the
    test compares as the value it reads back as (DuckDB writes some escapes otherwise: \\u001F)."""
    items = value if isinstance(value, list) else [value]
    return [v if isinstance(v, str) else ("json", v) for v in items if v is not None]


@SETTINGS
@given(value=json_values)
def test_the_texts_of_a_json_value_are_what_the_semantics_say(
    con: duckdb.DuckDBPyConnection, value: Any
) -> None:
    doc = json.dumps({"field": value}, indent=1)  # as delivered: with spaces, which the texts leave out
    got = _one(con, f"sigma_texts(json_extract({sql_literal(doc)}, '$.\"field\"'))")
    expected = _texts(value)
    assert len(got) == len(expected)
    for text, want in zip(got, expected, strict=True):
        if isinstance(want, str):
            assert text == want
        else:
            compact = json.dumps(want[1], separators=(",", ":"), ensure_ascii=False)
            assert json.loads(text) == want[1] and len(text) == len(compact)


def test_an_absent_value_has_no_texts(con: duckdb.DuckDBPyConnection) -> None:
    assert _one(con, """sigma_texts(json_extract('{"a": 1}', '$."b"'))""") == []
    assert _one(con, "sigma_texts(NULL::JSON)") == []

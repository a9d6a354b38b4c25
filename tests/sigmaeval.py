"""An independent evaluator of Sigma rules over raw CloudTrail records (Python dicts), written from the matching
semantics the lake's Sigma backend implements, not from pySigma nor from the backend: the tests hold the planted
expectations and the backend's SQL to it.

The semantics, in short:

- A field is a dotted path into the record. A step into a non-object or a missing key: the field is absent. A list
  is only looked into at the leaf (any element), except ``resources.<x>`` (any element's ``x``).
- The texts of a value: a string itself, a number its JSON text, true/false ``'true'``/``'false'``, an object its
  compact JSON text, null none, a list the texts of its elements (objects and lists as compact JSON).
- A plain string matches a whole text case-insensitively; ``*`` any run, ``?`` one character, ``\\*``, ``\\?``,
  ``\\\\`` literal; a backslash before anything else is itself. contains/startswith/endswith add ``*``;
  ``|cased`` is case-sensitive; ``|all`` needs every value of the list.
- ``|re`` is ``re.search`` (``|i``, ``|m``, ``|s`` flags); ``|exists`` is the key's presence (null included); a null
  value matches an absent or null field; a number some text that is a number equal to it; a boolean the texts
  ``'true'``/``'false'``; gt/gte/lt/lte compare numbers; ``|cidr`` an IPv4/IPv6 address inside the network;
  ``|windash`` each ``-`` may be ``/`` or a dash; ``|fieldref`` some text equal to some text of the other field.
- Keywords match a string value anywhere in the record (keys, numbers and booleans are not searched).
- Conditions: and, or, not, parentheses, ``1 of``/``all of`` a pattern or ``them``; identifiers starting with
  ``_`` are left out of ``them`` and of patterns that do not start with ``_``.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

Record = dict[str, Any]
Predicate = Callable[[Record], bool]

LOGSOURCE = {"product": "aws", "service": "cloudtrail"}
#: Every modifier the evaluator knows; any other one (|expand, |base64...) is Unsupported.
MODIFIERS = frozenset(
    {
        "contains",
        "startswith",
        "endswith",
        "cased",
        "all",
        "re",
        "i",
        "m",
        "s",
        "exists",
        "gt",
        "gte",
        "lt",
        "lte",
        "cidr",
        "windash",
        "fieldref",
    }
)
_RE_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}
_COMPARE = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_DASHES = ("-", "/", "\u2013", "\u2014", "\u2015")
# A JSON number's text; Python's float() alone would also take "1_000", " 7", "nan" or "inf".
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


class Unsupported(Exception):
    """A rule outside what the evaluator (and the backend) converts; the message names the construct."""


def load_rule(path: Path) -> dict[str, Any]:
    rule = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(rule, dict):
        raise ValueError(f"{path}: not a Sigma rule (a YAML mapping)")
    return rule


def matches(rule: dict[str, Any], record: Record) -> bool:
    return compile_rule(rule)(record)


def count(rule: dict[str, Any], records: Iterable[Record]) -> int:
    test = compile_rule(rule)
    return sum(1 for rec in records if test(rec))


# -- fields and their texts ----------------------------------------------------------------------------------
def field_values(record: Record, field: str) -> list[Any]:
    """The values of a dotted field (null included); an empty list when the field is absent."""
    steps = field.split(".")
    if steps[0] == "resources" and len(steps) > 1 and isinstance(record.get("resources"), list):
        return [v for element in record["resources"] for v in _walk(element, steps[1:])]
    return _walk(record, steps)


def _walk(value: Any, steps: list[str]) -> list[Any]:
    for step in steps:
        if not isinstance(value, dict) or step not in value:
            return []
        value = value[step]
    return [value]


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _scalar_texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool):  # before int: a bool is an int
        return ["true" if value else "false"]
    if isinstance(value, str):
        return [value]
    if isinstance(value, int | float):
        return [json.dumps(value)]
    if isinstance(value, dict | list):
        return [_compact(value)]
    raise TypeError(f"not a JSON value: {value!r}")


def texts(value: Any) -> list[str]:
    """The texts a value is compared by: a list's are its elements' (a nested object or list as compact JSON)."""
    if isinstance(value, list):
        return [t for element in value for t in _scalar_texts(element)]
    return _scalar_texts(value)


def field_texts(record: Record, field: str) -> list[str]:
    return [t for v in field_values(record, field) for t in texts(v)]


def _number(text: str) -> float | None:
    return float(text) if _NUMBER.fullmatch(text) else None


def _strings(value: Any) -> Iterator[str]:
    """Every string value at any depth (keys, numbers and booleans left out)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


# -- values --------------------------------------------------------------------------------------------------
def sigma_pattern(
    value: str, *, prefix: bool = False, suffix: bool = False, cased: bool = False
) -> re.Pattern[str]:
    """A Sigma string as a regex to fullmatch (lower-cased unless ``cased``); ``prefix``/``suffix`` add ``*``
    before/after the parsed value (so a trailing backslash stays a backslash)."""
    parts = [".*"] if prefix else []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value) and value[i + 1] in "*?\\":
            parts.append(re.escape(value[i + 1]))
            i += 2
            continue
        if c == "*":
            parts.append(".*")
        elif c == "?":
            parts.append(".")
        else:
            parts.append(re.escape(c if cased else c.lower()))
        i += 1
    if suffix:
        parts.append(".*")
    return re.compile("".join(parts), re.DOTALL)


def windash_variants(value: str) -> list[str]:
    """The value with each ``-`` or ``/`` that starts a word (not after a word character, before one: a flag such
    as ``-enc`` or ``/c``) as any of ``-``, ``/``, an en dash, an em dash or a horizontal bar, in all
    combinations."""
    starts = [
        i
        for i, c in enumerate(value)
        if c in "-/" and (i == 0 or not _word(value[i - 1])) and i + 1 < len(value) and _word(value[i + 1])
    ]
    out = []
    for dashes in itertools.product(_DASHES, repeat=len(starts)):
        chars = list(value)
        for i, d in zip(starts, dashes, strict=True):
            chars[i] = d
        out.append("".join(chars))
    return out


def _word(c: str) -> bool:
    return c.isalnum() or c == "_"


def _value_test(field: str, mods: set[str], value: Any) -> Predicate:
    if value is None:
        return lambda rec: any(v is None for v in field_values(rec, field)) or not field_values(rec, field)
    if "fieldref" in mods:
        other = str(value)

        def fieldref(rec: Record) -> bool:
            mine = {t.lower() for t in field_texts(rec, field)}
            return bool(mine & {t.lower() for t in field_texts(rec, other)})

        return fieldref
    if "re" in mods:
        flags = 0
        for flag, bit in _RE_FLAGS.items():
            if flag in mods:
                flags |= bit
        rx = re.compile(str(value), flags)
        return lambda rec: any(rx.search(t) for t in field_texts(rec, field))
    if "cidr" in mods:
        net = ipaddress.ip_network(str(value), strict=False)
        return lambda rec: any(_in_network(t, net) for t in field_texts(rec, field))
    compare = [op for name, op in _COMPARE.items() if name in mods]
    if compare:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Unsupported(f"|{'/'.join(sorted(mods & set(_COMPARE)))} with a non-number {value!r}")
        op, bound = compare[0], float(value)
        return lambda rec: any(
            (n := _number(t)) is not None and op(n, bound) for t in field_texts(rec, field)
        )
    stringy = mods & {"contains", "startswith", "endswith", "windash", "cased"}
    if isinstance(value, bool) and not stringy:
        want = "true" if value else "false"
        return lambda rec: any(t.lower() == want for t in field_texts(rec, field))
    if isinstance(value, int | float) and not isinstance(value, bool) and not stringy:
        number = float(value)
        return lambda rec: any(_number(t) == number for t in field_texts(rec, field))
    text = json.dumps(value) if isinstance(value, bool | int | float) else str(value)
    cased = "cased" in mods
    variants = windash_variants(text) if "windash" in mods else [text]
    patterns = [
        sigma_pattern(
            v,
            prefix=bool(mods & {"contains", "endswith"}),
            suffix=bool(mods & {"contains", "startswith"}),
            cased=cased,
        )
        for v in variants
    ]
    return lambda rec: any(
        p.fullmatch(t if cased else t.lower()) for t in field_texts(rec, field) for p in patterns
    )


def _in_network(text: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if "%" in text:  # no zone ids
        return False
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.version == net.version and address in net


def _item_test(key: str, value: Any) -> Predicate:
    field, *modlist = key.split("|")
    mods = set(modlist)
    if "expand" in mods:
        raise Unsupported(f"{key}: the |expand modifier (placeholders)")
    if mods - MODIFIERS:
        raise Unsupported(f"{key}: modifier(s) {', '.join(sorted(mods - MODIFIERS))}")
    if mods & set(_RE_FLAGS) and "re" not in mods:
        raise Unsupported(f"{key}: |i, |m and |s go with |re only")
    if "exists" in mods:
        if not isinstance(value, bool):
            raise Unsupported(f"{key}: |exists takes true or false, not {value!r}")
        return lambda rec: bool(field_values(rec, field)) == value
    tests = [_value_test(field, mods, v) for v in (value if isinstance(value, list) else [value])]
    if "all" in mods:
        return lambda rec: all(t(rec) for t in tests)
    return lambda rec: any(t(rec) for t in tests)


def _map_test(selection: dict[str, Any]) -> Predicate:
    tests = [_item_test(str(k), v) for k, v in selection.items()]
    return lambda rec: all(t(rec) for t in tests)


def _keyword_test(keywords: list[Any]) -> Predicate:
    patterns = [sigma_pattern(str(k)) for k in keywords]
    return lambda rec: any(p.fullmatch(s.lower()) for s in _strings(rec) for p in patterns)


def selection_test(name: str, selection: Any) -> Predicate:
    """A map: AND of its items; a list of maps: OR of the maps; a list of plain values: keywords."""
    if isinstance(selection, dict) and selection:
        return _map_test(selection)
    if isinstance(selection, list) and selection and all(isinstance(s, dict) and s for s in selection):
        maps = [_map_test(s) for s in selection]
        return lambda rec: any(m(rec) for m in maps)
    if isinstance(selection, list) and selection and not any(isinstance(s, dict | list) for s in selection):
        return _keyword_test(selection)
    if isinstance(selection, str | int | float):
        return _keyword_test([selection])
    raise Unsupported(f"selection {name!r}: neither a map, a list of maps nor a list of keywords")


# -- the condition -------------------------------------------------------------------------------------------
class _Condition:
    """Recursive descent over ``or`` > ``and`` > ``not`` > (parentheses, ``1 of x``, ``all of x``, a name)."""

    def __init__(self, text: str, selections: dict[str, Predicate]) -> None:
        if "|" in text:
            raise Unsupported(f"condition {text!r}: aggregations are not converted")
        self.text = text
        self.tokens = re.findall(r"\(|\)|[^\s()]+", text)
        self.pos = 0
        self.selections = selections

    def parse(self) -> Predicate:
        test = self._or()
        if self.pos != len(self.tokens):
            raise ValueError(f"condition {self.text!r}: unexpected {self.tokens[self.pos]!r}")
        return test

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ValueError(f"condition {self.text!r}: ends too soon")
        self.pos += 1
        return token

    def _or(self) -> Predicate:
        tests = [self._and()]
        while (self._peek() or "").lower() == "or":
            self._take()
            tests.append(self._and())
        return tests[0] if len(tests) == 1 else (lambda rec: any(t(rec) for t in tests))

    def _and(self) -> Predicate:
        tests = [self._not()]
        while (self._peek() or "").lower() == "and":
            self._take()
            tests.append(self._not())
        return tests[0] if len(tests) == 1 else (lambda rec: all(t(rec) for t in tests))

    def _not(self) -> Predicate:
        if (self._peek() or "").lower() == "not":
            self._take()
            inner = self._not()
            return lambda rec: not inner(rec)
        return self._atom()

    def _atom(self) -> Predicate:
        token = self._take()
        if token == "(":
            inner = self._or()
            if self._take() != ")":
                raise ValueError(f"condition {self.text!r}: a parenthesis is not closed")
            return inner
        if token.lower() in ("1", "any", "all") and (self._peek() or "").lower() == "of":
            self._take()
            tests = [self.selections[n] for n in self.names(self._take())]
            if token.lower() == "all":
                return lambda rec: all(t(rec) for t in tests)
            return lambda rec: any(t(rec) for t in tests)
        if token not in self.selections:
            raise ValueError(f"condition {self.text!r}: no selection named {token!r}")
        return self.selections[token]

    def names(self, pattern: str) -> list[str]:
        """The selections ``them`` or a pattern names (``_`` ones only for a pattern that starts with ``_``)."""
        if pattern == "them":
            names = [n for n in self.selections if not n.startswith("_")]
        else:
            rx = re.compile(".*".join(re.escape(p) for p in pattern.split("*")))
            names = [
                n
                for n in self.selections
                if rx.fullmatch(n) and (pattern.startswith("_") or not n.startswith("_"))
            ]
        if not names:
            raise ValueError(f"condition {self.text!r}: {pattern!r} names no selection")
        return names


def compile_rule(rule: dict[str, Any]) -> Predicate:
    """The rule as a test of one record."""
    logsource = rule.get("logsource") or {}
    if {k: logsource.get(k) for k in LOGSOURCE} != LOGSOURCE or set(logsource) - {*LOGSOURCE, "definition"}:
        raise Unsupported(f"log source {logsource!r}: only product aws, service cloudtrail")
    if "correlation" in rule:
        raise Unsupported("correlation rules are not converted")
    detection = dict(rule["detection"])
    if "timeframe" in detection:
        raise Unsupported("a timeframe (aggregation) is not converted")
    condition = detection.pop("condition")
    selections = {str(name): selection_test(str(name), sel) for name, sel in detection.items()}
    if isinstance(condition, list):  # the old form: a list of conditions, any of which
        parts = [_Condition(str(c), selections).parse() for c in condition]
        return lambda rec: any(p(rec) for p in parts)
    return _Condition(str(condition), selections).parse()

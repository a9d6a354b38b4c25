"""A pySigma backend that turns a Sigma rule's detection into a DuckDB ``WHERE`` condition over ``events``.

Built on pySigma's :class:`~sigma.conversion.base.TextQueryBackend`, which parses the rule, expands its
condition (``1 of selection_*``, ``them``, ``not``, parentheses) and its modifiers (``windash``, ``base64``,
lists of values, ``|all``) and joins the parts with ``AND``, ``OR`` and ``NOT``. Every comparison of a field
with a value is written here, with Sigma's semantics as ``trailduck/sigma/README.md`` lists them: where a field
is comes from :mod:`trailduck.sigma.fields`, and every comparison is TRUE or FALSE, never NULL, so ``not`` of
a comparison on an absent field is TRUE.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from ipaddress import IPv4Network
from typing import Any, ClassVar

import duckdb
from sigma.conditions import ConditionFieldEqualsValueExpression, ConditionOR, ConditionValueExpression
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaFieldReference,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
    TimestampPart,
)

from trailduck.sigma.fields import (
    RECORD,
    Field,
    FieldError,
    longest_as_written,
    may_hold,
    record_if,
    resolve,
)
from trailduck.sql import sql_literal

_COMPARE = {
    CompareOperators.LT: "<",
    CompareOperators.LTE: "<=",
    CompareOperators.GT: ">",
    CompareOperators.GTE: ">=",
}
_REGEX_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}
_TIME_PARTS = {
    TimestampPart.MINUTE: "minute",
    TimestampPart.HOUR: "hour",
    TimestampPart.DAY: "day",
    TimestampPart.WEEK: "week",
    TimestampPart.MONTH: "month",
    TimestampPart.YEAR: "year",
}
#: The one typed field a timestamp-part modifier (|hour, |day, ...) can read.
_TIME_FIELD = "eventTime"


def _unsupported(what: str, cond: Any = None) -> SigmaFeatureNotSupportedByBackendError:
    return SigmaFeatureNotSupportedByBackendError(what, source=getattr(cond, "source", None))


def like_pattern(s: SigmaString) -> str | None:
    """``s`` as a LIKE pattern (escape character ``\\``); None when it has no wildcard (compare it whole)."""
    if s.contains_placeholder():
        raise _unsupported("placeholders (|expand) need values trailduck does not have")
    if not s.contains_special():
        return None
    out = []
    for part in s.s:
        if part == SpecialChars.WILDCARD_MULTI:
            out.append("%")
        elif part == SpecialChars.WILDCARD_SINGLE:
            out.append("_")
        elif isinstance(part, str):
            out.append(part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
        else:
            raise _unsupported(f"the special part {part!r} of a value")
    return "".join(out)


def plain_text(s: SigmaString) -> str:
    """``s`` without wildcards, as the text it stands for."""
    return "".join(p for p in s.s if isinstance(p, str))


def plain_text_runs(s: SigmaString) -> str:
    """The literal runs of ``s``, a newline where a wildcard was (JSON never writes a newline as it is, so no run
    found in the result spans a wildcard)."""
    return "".join(p if isinstance(p, str) else "\n" for p in s.s)


#: The shortest literal run worth a test of the raw record before walking it.
_PREFILTER_MIN = 3


def string_match(text: str, s: SigmaString, *, cased: bool) -> str:
    """SQL: ``text`` (VARCHAR) matches the Sigma string ``s`` over its whole value."""
    pattern = like_pattern(s)
    if pattern is None:
        literal = sql_literal(plain_text(s))
        return f"{text} = {literal}" if cased else f"lower({text}) = lower({literal})"
    return f"{text} {'LIKE' if cased else 'ILIKE'} {sql_literal(pattern)} ESCAPE '\\'"


_CHECK = duckdb.connect()


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null for the moment: what C++ libraries log there, the user need not read."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def regex_literal(r: SigmaRegularExpression) -> str:
    """The regular expression with its flags as RE2 inline flags, checked by DuckDB now (RE2 has no
    lookarounds or backreferences: such a rule is unsupported rather than failing at query time)."""
    flags = "".join(sorted(_REGEX_FLAGS[f] for f in r.flags))
    pattern = (f"(?{flags})" if flags else "") + r.regexp.to_plain()
    try:
        with _quiet_stderr():  # RE2 logs its refusal to the process's stderr too
            _CHECK.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
    except duckdb.Error as exc:
        raise _unsupported(f"regular expression {r.regexp.to_plain()!r}: {str(exc).splitlines()[0]}") from exc
    return sql_literal(pattern)


def cidr_match(text: str, c: SigmaCIDRExpression) -> str:
    net = c.network
    if isinstance(net, IPv4Network):
        return f"sigma_ipv4({text}) BETWEEN {int(net.network_address)} AND {int(net.broadcast_address)}"
    low, high = (format(int(a), "032x") for a in (net.network_address, net.broadcast_address))
    return f"sigma_ipv6({text}) BETWEEN '{low}' AND '{high}'"


#: The values :func:`value_predicate` compares a text with.
_COMPARED = (
    SigmaString,
    SigmaNumber,
    SigmaBool,
    SigmaRegularExpression,
    SigmaCIDRExpression,
    SigmaCompareExpression,
)


def value_predicate(value: Any, cond: Any = None) -> Callable[[str], str]:
    """SQL that is TRUE when a text (the SQL given) matches ``value`` under the semantics (NULL for no text)."""
    if isinstance(value, SigmaString):  # SigmaCasedString included
        cased = isinstance(value, SigmaCasedString)
        return lambda t: string_match(t, value, cased=cased)
    if isinstance(value, SigmaNumber):
        number = float(value.number)
        return lambda t: f"sigma_number({t}) = {number!r}"
    if isinstance(value, SigmaBool):
        word = "true" if value.boolean else "false"
        return lambda t: f"lower({t}) = '{word}'"
    if isinstance(value, SigmaRegularExpression):
        regex = regex_literal(value)
        return lambda t: f"regexp_matches({t}, {regex})"
    if isinstance(value, SigmaCIDRExpression):
        return lambda t: cidr_match(t, value)
    if isinstance(value, SigmaCompareExpression):
        op = _COMPARE.get(value.op)
        if op is None:
            raise _unsupported(f"the comparison {value.op.name}", cond)
        bound = float(value.number.number)
        return lambda t: f"sigma_number({t}) {op} {bound!r}"
    raise _unsupported(f"a value of type {type(value).__name__}", cond)


def values_predicates(values: list[Any], cond: Any = None) -> list[Callable[[str], str]]:
    """The tests of a text against any of ``values``: whole strings without wildcards as one ``IN`` list (one
    case-insensitive, one cased), which DuckDB plans as a set however long the list; the rest one by one."""
    plain: dict[bool, list[str]] = {False: [], True: []}
    rest: list[Callable[[str], str]] = []
    for value in values:
        if (
            isinstance(value, SigmaString)
            and not value.contains_placeholder()
            and like_pattern(value) is None
        ):
            plain[isinstance(value, SigmaCasedString)].append(sql_literal(plain_text(value)))
        else:
            rest.append(value_predicate(value, cond))
    out: list[Callable[[str], str]] = []
    if plain[False]:
        folded = ", ".join(f"lower({v})" for v in plain[False])
        out.append(lambda t: f"lower({t}) IN ({folded})")
    if plain[True]:
        exact = ", ".join(plain[True])
        out.append(lambda t: f"{t} IN ({exact})")
    return out + rest


class DuckDBSigmaBackend(TextQueryBackend):
    """Sigma rules to a DuckDB condition over the ``events`` view (see the module's docstring)."""

    name: ClassVar[str] = "trailduck DuckDB"
    formats: ClassVar[dict[str, str]] = {"default": "a DuckDB condition over events"}
    requires_pipeline: ClassVar[bool] = False

    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "
    convert_or_as_in: ClassVar[bool] = False
    convert_and_as_in: ClassVar[bool] = False
    query_expression: ClassVar[str] = "{query}"

    # Each comparison is written whole by a method below; none goes through the base class's templates.

    def _field(self, cond: ConditionFieldEqualsValueExpression) -> Field:
        try:
            return resolve(cond.field)
        except FieldError as exc:
            raise _unsupported(str(exc), cond) from exc

    @staticmethod
    def _any(field: Field, predicate: Callable[[str], str]) -> str:
        """SQL: some text of ``field`` satisfies ``predicate`` (SQL over the text it is given); TRUE or FALSE."""
        if field.scalar is not None:
            return f"coalesce({predicate(field.scalar)}, false)"
        return f"coalesce(len(list_filter({field.texts}, lambda t: {predicate('t')})) > 0, false)"

    def _compare(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        return self._any(self._field(cond), value_predicate(cond.value, cond))

    convert_condition_field_eq_val_str = _compare
    convert_condition_field_eq_val_str_case_sensitive = _compare
    convert_condition_field_eq_val_num = _compare
    convert_condition_field_eq_val_bool = _compare
    convert_condition_field_eq_val_re = _compare
    convert_condition_field_eq_val_cidr = _compare
    convert_condition_field_compare_op_val = _compare

    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> Any:
        """A list of values for one field, or a list of keywords, as one pass over the field's texts (or the
        record's strings) testing each value: one test of the raw record, and no list DuckDB would build for
        every event to share between the values (a common subexpression is computed before the filter)."""
        args = cond.args
        if len(args) > 1 and all(isinstance(a, ConditionFieldEqualsValueExpression) for a in args):
            fields = {a.field for a in args if isinstance(a, ConditionFieldEqualsValueExpression)}
            values = [a.value for a in args if isinstance(a, ConditionFieldEqualsValueExpression)]
            if len(fields) == 1 and all(isinstance(v, _COMPARED) for v in values):
                predicates = values_predicates(values, cond)
                field = self._field(args[0])  # type: ignore[arg-type]
                return self._any(field, lambda t: "(" + " OR ".join(p(t) for p in predicates) + ")")
        if len(args) > 1 and all(isinstance(a, ConditionValueExpression) for a in args):
            keywords = [a.value for a in args if isinstance(a, ConditionValueExpression)]
            if all(isinstance(k, SigmaString | SigmaRegularExpression) for k in keywords):
                return self._keywords(keywords)  # type: ignore[arg-type]
        return super().convert_condition_or(cond, state)

    def convert_condition_field_eq_val_timestamp_part(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaTimestampPart)
        if cond.field != _TIME_FIELD:
            raise _unsupported(
                f"a timestamp part of {cond.field!r} (only {_TIME_FIELD} is a timestamp)", cond
            )
        part = _TIME_PARTS[cond.value.timestamp_part]
        return f"coalesce(date_part('{part}', {_TIME_FIELD} AT TIME ZONE 'UTC') = {int(cond.value.number)}, false)"

    def convert_condition_field_eq_field(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaFieldReference)
        ref = cond.value
        try:
            other = resolve(ref.field)
        except FieldError as exc:
            raise _unsupported(str(exc), cond) from exc
        a, b = "lower(t)", "lower(u)"
        if ref.starts_with and ref.ends_with:
            test = f"contains({a}, {b})"
        elif ref.starts_with:
            test = f"starts_with({a}, {b})"
        elif ref.ends_with:
            test = f"ends_with({a}, {b})"
        else:
            test = f"{a} = {b}"
        field = self._field(cond)
        return (
            f"coalesce(len(list_filter({field.texts}, lambda t: "
            f"len(list_filter({other.texts}, lambda u: {test})) > 0)) > 0, false)"
        )

    def convert_condition_field_eq_val_null(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return f"({self._field(cond).is_null})"

    def convert_condition_field_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return self._field(cond).exists

    def convert_condition_field_not_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return f"NOT {self._field(cond).exists}"

    def convert_condition_field_eq_query_expr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        raise _unsupported("query expressions (from a processing pipeline's placeholders)", cond)

    # Keywords: a value without a field is searched in every string of the record.

    @staticmethod
    def _keywords(keywords: list[SigmaString | SigmaRegularExpression]) -> str:
        """SQL: some string of the record matches one of ``keywords``. Walking every string of every record is
        slow: a test of the raw text in front of it (each keyword's longest literal run) spares the walk to the
        records that cannot match, unless a keyword has no such run (a regular expression, a short one)."""
        tests: list[str] = []
        prefilters: list[str | None] = []
        for keyword in keywords:
            if isinstance(keyword, SigmaRegularExpression):
                tests.append(f"regexp_matches(t, {regex_literal(keyword)})")
                prefilters.append(None)
                continue
            cased = isinstance(keyword, SigmaCasedString)
            tests.append(string_match("t", keyword, cased=cased))
            run = longest_as_written(plain_text_runs(keyword))
            prefilters.append(may_hold(RECORD, run, cased=cased) if len(run) >= _PREFILTER_MIN else None)
        # Any keyword without a test of its own leaves every record to be walked.
        record = record_if(None if None in prefilters else " OR ".join(p for p in prefilters if p))
        return (
            f"coalesce(len(list_filter(sigma_strings({record}), lambda t: {' OR '.join(tests)})) > 0, false)"
        )

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaString)
        return self._keywords([cond.value])

    def convert_condition_val_num(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        raise _unsupported("a keyword that is a number (keywords search the record's strings)", cond)

    def convert_condition_val_re(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaRegularExpression)
        return self._keywords([cond.value])

    def convert_condition_query_expr(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        raise _unsupported("query expressions (from a processing pipeline's placeholders)", cond)

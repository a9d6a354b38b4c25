"""The Sigma rules shipped for the tests, the events planted for them, and the independent evaluator
(tests/sigmaeval.py) agree: every rule parses, the rules together use every modifier and condition form, and the
evaluator matches each planted event to exactly the rules it declares. No backend is needed."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.sigmaeval import LOGSOURCE, MODIFIERS, Unsupported, compile_rule, count, load_rule, matches
from trailduck.synthetic.cases import PlantedEvent
from trailduck.synthetic.sigma_cases import SIGMA_RULES, sigma_cases, sigma_rule_ids

ACCOUNT = "111122223333"
RULE_FILES = sorted(SIGMA_RULES.glob("*.yml"))
#: Every form the rules must use between them, so deleting the last rule that covers one fails a test.
FORMS = {
    *(f"|{m}" for m in MODIFIERS),
    "value:plain",
    "value:*",
    "value:?",
    "value:escaped-*",
    "value:escaped-?",
    "value:escaped-backslash",
    "value:lone-backslash",
    "value:null",
    "value:number",
    "value:number-as-string",
    "value:boolean",
    "value:list",
    "selection:map",
    "selection:list-of-maps",
    "selection:keywords",
    "field:nested",
    "field:resources",
    "condition:and",
    "condition:or",
    "condition:not",
    "condition:parentheses",
    "condition:1-of-pattern",
    "condition:all-of-pattern",
    "condition:1-of-them",
    "condition:all-of-them",
    "condition:underscore-pattern",
    "condition:underscore-identifier",
}


@pytest.fixture(scope="module")
def rules() -> dict[str, dict[str, Any]]:
    return {p.stem: load_rule(p) for p in RULE_FILES}


@pytest.fixture(scope="module")
def cases() -> list[PlantedEvent]:
    start = dt.datetime(2024, 3, 9, 8, tzinfo=dt.UTC)
    return sigma_cases(random.Random(1), ACCOUNT, "us-east-1", start)


# -- (a) the rule files ------------------------------------------------------------------------------------
def _string_forms(value: str) -> set[str]:
    """The wildcards and escapes a plain Sigma string uses (scanned as tests/sigmaeval.py parses it)."""
    forms = {"value:plain"}
    escaped = {"*": "value:escaped-*", "?": "value:escaped-?", "\\": "value:escaped-backslash"}
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value) and value[i + 1] in escaped:
            forms.add(escaped[value[i + 1]])
            i += 2
            continue
        if c in "*?":
            forms.add(f"value:{c}")
        elif c == "\\":
            forms.add("value:lone-backslash")
        i += 1
    return forms


def _value_forms(value: Any, mods: list[str]) -> set[str]:
    if value is None:
        return {"value:null"}
    if isinstance(value, bool):
        return set() if "exists" in mods else {"value:boolean"}
    if isinstance(value, int | float):
        return {"value:number"}
    if isinstance(value, str):
        plain = not set(mods) & {"re", "cidr", "fieldref"}
        forms = _string_forms(value) if plain else set()
        if re.fullmatch(r"[0-9]+", value) and not mods:
            forms.add("value:number-as-string")
        return forms
    raise AssertionError(f"unexpected value {value!r}")


def rule_forms(rule: dict[str, Any]) -> set[str]:
    """The modifiers, value kinds, selection kinds and condition forms one rule uses."""
    forms: set[str] = set()
    detection = dict(rule["detection"])
    condition = detection.pop("condition")
    for name, selection in detection.items():
        if isinstance(selection, dict):
            forms.add("selection:map")
            maps = [selection]
        elif all(isinstance(s, dict) for s in selection):
            forms.add("selection:list-of-maps")
            maps = selection
        else:
            forms.add("selection:keywords")
            forms |= {f for k in selection for f in _string_forms(k)}
            maps = []
        if name.startswith("_"):
            forms.add("condition:underscore-identifier")
        for item in maps:
            for key, value in item.items():
                field, *mods = key.split("|")
                forms |= {f"|{m}" for m in mods}
                if field.count(".") >= 2:
                    forms.add("field:nested")
                if field.startswith("resources."):
                    forms.add("field:resources")
                values = value if isinstance(value, list) else [value]
                if isinstance(value, list) and "all" not in mods:
                    forms.add("value:list")
                for v in values:
                    forms |= _value_forms(v, mods)
    words = re.findall(r"\(|\)|[^\s()]+", condition)
    forms |= {f"condition:{w}" for w in ("and", "or", "not") if w in words}
    if "(" in words:
        forms.add("condition:parentheses")
    for quantity, target in re.findall(r"\b(1|all) of (\S+)", condition):
        kind = "them" if target == "them" else "pattern"
        forms.add(f"condition:{quantity}-of-{kind}")
        if target.startswith("_"):
            forms.add("condition:underscore-pattern")
    return forms


def _snake(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_each_rule_file_is_a_complete_cloudtrail_rule_named_after_its_title(path: Path) -> None:
    rule = load_rule(path)
    assert path.stem == _snake(rule["title"])
    assert str(uuid.UUID(rule["id"])) == rule["id"]
    assert rule["status"] in ("test", "experimental", "stable")
    assert rule["level"] in ("low", "medium", "high", "critical")
    assert rule["tags"] and all(t.startswith("attack.") for t in rule["tags"])
    assert rule["logsource"] == LOGSOURCE
    assert rule["falsepositives"] and isinstance(rule["falsepositives"], list)
    assert "condition" in rule["detection"]
    compile_rule(rule)  # parses, with no unsupported construct


def test_the_rules_are_about_two_dozen_with_distinct_ids_and_titles(rules: dict[str, dict[str, Any]]) -> None:
    assert 20 <= len(rules) <= 30
    assert len({r["id"] for r in rules.values()}) == len(rules)
    assert len({r["title"] for r in rules.values()}) == len(rules)
    assert sigma_rule_ids() == {stem: r["id"] for stem, r in rules.items()}


def test_the_rules_together_use_every_modifier_and_condition_form(rules: dict[str, dict[str, Any]]) -> None:
    used = Counter(f for rule in rules.values() for f in rule_forms(rule))
    assert FORMS - set(used) == set()
    assert set(used) - FORMS == set()  # nothing used that the list (and the backend's brief) leaves out


def test_regexes_stay_in_the_syntax_re2_and_python_share(rules: dict[str, dict[str, Any]]) -> None:
    for rule in rules.values():
        for selection in rule["detection"].values():
            for item in selection if isinstance(selection, list) else [selection]:
                for key, value in item.items() if isinstance(item, dict) else []:
                    if "|re" in key:
                        # No lookarounds, backreferences, \d (Unicode digits in Python) or $ before a newline.
                        assert not re.search(r"\(\?[=!<]|\\[1-9dDwW]|\$", value), (key, value)


# -- (b) the planted events and the evaluator agree ---------------------------------------------------------
def test_planted_records_are_json_round_trippable(cases: list[PlantedEvent]) -> None:
    for case in cases:
        assert json.loads(json.dumps(case.record)) == case.record
    assert len({c.record["eventID"] for c in cases}) == len(cases)
    times = [c.record["eventTime"] for c in cases]
    assert times == sorted(times) and len(set(times)) == len(times)  # one minute apart


def test_every_rule_has_planted_matches_and_near_misses(
    rules: dict[str, dict[str, Any]], cases: list[PlantedEvent]
) -> None:
    expected = Counter(m for c in cases for m in c.matches)
    assert set(expected) == {r["id"] for r in rules.values()}
    assert all(expected[r["id"]] >= 1 for r in rules.values())
    assert sum(1 for c in cases if not c.matches) >= 60
    assert any(len(c.matches) > 1 for c in cases)  # some events match several rules


def test_the_evaluator_counts_exactly_the_planted_matches(
    rules: dict[str, dict[str, Any]], cases: list[PlantedEvent]
) -> None:
    records = [c.record for c in cases]
    for stem, rule in rules.items():
        assert count(rule, records) == sum(1 for c in cases if rule["id"] in c.matches), stem


def test_each_planted_event_matches_exactly_its_declared_rules(
    rules: dict[str, dict[str, Any]], cases: list[PlantedEvent]
) -> None:
    compiled = {r["id"]: compile_rule(r) for r in rules.values()}
    names = {r["id"]: stem for stem, r in rules.items()}
    for case in cases:
        got = {i for i, test in compiled.items() if test(case.record)}
        assert got == case.matches, (
            case.record["eventName"],
            sorted(names[i] for i in got),
            sorted(names[i] for i in case.matches),
        )


@pytest.mark.parametrize("seed", [2, 3, 17])
def test_the_expectations_hold_whatever_the_random_parts_of_the_events(
    rules: dict[str, dict[str, Any]], seed: int
) -> None:
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    compiled = {r["id"]: compile_rule(r) for r in rules.values()}
    for case in sigma_cases(random.Random(seed), "123456789012", "eu-west-1", start):
        assert {i for i, test in compiled.items() if test(case.record)} == case.matches


# -- (c) the evaluator's semantics --------------------------------------------------------------------------
def _rule(detection: dict[str, Any], condition: str = "sel") -> dict[str, Any]:
    return {"logsource": dict(LOGSOURCE), "detection": {**detection, "condition": condition}}


def _one(key: str, value: Any, record: dict[str, Any]) -> bool:
    return matches(_rule({"sel": {key: value}}), record)


REC: dict[str, Any] = {
    "eventName": "PutBucketPolicy",
    "sourceIPAddress": "2001:db8::7",
    "userIdentity": {"type": "IAMUser", "userName": "Jörg"},
    "requestParameters": {
        "port": 443,
        "portText": "443",
        "names": ["a", "B", {"k": 1}, ["x", 2]],
        "policy": {"Principal": {"AWS": "*"}, "Sid": "Ö"},
        "flag": True,
        "none": None,
        "path": "C:\\Temp\\a*b?.txt",
        "lines": "first\nsecond-line",
        "cmd": "tool.exe /enc ZQ== \u2013v",
    },
    "resources": [{"ARN": "arn:aws:s3:::a"}, {"ARN": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}],
    "count": 3,
}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        # exists: a null value is present; an absent key and a step through a non-object are not
        ("requestParameters.none|exists", True, True),
        ("requestParameters.nothing|exists", False, True),
        ("requestParameters.port.deeper|exists", True, False),
        ("requestParameters.names.k|exists", True, False),  # a list mid-path: absent
        # null: absent or JSON null
        ("requestParameters.none", None, True),
        ("requestParameters.nothing", None, True),
        ("requestParameters.port", None, False),
        # numbers and their text
        ("requestParameters.port", "443", True),
        ("requestParameters.portText", 443, True),
        ("requestParameters.port", "44*", True),
        ("requestParameters.portText|gte", 443, True),
        ("requestParameters.port|gt", 443, False),
        ("requestParameters.port|lt", 444, True),
        ("requestParameters.port|lte", 442, False),
        # lists: any element at the leaf; an object or list element as compact JSON
        ("requestParameters.names", "b", True),
        ("requestParameters.names|cased", "b", False),
        ("requestParameters.names", '{"k":1}', True),
        ("requestParameters.names", '["x",2]', True),
        ("requestParameters.names", "x", False),
        ("requestParameters.names|all", ["a", "B"], True),
        ("requestParameters.names|all", ["a", "c"], False),
        # an object as its compact JSON text, non-ASCII kept
        ("requestParameters.policy", '{"Principal":{"AWS":"\\*"},"Sid":"ö"}', True),
        ("requestParameters.policy|contains", '"AWS":"\\*"', True),
        ("requestParameters.policy|contains", '"AWS": "\\*"', False),
        # booleans
        ("requestParameters.flag", True, True),
        ("requestParameters.flag", "TRUE", True),
        ("requestParameters.flag", False, False),
        ("requestParameters.portText", True, False),
        # escapes: \* \? literal, a backslash before anything else is itself
        ("requestParameters.path", "C:\\Temp\\a\\*b\\?.txt", True),
        ("requestParameters.path", "C:\\Temp\\a\\*b\\?.tx", False),
        ("requestParameters.path", "c:\\\\temp\\\\a*", True),
        ("requestParameters.path|endswith", "\\?.TXT", True),
        ("requestParameters.path", "C:\\Temp\\ab?.txt", False),  # the text's * is a character
        # wildcards span lines; re needs |s for that and |m for ^ after a newline
        ("requestParameters.lines", "first*line", True),
        ("requestParameters.lines|re", "first.second", False),
        ("requestParameters.lines|re|s", "first.second", True),
        ("requestParameters.lines|re", "^second", False),
        ("requestParameters.lines|re|m", "^second", True),
        ("requestParameters.lines|re", "SECOND", False),
        ("requestParameters.lines|re|i", "SECOND", True),
        # windash: / and the three dashes
        ("requestParameters.cmd|windash|contains", " -enc ", True),
        ("requestParameters.cmd|windash|endswith", " -v", True),
        ("requestParameters.cmd|contains", " -enc ", False),
        ("requestParameters.cmd|windash|contains", " _enc ", False),
        ("requestParameters.lines|windash", "first*second-line", True),
        # cidr over IPv6 and IPv4; versions never cross
        ("sourceIPAddress|cidr", "2001:db8::/32", True),
        ("sourceIPAddress|cidr", "2001:db9::/32", False),
        ("sourceIPAddress|cidr", "0.0.0.0/0", False),
        ("eventName|cidr", "0.0.0.0/0", False),
        # fieldref, case-insensitively; an absent other field never equals
        ("userIdentity.userName|fieldref", "userIdentity.userName", True),
        ("requestParameters.names|fieldref", "userIdentity.type", False),
        ("requestParameters.port|fieldref", "requestParameters.portText", True),
        ("userIdentity.userName|fieldref", "userIdentity.nothing", False),
        # resources.<x>: any resource's x
        ("resources.ARN|endswith", ":::b", True),
        ("resources.type", "AWS::S3::Bucket", True),
        ("resources.ARN", "arn:aws:s3:::c", False),
        # case-insensitive by default (Unicode lower-casing), |cased not
        ("userIdentity.userName", "JÖRG", True),
        ("userIdentity.userName|cased", "jörg", False),
        ("userIdentity.userName|cased|startswith", "Jö", True),
    ],
)
def test_value_semantics(key: str, value: Any, expected: bool) -> None:
    assert _one(key, value, REC) is expected


def test_not_over_an_absent_field_is_true_and_an_absent_field_matches_no_value() -> None:
    for value in ("*", 1, True, ["a", "b"]):
        assert _one("missing.field", value, REC) is False
    rule = _rule({"sel": {"eventName": "PutBucketPolicy"}, "f": {"missing.field": "*"}}, "sel and not f")
    assert matches(rule, REC)


def test_keywords_search_string_values_at_any_depth_but_not_keys_numbers_or_booleans() -> None:
    def kw(*words: Any) -> bool:
        return matches(_rule({"keywords": list(words)}, "keywords"), REC)

    assert kw("ö")  # inside an object inside requestParameters, case-insensitively
    assert kw("x")  # inside a list inside a list
    assert kw("*SECOND-LINE")
    assert not kw("second")  # the whole value, not a part of it
    assert not kw("portText", "Principal")  # keys
    assert kw("443")  # the string "443" is a value
    assert not kw("3", "true")  # the number 3 and the boolean true are not searched


def test_conditions_precedence_patterns_and_underscore_identifiers() -> None:
    sels = {
        "a": {"eventName": "PutBucketPolicy"},
        "b": {"eventName": "Other"},
        "sel_x": {"count": 3},
        "sel_y": {"count": 4},
        "_hidden": {"eventName": "Other"},
    }

    def cond(text: str) -> bool:
        return matches(_rule(sels, text), REC)

    assert cond("a or b and b")  # and binds tighter than or
    assert not cond("(a or b) and b")
    assert cond("not b and a")  # not binds tighter than and
    assert not cond("not (b or a)")
    assert cond("1 of sel_*") and not cond("all of sel_*")
    assert cond("1 of them") and not cond("all of them")
    # _hidden is left out of them and of sel*-like patterns, not of a pattern starting with _
    assert matches(_rule({k: v for k, v in sels.items() if k != "b" and k != "sel_y"}, "all of them"), REC)
    assert not cond("1 of _*")
    assert not cond("all of *") and cond("1 of *")
    with pytest.raises(ValueError, match="names no selection"):
        cond("1 of nothing_*")


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        (_rule({"sel": {"eventName|expand": "%names%"}}), "expand"),
        (_rule({"sel": {"eventName|base64": "x"}}), "base64"),
        (_rule({"sel": {"eventName": "x"}}, "sel | count() > 5"), "aggregation"),
        (
            {"logsource": {"product": "windows"}, "detection": {"sel": {"a": 1}, "condition": "sel"}},
            "log source",
        ),
        (
            {"logsource": {**LOGSOURCE, "category": "x"}, "detection": {"sel": {"a": 1}, "condition": "sel"}},
            "log source",
        ),
        (_rule({"sel": {"eventName": "x"}, "timeframe": "5m"}), "timeframe"),
    ],
)
def test_unsupported_constructs_are_named(rule: dict[str, Any], reason: str) -> None:
    with pytest.raises(Unsupported, match=reason):
        compile_rule(rule)

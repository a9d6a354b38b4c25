"""The Sigma rules written for the tests (every modifier and condition form) over a lake of the events the
generator plants for them: per rule, exactly the planted matches, event by event, and the same as the independent
evaluator (tests/sigmaeval.py, written from the semantics without pySigma or SQL) finds in the raw records."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
from typing import Any

import pytest

from tests import sigmaeval
from tests.helpers import NOW
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.lake.folder import Lake
from trailduck.sigma.rules import Rule, load_rules
from trailduck.sigma.run import run_sigma
from trailduck.synthetic.cases import PlantedEvent
from trailduck.synthetic.generator import encode_log, folder_sink, log_key
from trailduck.synthetic.sigma_cases import SIGMA_RULES, sigma_cases

ACCOUNT, REGION = "111122223333", "us-east-1"
START = dt.datetime(2024, 3, 9, 8, tzinfo=dt.UTC)


def _escaped(value: Any) -> str:
    """JSON with every character of every key and string written as a \\u escape: legal JSON, as some producers
    write it, and the case the raw-text tests before a parse must not get wrong."""
    if isinstance(value, str):
        return (
            '"'
            + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else json.dumps(c)[1:-1] for c in value)
            + '"'
        )
    if isinstance(value, dict):
        return "{" + ",".join(f"{_escaped(k)}:{_escaped(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_escaped(v) for v in value) + "]"
    return json.dumps(value)


@pytest.fixture(scope="module", params=["as generated", "every character escaped"])
def planted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Lake, list[PlantedEvent], list[Rule]]:
    root = tmp_path_factory.mktemp("sigma-planted")
    cases = sigma_cases(random.Random(7), ACCOUNT, REGION, START)
    records = [json.loads(json.dumps(c.record)) for c in cases]
    key = log_key(ACCOUNT, REGION, START + dt.timedelta(hours=4), "SIGMAPLANTED0000")
    if request.param == "as generated":
        body = encode_log(records)
    else:
        body = gzip.compress(_escaped({"Records": records}).encode("ascii"), mtime=0)
        assert json.loads(gzip.decompress(body)) == {"Records": records}
    folder_sink(root / "bucket")(key, body)
    summary = ingest(IngestOptions(source=str(root / "bucket"), lake=root / "lake"), now=NOW)
    assert summary.exit_code == 0 and summary.events == len(cases)
    rules = load_rules([SIGMA_RULES])
    return Lake(root / "lake"), cases, rules


def _matched_ids(lake: Lake, rule: Rule) -> set[str]:
    assert rule.condition is not None, rule.unsupported
    con = lake.connect(read_only=True)
    try:
        return {
            row[0] for row in con.execute(f"SELECT eventID FROM events WHERE {rule.condition}").fetchall()
        }
    finally:
        con.close()


def test_every_test_rule_converts(planted: tuple[Lake, list[PlantedEvent], list[Rule]]) -> None:
    _, _, rules = planted
    assert len(rules) >= 20
    assert [r.unsupported for r in rules if r.unsupported] == []


def test_each_rule_matches_exactly_its_planted_events(
    planted: tuple[Lake, list[PlantedEvent], list[Rule]],
) -> None:
    lake, cases, rules = planted
    wrong: dict[str, Any] = {}
    for rule in rules:
        expected = {c.record["eventID"] for c in cases if rule.id in c.matches}
        got = _matched_ids(lake, rule)
        if got != expected:
            wrong[rule.file.name] = {
                "missed": [c.record for c in cases if c.record["eventID"] in expected - got],
                "extra": [c.record for c in cases if c.record["eventID"] in got - expected],
            }
    assert not wrong, json.dumps(wrong, indent=1, default=str)[:6000]


def test_the_counts_are_the_independent_evaluators(
    planted: tuple[Lake, list[PlantedEvent], list[Rule]],
) -> None:
    lake, cases, rules = planted
    records = [json.loads(json.dumps(c.record)) for c in cases]
    found = {f.id: f.count for f in run_sigma(lake, rules)}
    independent = {rule.id: sigmaeval.count(sigmaeval.load_rule(rule.file), records) for rule in rules}
    planted_counts = {rule.id: sum(rule.id in c.matches for c in cases) for rule in rules}
    assert found == independent == planted_counts
    assert sum(found.values()) > len(rules)  # every rule matches something


def test_near_misses_are_there_for_every_rule(planted: tuple[Lake, list[PlantedEvent], list[Rule]]) -> None:
    """Each rule is also tried on events it must not match: the counts above could not pass by matching all."""
    _, cases, rules = planted
    misses = [c for c in cases if not c.matches]
    assert len(misses) >= len(rules)

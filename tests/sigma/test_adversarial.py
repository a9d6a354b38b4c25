"""Awkward records and rules, each held to the independent evaluator (tests/sigmaeval.py): the cases an outside
review found, and the neighbours of each (absent lists, number look-alikes, long value lists, a lake without
the records as delivered)."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import sigmaeval
from tests.helpers import NOW
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.lake.folder import Lake
from trailduck.sigma.rules import load_rules
from trailduck.sigma.run import NO_RECORDS, run_sigma
from trailduck.synthetic.events import EventFactory
from trailduck.synthetic.generator import encode_log, folder_sink, log_key

ACCOUNT, REGION = "111122223333", "us-east-1"
START = dt.datetime(2024, 3, 9, 8, tzinfo=dt.UTC)
NUMBERISH = ["443", " 443", "+443", "443.", "4.43e2", "1_000", "inf", "NaN", "-1", 443, 443.0, True, None]


def _records() -> list[dict[str, Any]]:
    f = EventFactory(random.Random(3), ACCOUNT, REGION)
    out = []
    for i, value in enumerate(NUMBERISH):
        rec = f.record(
            START + dt.timedelta(minutes=i),
            "ec2.amazonaws.com",
            "AuthorizeSecurityGroupIngress",
            f.iam_user("n"),
        )
        rec["requestParameters"] = {"port": value, "ports": [value, "x"]}
        if i % 3 == 0:
            rec["resources"] = [{"ARN": f"arn:aws:ec2:::sg/{i}", "type": "AWS::EC2::SecurityGroup"}]
        elif i % 3 == 1:
            rec["resources"] = [{"type": "AWS::EC2::SecurityGroup"}]  # an element without ARN
        else:
            rec.pop("resources", None)
        out.append(json.loads(json.dumps(rec)))
    return out


RULES = {
    "resources_null": {"s": {"resources.ARN": None}},
    "resources_null_or_value": {"s": {"resources.ARN": [None, "arn:aws:ec2:::sg/0"]}},
    "resources_exists": {"s": {"resources.ARN|exists": True}},
    "not_resources": {"s": {"resources.ARN|startswith": "arn:aws:ec2"}, "condition": "not s"},
    "number_equal": {"s": {"requestParameters.port": 443}},
    "number_gt": {"s": {"requestParameters.port|gt": 5}},
    "number_lte": {"s": {"requestParameters.port|lte": 443}},
    "number_in_list": {"s": {"requestParameters.ports": 443}},
    "text_443": {"s": {"requestParameters.port": "443"}},
    "long_list": {"s": {"requestParameters.port": [f"v{i}" for i in range(800)] + ["443", "NaN"]}},
    "long_cased_list": {
        "s": {"requestParameters.port|cased": [f"v{i}" for i in range(300)] + ["nan", "inf"]}
    },
    "mixed_list": {"s": {"requestParameters.port": ["44*", 1, "+443", "true"]}},
}


def _rule_text(name: str, detection: dict[str, Any]) -> str:
    detection = dict(detection)
    detection.setdefault("condition", "s")
    return yaml.safe_dump(
        {
            "title": name,
            "id": f"00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}",
            "logsource": {"product": "aws", "service": "cloudtrail"},
            "detection": detection,
        }
    )


@pytest.fixture(scope="module", params=[True, False], ids=["with event_json", "without event_json"])
def lake(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Path, bool]:
    root = tmp_path_factory.mktemp("sigma-adversarial")
    folder_sink(root / "bucket")(log_key(ACCOUNT, REGION, START, "ADVERSARIAL00000"), encode_log(_records()))
    summary = ingest(
        IngestOptions(source=str(root / "bucket"), lake=root / "lake", keep_event_json=request.param), now=NOW
    )
    assert summary.exit_code == 0
    rules = root / "rules"
    rules.mkdir()
    for name, detection in RULES.items():
        (rules / f"{name}.yml").write_text(_rule_text(name, detection))
    return Lake(root / "lake"), rules, request.param


def test_each_rule_matches_what_the_evaluator_matches(lake: tuple[Lake, Path, bool]) -> None:
    the_lake, rules, keeps_records = lake
    records = _records()
    loaded = load_rules([rules])
    assert [r.unsupported for r in loaded] == [None] * len(RULES)
    con = the_lake.connect(read_only=True)
    wrong = {}
    for rule in loaded:
        got = sorted(
            r[0] for r in con.execute(f"SELECT eventID FROM events WHERE {rule.condition}").fetchall()
        )
        compiled = sigmaeval.compile_rule(sigmaeval.load_rule(rule.file))
        expected = sorted(r["eventID"] for r in records if compiled(r))
        reads_record = "event_json" in (rule.condition or "")
        if (keeps_records or not reads_record) and got != expected:
            wrong[rule.title] = {"got": len(got), "expected": len(expected)}
    con.close()
    assert not wrong, wrong
    findings = {f.title: f for f in run_sigma(the_lake, loaded)}
    noted = {title for title, f in findings.items() if f.note}
    if keeps_records:
        assert not noted
    else:
        # Said, not silent: the rules that read the record are noted (|exists on resources here).
        assert noted == {"resources_exists"} and findings["resources_exists"].note == NO_RECORDS


def test_a_number_is_a_json_number_not_whatever_a_cast_reads(lake: tuple[Lake, Path, bool]) -> None:
    the_lake, rules, _ = lake
    counts = {f.title: f.count for f in run_sigma(the_lake, [rules])}
    # 443, 443.0 (JSON numbers), "443", "4.43e2": equal to 443; " 443", "+443", "443.", "inf", "NaN" are not numbers.
    assert counts["number_equal"] == 4
    assert counts["number_gt"] == 4  # "NaN" and "inf" above everything no more
    assert counts["number_lte"] == 5  # and "-1"


def test_absent_resources_are_null_and_not_a_null_comparison(lake: tuple[Lake, Path, bool]) -> None:
    the_lake, rules, _ = lake
    counts = {f.title: f.count for f in run_sigma(the_lake, [rules])}
    with_arn = sum(1 for i in range(len(NUMBERISH)) if i % 3 == 0)
    assert counts["resources_null"] == len(NUMBERISH) - with_arn
    assert counts["not_resources"] == len(NUMBERISH) - with_arn

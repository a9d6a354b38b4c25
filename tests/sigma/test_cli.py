"""``trailduck sigma``, ``report --sigma`` and ``views --sigma`` end to end, on a local lake and on a lake on the
suite's S3 server: the output's shape, exit codes, views the DuckDB CLI can query."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import NOW
from trailduck.cli.app import app
from trailduck.errors import ExitCode
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.synthetic.cases import detection_cases
from trailduck.synthetic.generator import encode_log, folder_sink, log_key

runner = CliRunner()
DAY = dt.date(2024, 3, 9)
START = dt.datetime.combine(DAY, dt.time(8), tzinfo=dt.UTC)

#: Root activity: the planted events hold some; no-match: a rule nothing matches.
ROOT_RULE = """\
title: Root user activity
id: 6f1d2c3b-0000-4000-8000-000000000001
status: experimental
level: high
tags: [attack.privilege-escalation, attack.t1078.004]
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    userIdentity.type: root
  filter_service:
    eventType: AwsServiceEvent
  condition: selection and not filter_service
"""
NO_MATCH_RULE = """\
title: Nothing matches this
id: 6f1d2c3b-0000-4000-8000-000000000002
status: test
level: low
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventName: NoSuchApiCall
  condition: selection
"""
WINDOWS_RULE = (
    NO_MATCH_RULE.replace("{product: aws, service: cloudtrail}", "{product: windows}")
    .replace("000000000002", "000000000003")
    .replace("Nothing matches this", "A Windows rule")
)


def _rules(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "root_activity.yml").write_text(ROOT_RULE)
    (folder / "nested").mkdir(exist_ok=True)
    (folder / "nested" / "no_match.yaml").write_text(NO_MATCH_RULE)
    (folder / "windows.yml").write_text(WINDOWS_RULE)
    return folder


def _records() -> list[dict[str, Any]]:
    return [c.record for c in detection_cases(random.Random(1), "111122223333", "us-east-1", START)]


def _expected_root(records: list[dict[str, Any]]) -> int:
    return sum(
        1
        for r in records
        if isinstance(r.get("userIdentity"), dict)
        and str(r["userIdentity"].get("type", "")).lower() == "root"
        and str(r.get("eventType", "")).lower() != "awsserviceevent"
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    root = tmp_path_factory.mktemp("sigma-cli")
    records = _records()
    key = log_key("111122223333", "us-east-1", START + dt.timedelta(hours=3), "PLANTED000000000")
    folder_sink(root / "bucket")(key, encode_log(records))
    summary = ingest(IngestOptions(source=str(root / "bucket"), lake=root / "lake"), now=NOW)
    assert summary.exit_code == 0
    return root / "lake", _rules(root / "rules"), _expected_root(records)


def test_json_lists_every_rule_with_its_count_sample_and_reasons(planted: tuple[Path, Path, int]) -> None:
    lake, rules, root_count = planted
    assert root_count >= 3
    result = runner.invoke(app, ["sigma", str(rules), "--lake", str(lake), "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    by_title = {r["title"]: r for r in out}
    assert len(out) == 3 and {"Root user activity", "Nothing matches this"} <= set(by_title)
    root = by_title["Root user activity"]
    assert root["id"] == "6f1d2c3b-0000-4000-8000-000000000001"
    assert (root["level"], root["status"]) == ("high", "experimental")
    assert root["tags"] == ["attack.privilege-escalation", "attack.t1078.004"]
    assert root["count"] == root_count and len(root["sample"]) == min(root_count, 10)
    assert {"eventTime", "eventID", "account", "region", "principal", "source_key"} <= set(root["sample"][0])
    assert all(
        s["account"] == "111122223333" and s["source_key"].startswith("AWSLogs/") for s in root["sample"]
    )
    assert root["sample"][0]["principal"].endswith(":root")
    assert by_title["Nothing matches this"]["count"] == 0 and "unsupported" not in root
    [windows] = [r for r in out if r.get("unsupported")]
    assert windows["count"] is None and "not CloudTrail" in windows["unsupported"]
    assert "1 of 3 rules cannot run" in result.stderr


def test_fail_on_findings_exits_4_only_when_something_matched(planted: tuple[Path, Path, int]) -> None:
    lake, rules, _ = planted
    matched = runner.invoke(app, ["sigma", str(rules), "--lake", str(lake), "--fail-on-findings"])
    assert matched.exit_code == ExitCode.FINDINGS, matched.output
    assert "Root user activity" in matched.stdout and "cannot run" in matched.stdout
    quiet = runner.invoke(app, ["sigma", str(rules / "nested"), "--lake", str(lake), "--fail-on-findings"])
    assert quiet.exit_code == 0, quiet.output
    outside = runner.invoke(
        app, ["sigma", str(rules), "--lake", str(lake), "--since", "2024-03-10", "--fail-on-findings"]
    )
    assert outside.exit_code == 0, outside.output  # the window is the partition date


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--format", "yaml"], "choose table, json or markdown"),
        (["--since", "2024-03-10", "--until", "2024-03-09"], "swap them"),
        (["--since", "someday"], "--since"),
    ],
)
def test_bad_options_exit_2_with_what_to_do(
    planted: tuple[Path, Path, int], args: list[str], said: str
) -> None:
    lake, rules, _ = planted
    result = runner.invoke(app, ["sigma", str(rules), "--lake", str(lake), *args])
    assert result.exit_code == ExitCode.USAGE and said in result.output, result.output
    assert "Traceback" not in result.output


def test_a_wrong_rules_path_exits_2_and_runs_nothing(planted: tuple[Path, Path, int], tmp_path: Path) -> None:
    lake, _, _ = planted
    result = runner.invoke(app, ["sigma", str(tmp_path / "nope"), "--lake", str(lake)])
    assert result.exit_code == ExitCode.USAGE and "no such file or folder" in result.output
    report = runner.invoke(app, ["report", "--lake", str(lake), "--sigma", str(tmp_path / "nope")])
    assert report.exit_code == ExitCode.USAGE and "no such file or folder" in report.output


def test_markdown_has_the_table_the_samples_and_the_rules_that_cannot_run(
    planted: tuple[Path, Path, int],
) -> None:
    lake, rules, root_count = planted
    result = runner.invoke(app, ["sigma", str(rules), "--lake", str(lake), "--format", "markdown"])
    assert result.exit_code == 0
    md = result.stdout
    assert f"| high | Root user activity | {root_count} | `sigma_root_activity` |" in md
    assert f"## Root user activity ({root_count})" in md and "## Rules that cannot run" in md


def test_report_adds_the_sigma_rules_and_fails_on_their_findings(planted: tuple[Path, Path, int]) -> None:
    lake, rules, root_count = planted
    result = runner.invoke(app, ["report", "--lake", str(lake), "--sigma", str(rules), "--format", "json"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert [e["id"] for e in entries[:2]] == ["cis-4.1", "cis-4.2"]
    sigma = {e["title"]: e for e in entries if "level" in e}
    assert sigma["Root user activity"]["count"] == root_count
    assert sigma["Root user activity"]["severity"] == "high"
    only_sigma = runner.invoke(
        app, ["report", "--lake", str(lake), "--sigma", str(rules / "nested"), "--fail-on-findings"]
    )
    assert only_sigma.exit_code == ExitCode.FINDINGS  # the CIS detections match the planted events too
    table = runner.invoke(app, ["report", "--lake", str(lake), "--sigma", str(rules)])
    assert "Sigma rules" in table.stdout and "Root user activity" in table.stdout


def test_views_installs_one_view_per_rule_for_the_duckdb_cli(planted: tuple[Path, Path, int]) -> None:
    lake, rules, root_count = planted
    result = runner.invoke(app, ["views", "--lake", str(lake), "--sigma", str(rules)])
    assert result.exit_code == 0, result.output
    assert "sigma_root_activity" in result.stdout and "sigma_no_match" in result.stdout
    assert "windows.yml" in result.stderr and "not installed" in result.stderr
    cli = shutil.which("duckdb")
    assert cli, "the duckdb command-line program comes with the test dependencies (duckdb-cli)"
    done = subprocess.run(
        [
            cli,
            "-readonly",
            "-csv",
            "-noheader",
            str(lake / "trailduck.duckdb"),
            "-c",
            "SELECT count(*), count(DISTINCT principal) FROM sigma_root_activity; SELECT count(*) FROM sigma_no_match",
        ],
        capture_output=True,
        text=True,
        cwd=lake.parent,
        check=True,
    )
    counts = done.stdout.split()
    assert counts[0].split(",")[0] == str(root_count) and counts[1] == "0"
    # A refresh of the standard views keeps them (and the macros they call).
    assert runner.invoke(app, ["views", "--lake", str(lake), "--refresh"]).exit_code == 0
    again = subprocess.run(
        [
            cli,
            "-readonly",
            "-csv",
            "-noheader",
            str(lake / "trailduck.duckdb"),
            "-c",
            "SELECT count(*) FROM sigma_root_activity",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert again.stdout.strip() == str(root_count)


def test_on_an_s3_lake_sigma_runs_and_views_says_to_use_sigma(
    s3_client: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    s3_client.create_bucket(Bucket="sigma-lake")
    lake = "s3://sigma-lake/cloudtrail-lake"
    records = _records()
    key = log_key("111122223333", "us-east-1", START + dt.timedelta(hours=3), "PLANTED000000000")
    folder_sink(tmp_path / "bucket")(key, encode_log(records))
    summary = ingest(
        IngestOptions(source=str(tmp_path / "bucket"), lake=Path(lake), endpoint_url=s3_endpoint), now=NOW
    )
    assert summary.exit_code == 0
    rules = _rules(tmp_path / "rules")
    at = ["--lake", lake, "--endpoint-url", s3_endpoint]
    result = runner.invoke(app, ["sigma", str(rules), *at, "--format", "json"])
    assert result.exit_code == 0, result.output
    counts = {r["title"]: r["count"] for r in json.loads(result.stdout)}
    assert counts["Root user activity"] == _expected_root(records)
    views = runner.invoke(app, ["views", *at, "--sigma", str(rules)])
    assert views.exit_code == ExitCode.USAGE and "trailduck sigma RULES" in views.output


def test_rules_with_odd_metadata_are_listed_in_every_format(
    planted: tuple[Path, Path, int], tmp_path: Path
) -> None:
    lake, _, _ = planted
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "title_list.yml").write_text(ROOT_RULE.replace("title: Root user activity", "title: [a, b]"))
    (odd / "level_bogus.yml").write_text(ROOT_RULE.replace("level: high", "level: bogus"))
    (odd / "condition_number.yml").write_text(
        ROOT_RULE.replace("condition: selection and not filter_service", "condition: 5")
    )
    for fmt in ("table", "markdown", "json"):
        result = runner.invoke(app, ["sigma", str(odd), "--lake", str(lake), "--format", fmt])
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output and "3 of 3 rules cannot run" in result.stderr
    out = json.loads(runner.invoke(app, ["sigma", str(odd), "--lake", str(lake), "--format", "json"]).stdout)
    assert {r["title"] for r in out} == {"title_list.yml", "Root user activity"}
    assert all(isinstance(r["unsupported"], str) and r["count"] is None for r in out)


def test_commands_without_sigma_rules_do_not_import_pysigma(planted: tuple[Path, Path, int]) -> None:
    """pySigma takes a quarter of a second to import: `report` and `views` pay it only with --sigma."""
    lake, _, _ = planted
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom trailduck.cli.app import app\n"
        f"for args in (['report', '--lake', {str(lake)!r}], ['views', '--lake', {str(lake)!r}]):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0\n"
        "print(sorted(m for m in sys.modules if m == 'sigma' or m.startswith('sigma.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

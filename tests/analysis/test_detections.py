"""The detections: exact counts on planted matches and near misses, and the same counts as an independent
evaluation of the CloudWatch filters (tests/cwfilter.py) on generated and on real public events."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.cwfilter import evaluate
from tests.helpers import NOW, lay_out, sample_lines
from trailduck.analysis.report import run_report
from trailduck.cli.app import app
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.lake.folder import Lake
from trailduck.sql.catalog import detections
from trailduck.synthetic.cases import detection_cases
from trailduck.synthetic.generator import TrailSpec, encode_log, folder_sink, log_key, write_trail

runner = CliRunner()
IDS = [d.id for d in detections()]
DAY = dt.date(2024, 3, 9)


def _counts(lake: Path, **kw: Any) -> dict[str, int]:
    return {f.id: f.count for f in run_report(Lake(lake), **kw)}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    """A lake holding only the planted events, in one file."""
    root = tmp_path_factory.mktemp("planted")
    start = dt.datetime.combine(DAY, dt.time(8), tzinfo=dt.UTC)
    cases = detection_cases(random.Random(1), "111122223333", "us-east-1", start)
    key = log_key("111122223333", "us-east-1", start + dt.timedelta(hours=3), "PLANTED000000000")
    folder_sink(root / "bucket")(key, encode_log([c.record for c in cases]))
    summary = ingest(IngestOptions(source=str(root / "bucket"), lake=root / "lake"), now=NOW)
    assert summary.exit_code == 0 and summary.events == len(cases)
    return root / "lake", cases


def test_the_detection_ids_are_the_fifteen_cis_controls_then_our_own() -> None:
    assert IDS[:15] == [f"cis-4.{i}" for i in range(1, 16)]
    assert all(i.startswith("td-") for i in IDS[15:]) and len(IDS) == len(set(IDS))
    assert [d.view for d in detections()][:2] == [
        "cis_4_01_unauthorized_api_calls",
        "cis_4_02_console_login_without_mfa",
    ]
    assert detections()[14].view == "cis_4_15_organizations_changes"


def test_planted_matches_and_near_misses_give_exact_counts(planted: tuple[Path, list[Any]]) -> None:
    lake, cases = planted
    expected = Counter(m for c in cases for m in c.matches)
    assert set(expected) == set(IDS)  # every detection has planted matches
    assert sum(1 for c in cases if not c.matches) >= 30  # and there are near misses
    counts = _counts(lake)
    assert counts == {i: expected[i] for i in IDS}
    # The independent evaluation agrees with the declared intent, so neither the SQL nor the plan is off.
    assert dict(evaluate([c.record for c in cases])) == {i: expected[i] for i in IDS if expected[i]}


def test_each_view_matches_exactly_the_planted_events(planted: tuple[Path, list[Any]]) -> None:
    lake, cases = planted
    con = Lake(lake).connect()
    try:
        for d in detections():
            got = sorted(r[0] for r in con.execute(f"SELECT eventID FROM {d.view}").fetchall())
            want = sorted(c.record["eventID"] for c in cases if d.id in c.matches)
            assert got == want, d.id
    finally:
        con.close()


def test_same_counts_as_the_independent_evaluation_on_a_generated_trail(tmp_path: Path) -> None:
    manifest = write_trail(TrailSpec(detections=True, days=4, files_per_day=5), folder_sink(tmp_path / "b"))
    ingest(IngestOptions(source=str(tmp_path / "b"), lake=tmp_path / "lake"), now=NOW)
    events = [r for key, recs in manifest.records_by_key.items() if "/CloudTrail/" in key for r in recs]
    expected = evaluate(events)
    assert _counts(tmp_path / "lake") == {i: expected[i] for i in IDS}
    assert sum(expected.values()) > 500


def test_same_counts_as_the_independent_evaluation_on_real_public_events(tmp_path: Path) -> None:
    lines = sample_lines()
    for key, body in lay_out(lines).items():
        folder_sink(tmp_path / "b")(key, body)
    ingest(IngestOptions(source=str(tmp_path / "b"), lake=tmp_path / "lake"), now=NOW)
    expected = evaluate([json.loads(line) for line in lines])
    assert _counts(tmp_path / "lake") == {i: expected[i] for i in IDS}


def test_the_window_is_the_partition_date_and_bad_event_times_still_count(tmp_path: Path) -> None:
    root = tmp_path / "b"
    for day, times in ((DAY, ["2024-03-09T10:00:00Z", "garbage", None]), (DAY + dt.timedelta(days=1), ["x"])):
        when = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
        records = [
            {"eventName": "StopLogging", "eventID": f"{day}-{i}", "eventTime": t} for i, t in enumerate(times)
        ]
        folder_sink(root)(
            log_key("111122223333", "us-east-1", when, f"W{day:%d}0000000000000"), encode_log(records)
        )
    lake = tmp_path / "lake"
    ingest(IngestOptions(source=str(root), lake=lake), now=NOW)
    assert _counts(lake, since=DAY, until=DAY)["cis-4.5"] == 3
    assert _counts(lake, since=DAY + dt.timedelta(days=1))["cis-4.5"] == 1
    assert _counts(lake)["cis-4.5"] == 4
    assert _counts(lake, until=DAY - dt.timedelta(days=1))["cis-4.5"] == 0


def test_report_json_markdown_and_table(planted: tuple[Path, list[Any]]) -> None:
    lake, cases = planted
    result = runner.invoke(app, ["report", "--lake", str(lake), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["id"] for d in data] == IDS
    for d in data:
        assert set(d) == {"id", "title", "severity", "view", "count", "sample"}
        assert len(d["sample"]) == min(10, d["count"])
        assert all(row["eventID"] and row["source_key"] and row["account"] for row in d["sample"])
    burst = next(d for d in data if d["id"] == "td-failed-login-burst")
    assert burst["count"] == 2 and burst["sample"][0]["eventTime"].startswith("2024-03-09T")
    expected = Counter(m for c in cases for m in c.matches)
    markdown = runner.invoke(app, ["report", "--lake", str(lake), "--format", "markdown"])
    row = f"| cis-4.1 | medium | Unauthorized API calls | {expected['cis-4.1']} | `cis_4_01_unauthorized_api_calls` |"
    assert markdown.exit_code == 0 and row in markdown.stdout
    assert (
        f"## td-failed-login-burst: Bursts of failed console sign-ins ({expected['td-failed-login-burst']})"
        in (markdown.stdout)
    )
    table = runner.invoke(app, ["report", "--lake", str(lake)])
    assert table.exit_code == 0 and "cis-4.15" in table.stdout and "19 detections matched" in table.stdout
    failing = runner.invoke(app, ["report", "--lake", str(lake), "--fail-on-findings", "--format", "json"])
    assert failing.exit_code == 4
    quiet = runner.invoke(app, ["report", "--lake", str(lake), "--until", "2001-01-01", "--fail-on-findings"])
    assert quiet.exit_code == 0 and "0 of 19 detections matched" in quiet.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "choose table, json or markdown"),
        (["--since", "2024-03-10", "--until", "2024-03-01"], "swap them"),
        (["--since", "yesterday-ish"], "--since"),
    ],
)
def test_report_bad_options_say_what_to_do(
    planted: tuple[Path, list[Any]], args: list[str], message: str
) -> None:
    lake, _ = planted
    result = runner.invoke(app, ["report", "--lake", str(lake), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_views_lists_every_detection_with_a_line(planted: tuple[Path, list[Any]]) -> None:
    lake, _ = planted
    result = runner.invoke(app, ["views", "--lake", str(lake)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in [d.view for d in detections()] + ["console_logins", "failed_logins", "service_usage_daily"]:
        assert name in result.stdout


def test_a_database_without_the_views_says_how_to_fix_it(
    tmp_path: Path, planted: tuple[Path, list[Any]]
) -> None:
    source, _ = planted
    lake = tmp_path / "lake"
    ingest(IngestOptions(source=str(source.parent / "bucket"), lake=lake), now=NOW)
    con = Lake(lake).connect(read_only=False)
    con.execute("DROP VIEW cis_4_07_cmk_disabled_or_deleted")
    con.close()
    result = runner.invoke(app, ["report", "--lake", str(lake)])
    assert result.exit_code == 1 and "views --refresh" in result.output
    assert runner.invoke(app, ["views", "--lake", str(lake), "--refresh"]).exit_code == 0
    assert runner.invoke(app, ["report", "--lake", str(lake)]).exit_code == 0


def test_every_view_leads_to_its_file(planted: tuple[Path, list[Any]]) -> None:
    """Row views keep eventTime, eventID, account, region, the principal and source_key; aggregate views keep
    the latest matching event's instead."""
    from trailduck.sql.catalog import analysis_views

    lake, _ = planted
    needs = [
        {"eventTime", "lastSeen", "lastFailure"},
        {"eventID", "lastEventID"},
        {"account", "lastAccount"},
        {"region", "lastRegion"},
        {"principal", "lastPrincipal"},
        {"source_key", "lastSourceKey"},
    ]
    con = Lake(lake).connect()
    try:
        for view in [*detections(), *analysis_views()]:
            columns = {c[0] for c in con.execute(f"SELECT * FROM {view.view} LIMIT 0").description}
            missing = [sorted(n) for n in needs if not n & columns]
            assert not missing, f"{view.view} lacks one of {missing}"
            assert con.execute(f"SELECT count(*) FROM {view.view}").fetchone()[0] > 0, view.view
    finally:
        con.close()

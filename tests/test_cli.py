"""The CLI through typer's runner: exit codes, JSON output and error text."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import count, lake_snapshot
from trailduck.cli.app import app
from trailduck.synthetic.demo import DEMO_LAKE
from trailduck.synthetic.generator import Manifest, log_key

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env)


@pytest.fixture
def ingested(local_trail: tuple[Path, Manifest], tmp_path: Path) -> tuple[Path, Path, Manifest]:
    root, manifest = local_trail
    lake = tmp_path / "lake"
    result = invoke("ingest", str(root), "--lake", str(lake), "--json")
    assert result.exit_code == 0, result.output
    return root, lake, manifest


def test_ingest_json_summary_and_second_run(ingested: tuple[Path, Path, Manifest]) -> None:
    root, lake, manifest = ingested
    result = invoke("ingest", str(root), "--lake", str(lake), "--json")
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    for key in (
        "files_listed",
        "files_new",
        "files_converted",
        "files_failed",
        "events",
        "bytes_read",
        "partitions_written",
        "duration_s",
        "events_per_s",
    ):
        assert key in summary
    # The trail's days are long sealed by the real clock: the second run lists nothing and converts nothing.
    assert (summary["files_listed"], summary["files_new"], summary["events"]) == (0, 0, 0)
    assert summary["exit_code"] == 0 and manifest.files > 0
    # Where the time went: every phase, none longer than the run.
    assert set(summary["phases"]) == {"plan", "convert", "commit", "views"}
    assert 0 <= sum(summary["phases"].values()) <= summary["duration_s"] + 0.01


def test_ingest_text_summary(local_trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, manifest = local_trail
    result = invoke("ingest", str(root), "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 0
    assert "files converted" in result.stdout and f"{manifest.events:,}" in result.stdout


def test_summary_counts_events_and_insight_events_as_their_views_hold_them(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = local_trail
    assert manifest.insight_events > 0
    lake = tmp_path / "lake"
    as_json = invoke("ingest", str(root), "--lake", str(lake), "--json")
    assert as_json.exit_code == 0, as_json.output
    summary = json.loads(as_json.stdout)
    events, insights = count(lake, "events"), count(lake, "insights")
    assert (summary["events"], summary["insight_events"]) == (events, insights)
    assert (events, insights) == (manifest.events, manifest.insight_events)
    # The table says the same, row by row.
    text = invoke("ingest", str(root), "--lake", str(tmp_path / "other"))
    assert text.exit_code == 0, text.output
    rows = {
        m.group(1).strip(): m.group(2)
        for m in re.finditer(r"^│ ([a-z ]+?)\s*│\s*([0-9,]+) │$", text.stdout, re.MULTILINE)
    }
    assert (rows["events"], rows["insight events"]) == (f"{events:,}", f"{insights:,}")


def test_ingest_from_s3_with_endpoint_url(
    s3_trail: tuple[str, Manifest], s3_endpoint: str, tmp_path: Path
) -> None:
    bucket, manifest = s3_trail
    result = invoke(
        "ingest",
        f"s3://{bucket}",
        "--lake",
        str(tmp_path / "lake"),
        "--endpoint-url",
        s3_endpoint,
        "--region",
        "us-east-1",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["events"], summary["insight_events"]) == (manifest.events, manifest.insight_events)


def test_missing_bucket_is_a_clear_fatal_error(s3_endpoint: str, tmp_path: Path) -> None:
    result = invoke(
        "ingest", "s3://no-such-bucket-here", "--lake", str(tmp_path / "lake"), "--endpoint-url", s3_endpoint
    )
    assert result.exit_code == 1
    assert "no such bucket" in result.stderr and "Traceback" not in result.output


def test_quarantined_file_exits_3_and_is_listed(local_trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    import datetime as dt

    root, _ = local_trail
    key = log_key("111122223333", "us-east-1", dt.datetime(2024, 3, 10, 2, tzinfo=dt.UTC), "TRUNCATEDgzip000")
    (root / key).write_bytes(b'{"Records": [')
    lake = tmp_path / "lake"
    result = invoke("ingest", str(root), "--lake", str(lake), "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["files_failed"] == 1
    failed = invoke("state", "failed", "--lake", str(lake), "--json")
    assert failed.exit_code == 0
    entries = json.loads(failed.stdout)
    assert [(e["key"], e["attempts"]) for e in entries] == [(key, 1)]
    assert "invalid JSON" in entries[0]["reason"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "give a date as YYYY-MM-DD"),
        (["--since", "2024-03-10", "--until", "2024-03-01"], "swap them"),
        (["--accounts", "12345"], "12-digit"),
        (["--regions", "mars-1"], "region name"),
        (["--lookback", "-1"], "--lookback"),
        (["--concurrency", "0"], "--concurrency"),
        (["--until", "9999-12-31"], "between 2000-01-01 and 2999-12-31"),
        (["--since", "99999999d"], "at most 36500d"),
        (["--lookback", "1000000"], "--lookback"),
    ],
)
def test_bad_options_exit_2_with_a_message(
    local_trail: tuple[Path, Manifest], tmp_path: Path, args: list[str], message: str
) -> None:
    root, _ = local_trail
    result = invoke("ingest", str(root), "--lake", str(tmp_path / "lake"), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_missing_source_folder_and_unknown_scheme(tmp_path: Path) -> None:
    missing = invoke("ingest", str(tmp_path / "nope"), "--lake", str(tmp_path / "lake"))
    assert missing.exit_code == 2 and "no such folder" in missing.stderr
    scheme = invoke("ingest", "gs://bucket", "--lake", str(tmp_path / "lake"))
    assert scheme.exit_code == 2 and "only s3://" in scheme.stderr


def test_lake_defaults_to_the_environment_variable(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = local_trail
    lake = tmp_path / "env-lake"
    result = invoke("ingest", str(root), "--json", env={"TRAILDUCK_LAKE": str(lake)})
    assert result.exit_code == 0
    assert (lake / "trailduck.duckdb").is_file()
    rows = json.loads(
        invoke(
            "sql", "SELECT count(*) AS n FROM events", "--format", "json", env={"TRAILDUCK_LAKE": str(lake)}
        ).stdout
    )
    assert rows == [{"n": manifest.events}]


def test_sql_formats(ingested: tuple[Path, Path, Manifest]) -> None:
    _, lake, manifest = ingested
    q = "SELECT eventSource, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC, 1"
    as_json = invoke("sql", q, "--lake", str(lake), "--format", "json")
    assert as_json.exit_code == 0
    rows = json.loads(as_json.stdout)
    assert sum(r["n"] for r in rows) == manifest.events and set(rows[0]) == {"eventSource", "n"}
    as_csv = invoke("sql", q, "--lake", str(lake), "--format", "csv")
    parsed = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["eventSource"], int(r["n"])) for r in parsed] == [(r["eventSource"], r["n"]) for r in rows]
    table = invoke("sql", q, "--lake", str(lake))
    assert table.exit_code == 0 and rows[0]["eventSource"] in table.stdout
    times = json.loads(
        invoke(
            "sql",
            "SELECT eventTime, userIdentity FROM events LIMIT 1",
            "--lake",
            str(lake),
            "--format",
            "json",
        ).stdout
    )
    assert times[0]["eventTime"].endswith("+00:00") and isinstance(times[0]["userIdentity"], dict)


def test_sql_errors(ingested: tuple[Path, Path, Manifest], tmp_path: Path) -> None:
    _, lake, _ = ingested
    bad = invoke("sql", "SELECT nope FROM events", "--lake", str(lake))
    assert bad.exit_code == 2 and "query failed" in bad.stderr and "Traceback" not in bad.output
    fmt = invoke("sql", "SELECT 1", "--lake", str(lake), "--format", "xml")
    assert fmt.exit_code == 2 and "--format" in fmt.stderr
    nolake = invoke("sql", "SELECT 1", "--lake", str(tmp_path / "empty"))
    assert nolake.exit_code == 1 and "trailduck ingest" in nolake.stderr


def test_state_show(ingested: tuple[Path, Path, Manifest]) -> None:
    _, lake, _ = ingested
    result = invoke("state", "show", "--lake", str(lake), "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    streams = report["streams"]
    assert report["sources"] and report["failed"] == []
    assert streams and all(s["watermark"] == "2024-03-08" or s["watermark"] > "2024-03-08" for s in streams)
    text = invoke("state", "show", "--lake", str(lake))
    assert text.exit_code == 0 and "watermark" in text.stdout


def test_views_lists_and_refreshes(ingested: tuple[Path, Path, Manifest]) -> None:
    _, lake, _ = ingested
    result = invoke("views", "--lake", str(lake), "--refresh")
    assert result.exit_code == 0 and "events_unique" in result.stdout


def test_demo_ends_with_query_results(tmp_path: Path) -> None:
    lake = tmp_path / "demo-lake"
    result = invoke("demo", "--lake", str(lake), "--days", "2", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["events"] > 0 and data["summary"]["files_failed"] == 0
    assert all(q["rows"] for q in data["queries"])
    text = invoke("demo", "--lake", str(lake), "--days", "2")
    assert text.exit_code == 0 and "Console sign-ins" in text.stdout and "ConsoleLogin" not in text.stderr
    # How to query it, each way on a line of its own: pip brings DuckDB's Python module, not its CLI.
    assert f'\nQuery it: trailduck sql "SELECT count(*) FROM events" --lake {lake}\n' in text.stdout
    assert "pip install duckdb-cli, or see https://duckdb.org/install): duckdb -readonly " in text.stdout
    one_liner = re.search(r'\n  or from Python: python -c "(.*)"\n', text.stdout)
    assert one_liner, text.stdout
    printed = subprocess.run(
        [sys.executable, "-c", one_liner.group(1)], capture_output=True, text=True, check=True, timeout=60
    )
    assert str(count(lake)) in printed.stdout  # the one-liner works as printed
    assert text.stdout.rstrip().endswith("┘")  # it ends with the last query's results


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["ingest"],
        ["sql"],
        ["demo"],
        ["views"],
        ["ddl"],
        ["state"],
        ["state", "show"],
        ["state", "failed"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.stdout and len(result.stdout.splitlines()) > 5


@pytest.mark.parametrize("name", ["it's", 'say "hi"', "star*", "what?", "[abc]", "a{b,c}", "back\\slash"])
def test_lake_paths_that_would_change_sql_or_globs_are_refused(
    local_trail: tuple[Path, Manifest], tmp_path: Path, name: str
) -> None:
    root, _ = local_trail
    result = invoke("ingest", str(root), "--lake", str(tmp_path / name))
    assert result.exit_code == 2 and "may not contain" in result.stderr
    assert not (tmp_path / name).exists()


def test_lake_paths_with_spaces_and_unicode_work(local_trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, manifest = local_trail
    lake = tmp_path / "my lake ünïcødé; DROP VIEW events"
    assert invoke("ingest", str(root), "--lake", str(lake)).exit_code == 0
    rows = json.loads(
        invoke("sql", "SELECT count(*) AS n FROM events", "--lake", str(lake), "--format", "json").stdout
    )
    assert rows == [{"n": manifest.events}]


def test_terminal_escapes_in_hostile_keys_are_shown_not_sent(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, _ = local_trail
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date()  # the CLI runs on the real clock: a day inside its window
    day = root / f"AWSLogs/111122223333/CloudTrail/us-east-1/{today:%Y/%m/%d}"
    day.mkdir(parents=True)
    (day / "evil\x1b]0;pwned\x07\x1b[2J.json.gz").write_bytes(b"x")
    result = invoke("ingest", str(root), "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 0
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "evil\\x1b]0;pwned\\x07" in result.stdout


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes: what "unchanged" means for a lake."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_demo_refuses_a_lake_of_real_events(ingested: tuple[Path, Path, Manifest]) -> None:
    _, lake, _ = ingested
    before, rows = _tree(lake), lake_snapshot(lake)
    result = invoke("demo", "--lake", str(lake), "--days", "1")
    assert result.exit_code == 2, result.output
    assert f"{lake}: holds a trailduck lake that `trailduck demo` did not make" in result.stderr
    assert "trailduck demo --lake ./some-new-folder" in result.stderr and "Traceback" not in result.output
    assert _tree(lake) == before and lake_snapshot(lake) == rows


def test_demo_refuses_a_folder_that_is_not_a_lake(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    result = invoke("demo", "--lake", str(tmp_path), "--days", "1")
    assert result.exit_code == 2 and "is not empty and is not a trailduck lake" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_demo_goes_to_its_own_folder_not_to_trailduck_lake(
    ingested: tuple[Path, Path, Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, lake, _ = ingested
    before, rows = _tree(lake), lake_snapshot(lake)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for _ in range(2):  # the second run reuses the demo's own lake
        result = invoke("demo", "--days", "1", "--json", env={"TRAILDUCK_LAKE": str(lake)})
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["summary"]["lake"] == str(work / DEMO_LAKE)
    assert _tree(lake) == before and lake_snapshot(lake) == rows
    assert count(work / DEMO_LAKE) > 0


def one_stream_spec() -> Any:
    from tests.helpers import small_spec

    return small_spec(accounts=["111122223333"], org_id=None, org_accounts=[], regions=["us-east-1"], days=1)


def test_a_bucket_with_the_logs_under_a_prefix_names_the_source_to_use(
    s3_client: Any, bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    from trailduck.synthetic.generator import s3_sink, write_trail

    sink = s3_sink(s3_client, bucket)
    manifest = write_trail(one_stream_spec(), lambda key, body, meta=None: sink(f"logs/{key}", body, meta))
    lake = tmp_path / "lake"
    endpoint = ("--endpoint-url", s3_endpoint)
    wrong = invoke("ingest", f"s3://{bucket}", "--lake", str(lake), *endpoint)
    assert wrong.exit_code == 2, wrong.output
    assert (
        f"CloudTrail logs are under s3://{bucket}/logs/: run trailduck ingest s3://{bucket}/logs"
        in wrong.stderr
    )
    assert "Traceback" not in wrong.output and not lake.exists()  # refused before the lake was made
    inside = invoke("verify", f"s3://{bucket}/logs/AWSLogs", "--no-progress", *endpoint)
    assert inside.exit_code == 2
    assert f"is the AWSLogs/ folder itself; CloudTrail logs are under s3://{bucket}/logs/: " in inside.stderr
    assert f"run trailduck verify s3://{bucket}/logs" in inside.stderr
    right = invoke("ingest", f"s3://{bucket}/logs", "--lake", str(lake), "--json", *endpoint)
    assert right.exit_code == 0, right.output
    summary = json.loads(right.stdout)
    assert (summary["events"], summary["insight_events"]) == (manifest.events, manifest.insight_events)
    assert summary["note"] is None


def test_a_local_copy_without_awslogs_says_how_to_make_one(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    import shutil

    root, _ = local_trail
    copy = tmp_path / "copy"
    shutil.copytree(root / "AWSLogs", copy)  # what `aws s3 sync s3://b/AWSLogs ./copy` leaves
    lake = tmp_path / "lake"
    synced = invoke("ingest", str(copy), "--lake", str(lake))
    assert synced.exit_code == 2
    assert f"aws s3 sync s3://BUCKET/AWSLogs {copy}/AWSLogs" in synced.stderr
    assert f"run trailduck ingest {copy}" in synced.stderr
    awslogs = invoke("ingest", str(root / "AWSLogs"), "--lake", str(lake))
    assert awslogs.exit_code == 2
    assert f"CloudTrail logs are under {root}/: run trailduck ingest {root}" in awslogs.stderr
    account = invoke("verify", str(root / "AWSLogs" / "111122223333"), "--no-progress")
    assert account.exit_code == 2 and f"run trailduck verify {root}" in account.stderr
    assert not lake.exists()


def test_an_empty_source_exits_0_and_says_no_cloudtrail_files_were_found(tmp_path: Path) -> None:
    empty = tmp_path / "new-trail"
    (empty / "AWSLogs").mkdir(parents=True)
    lake = str(tmp_path / "lake")
    as_json = invoke("ingest", str(empty), "--lake", lake, "--json")
    assert as_json.exit_code == 0, as_json.output
    summary = json.loads(as_json.stdout)
    assert summary["streams"] == 0
    assert summary["note"].startswith(f"no CloudTrail files found in {empty}: it has no AWSLogs/<account>/")
    text = invoke("ingest", str(empty), "--lake", lake, "--accounts", "111122223333")
    assert text.exit_code == 0 and "no CloudTrail files found" in text.stdout
    verified = invoke("verify", str(empty), "--no-progress", "--json")
    assert verified.exit_code == 0 and "no CloudTrail files found" in json.loads(verified.stdout)["note"]


def test_accounts_and_regions_that_match_nothing_exit_2_listing_what_exists(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, _ = local_trail
    lake = tmp_path / "lake"
    accounts = invoke("ingest", str(root), "--lake", str(lake), "--accounts", "111122223333,123456789012")
    assert accounts.exit_code == 2
    assert (
        "--accounts 123456789012: not in " in accounts.stderr
        and "the accounts there are 111122223333, 444455556666, 777788889999" in accounts.stderr
    )
    regions = invoke("ingest", str(root), "--lake", str(lake), "--regions", "ap-south-1")
    assert regions.exit_code == 2
    assert "--regions ap-south-1: not in" in regions.stderr
    assert "the regions there are eu-west-1, us-east-1" in regions.stderr
    assert not lake.exists()


@pytest.mark.parametrize("command", ["ingest", "verify", "report", "compact"])
def test_since_in_the_future_exits_2(
    local_trail: tuple[Path, Manifest], tmp_path: Path, command: str
) -> None:
    import datetime as dt

    root, _ = local_trail
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    source = [str(root)] if command in ("ingest", "verify") else []
    lake = tmp_path / "lake"
    result = invoke(command, *source, "--lake", str(lake), "--since", "2030-01-01")
    assert result.exit_code == 2, result.output
    assert "--since '2030-01-01': 2030-01-01 is after today" in result.stderr
    assert "nothing can be there yet" in result.stderr and not lake.exists()
    assert invoke(command, *source, "--lake", str(lake), "--since", tomorrow.isoformat()).exit_code == 2
    if command == "ingest":  # --until in the future stays fine: it means open-ended
        assert invoke(command, *source, "--lake", str(lake), "--until", "2030-01-01").exit_code == 0

"""The main job end to end: real files, a real S3 server, real Parquet and DuckDB."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import NOW, TODAY, count, lake_snapshot, query, small_spec
from trailduck.errors import StateError
from trailduck.ingestion.run import IngestOptions, IngestSummary, ingest
from trailduck.scanner.s3 import S3Source
from trailduck.state.store import LocalStateStore
from trailduck.synthetic.generator import Manifest, encode_log, folder_sink, log_key, s3_sink, write_trail


def run(source: str, lake: Path, now: dt.datetime = NOW, **kw: Any) -> IngestSummary:
    return ingest(IngestOptions(source=source, lake=lake, **kw), now=now)


def run_s3(client: Any, bucket: str, lake: Path, now: dt.datetime = NOW, **kw: Any) -> IngestSummary:
    return ingest(
        IngestOptions(source=f"s3://{bucket}", lake=lake, **kw), source=S3Source(client, bucket), now=now
    )


def expected_records(manifest: Manifest, kind: str = "/CloudTrail/") -> Counter[str]:
    return Counter(
        json.dumps(rec, sort_keys=True)
        for key, recs in manifest.records_by_key.items()
        if kind in key
        for rec in recs
    )


def stored_records(lake: Path, view: str = "events") -> Counter[str]:
    return Counter(
        json.dumps(json.loads(r[0]), sort_keys=True) for r in query(lake, f"SELECT event_json FROM {view}")
    )


def test_local_trail_every_event_once_and_second_run_is_a_no_op(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = local_trail
    lake = tmp_path / "lake"
    first = run(str(root), lake)
    assert first.files_failed == 0 and first.exit_code == 0
    assert first.files_converted == manifest.files
    assert (first.events, first.insight_events) == (manifest.events, manifest.insight_events)
    assert stored_records(lake) == expected_records(manifest)
    assert stored_records(lake, "insights") == expected_records(manifest, "/CloudTrail-Insight/")
    assert count(lake, "insights") == manifest.insight_events > 0
    # At most one Parquet file per partition per run.
    per_partition = Counter(p.parent for p in (lake / "events").rglob("*.parquet"))
    assert per_partition and max(per_partition.values()) == 1
    assert first.partitions_written == first.parquet_files_written

    before = lake_snapshot(lake)
    second = run(str(root), lake)
    assert (second.files_new, second.files_converted, second.events) == (0, 0, 0)
    assert lake_snapshot(lake) == before


def test_typed_columns_equal_the_input_values(local_trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, manifest = local_trail
    lake = tmp_path / "lake"
    run(str(root), lake)
    rows = query(
        lake,
        "SELECT event_json, eventName, eventSource, userIdentity.arn, "
        "userIdentity.sessionContext.sessionIssuer.userName, sourceIPAddress, errorCode, "
        "strftime(eventTime, '%Y-%m-%dT%H:%M:%SZ'), readOnly, recipientAccountId, "
        "requestParameters FROM events",
    )
    assert len(rows) == manifest.events
    for ej, name, source, arn, issuer, ip, code, when, read_only, recipient, params in rows:
        rec = json.loads(ej)
        ident = rec.get("userIdentity") or {}
        assert (name, source, arn, ip, code, when, recipient) == (
            rec.get("eventName"),
            rec.get("eventSource"),
            ident.get("arn"),
            rec.get("sourceIPAddress"),
            rec.get("errorCode"),
            rec.get("eventTime"),
            rec.get("recipientAccountId"),
        )
        assert issuer == ((ident.get("sessionContext") or {}).get("sessionIssuer") or {}).get("userName")
        assert read_only == {True: True, False: False, "true": True, "false": False}[rec["readOnly"]]
        assert (json.loads(params) if params is not None else None) == rec.get("requestParameters")


def test_s3_and_local_copies_of_a_trail_give_the_same_lake(
    s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    spec = small_spec(prefix="")
    write_trail(spec, s3_sink(s3_client, bucket))
    manifest = write_trail(spec, folder_sink(tmp_path / "copy"))
    from_s3 = run_s3(s3_client, bucket, tmp_path / "lake-s3")
    from_local = run(str(tmp_path / "copy"), tmp_path / "lake-local")
    assert from_s3.events == from_local.events == manifest.events
    sql = "SELECT * EXCLUDE (event_json), event_json::VARCHAR FROM events ORDER BY source_key, event_json"
    assert query(tmp_path / "lake-s3", sql) == query(tmp_path / "lake-local", sql)
    assert (
        lake_snapshot(tmp_path / "lake-s3")["files"].__len__()
        == lake_snapshot(tmp_path / "lake-local")["files"].__len__()
    )
    again = run_s3(s3_client, bucket, tmp_path / "lake-s3")
    assert again.files_new == 0


def test_bucket_prefix_and_decompressed_local_copies(s3_client: Any, bucket: str, tmp_path: Path) -> None:
    manifest = write_trail(small_spec(prefix="org/trails/", insights=False), s3_sink(s3_client, bucket))
    summary = ingest(
        IngestOptions(source=f"s3://{bucket}/org/trails", lake=tmp_path / "lake"),
        source=S3Source(s3_client, bucket, "org/trails/"),
        now=NOW,
    )
    assert summary.events == manifest.events
    assert query(tmp_path / "lake", "SELECT count(*) FROM events WHERE source_key LIKE 'AWSLogs/%'")[0][
        0
    ] == (manifest.events)
    # A local copy whose files were already decompressed (.json) reads the same.
    plain = tmp_path / "plain"
    for key, recs in manifest.records_by_key.items():
        path = plain / key.removeprefix("org/trails/").removesuffix(".gz")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"Records": recs}))
    local = run(str(plain), tmp_path / "lake2")
    assert local.events == manifest.events and local.files_failed == 0


@pytest.mark.slow
def test_pagination_over_1000_keys_in_one_day(s3_client: Any, bucket: str, tmp_path: Path) -> None:
    account, region = "111122223333", "us-east-1"
    start = dt.datetime(2024, 3, 9, tzinfo=dt.UTC)
    n = 1105
    for i in range(n):
        when = start + dt.timedelta(seconds=60 * i)
        rec = {"eventID": f"e{i}", "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventName": "X"}
        s3_client.put_object(
            Bucket=bucket, Key=log_key(account, region, start, f"{i:016d}"), Body=encode_log([rec])
        )
    first = run_s3(s3_client, bucket, tmp_path / "lake")
    assert (first.files_listed, first.events) == (n, n)
    assert query(tmp_path / "lake", "SELECT count(DISTINCT eventID) FROM events")[0][0] == n
    assert run_s3(s3_client, bucket, tmp_path / "lake").files_new == 0


def _add_file(
    root: Path,
    day: dt.date,
    suffix: str,
    n: int = 3,
    account: str = "111122223333",
    region: str = "us-east-1",
) -> list[dict[str, Any]]:
    delivered = dt.datetime.combine(day, dt.time(13, 0), tzinfo=dt.UTC)
    recs = [
        {
            "eventID": f"{suffix}-{i}",
            "eventTime": (delivered - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventName": "LateOne",
        }
        for i in range(n)
    ]
    folder_sink(root)(log_key(account, region, delivered, suffix), encode_log(recs))
    return recs


def test_late_file_in_an_already_processed_day_is_picked_up(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = local_trail
    lake = tmp_path / "lake"
    run(str(root), lake)
    # Delivered late into yesterday: inside the lookback window, so the next run finds it.
    _add_file(root, TODAY - dt.timedelta(days=1), "LATEyesterday000", n=4)
    second = run(str(root), lake, now=NOW + dt.timedelta(hours=1))
    assert (second.files_new, second.events) == (1, 4)
    assert count(lake) == manifest.events + 4
    assert run(str(root), lake, now=NOW + dt.timedelta(hours=2)).files_new == 0


def test_views_are_recreated_only_when_their_definitions_change(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    import duckdb

    from trailduck.lake.folder import Lake
    from trailduck.lake.views import refresh_views

    root, manifest = local_trail
    lake = tmp_path / "lake"
    run(str(root), lake)
    _add_file(root, TODAY, "LATEviews0000000", n=2)
    second = run(str(root), lake, now=NOW + dt.timedelta(hours=1))
    assert second.events == 2 and count(lake) == manifest.events + 2  # seen through the views' glob
    assert refresh_views(Lake(lake)) is False  # the same definitions: nothing to do
    con = duckdb.connect(str(Lake(lake).db_path))
    con.execute("DROP VIEW events_unique")
    con.close()
    assert refresh_views(Lake(lake), force=True) is True  # `trailduck views --refresh` brings it back
    assert query(lake, "SELECT count(*) FROM events_unique")[0][0] > 0
    moved = tmp_path / "moved"
    shutil.copytree(lake, moved)
    assert refresh_views(Lake(moved)) is True  # new paths in the definitions
    assert count(moved) == manifest.events + 2


def test_backfill_over_sealed_days_adds_only_what_is_missing(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = local_trail
    lake = tmp_path / "lake"
    later = NOW + dt.timedelta(days=10)  # every day of the trail is sealed after this run
    run(str(root), lake, now=later)
    state = LocalStateStore(lake / "_trailduck" / "state.json").load()
    assert state is not None and state.key_count() == 0
    old_day = TODAY - dt.timedelta(days=2)
    _add_file(root, old_day, "LATEsealed000000", n=5)
    normal = run(str(root), lake, now=later)
    assert normal.files_new == 0  # outside the lookback window: only a backfill looks there
    backfill = run(str(root), lake, now=later, since=old_day)
    assert (backfill.files_new, backfill.events) == (1, 5)
    assert count(lake) == manifest.events + 5
    assert run(str(root), lake, now=later, since=old_day).files_new == 0


def one_day_of_deliveries(day: dt.date, seed: int, **kw: Any) -> Any:
    """A night's worth of small files for one region: what a nightly run finds."""
    return small_spec(
        end=day,
        days=1,
        files_per_day=2,
        events_per_file=(1, 3),
        seed=seed,
        regions=["us-east-1"],
        org_id=None,
        insights=False,
        digests=False,
        **kw,
    )


def test_state_holds_keys_for_the_lookback_window_only(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    lake = tmp_path / "lake"
    nights = 20  # many times the lookback window (2 days): 60 took 80 s of the suite and proved no more
    first_day = TODAY - dt.timedelta(days=nights - 1)
    total = 0
    # A nightly run a day, each seeing the day's deliveries, then one run over the whole trail at once.
    for offset in range(nights):
        day = first_day + dt.timedelta(days=offset)
        total += write_trail(one_day_of_deliveries(day, offset), folder_sink(root)).events
        run(str(root), lake, now=dt.datetime.combine(day, dt.time(23, 0), tzinfo=dt.UTC))
        state = LocalStateStore(lake / "_trailduck" / "state.json").load()
        assert state is not None
        days = {d for st in state.streams.values() for d in st.days}
        assert days and min(days) >= day - dt.timedelta(days=2)
        assert state.key_count() <= 3 * 2 * 2  # (lookback + 1) days x files per day x accounts
    assert count(lake) == total
    assert (lake / "_trailduck" / "state.json").stat().st_size < 10_000

    one_shot = tmp_path / "lake-one-shot"
    run(str(root), one_shot)
    state = LocalStateStore(one_shot / "_trailduck" / "state.json").load()
    assert state is not None
    days = {d for st in state.streams.values() for d in st.days}
    assert days == {TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1), TODAY}
    assert count(one_shot) == total


def test_accounts_and_regions_filters(local_trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, _ = local_trail
    lake = tmp_path / "lake"
    run(str(root), lake, accounts=["444455556666"], regions=["eu-west-1"])
    assert query(lake, "SELECT DISTINCT account, region FROM events") == [("444455556666", "eu-west-1")]
    # Later, everything: the other streams are new, the filtered one is already done.
    rest = run(str(root), lake)
    assert rest.files_new > 0
    assert query(lake, "SELECT count(*) - count(DISTINCT event_json::VARCHAR) FROM events")[0][0] == 0


def test_organization_trail_partitions_by_member_account(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, _ = local_trail
    lake = tmp_path / "lake"
    run(str(root), lake)
    rows = query(lake, "SELECT DISTINCT account FROM events WHERE source_key LIKE 'AWSLogs/o-a1b2c3d4e5/%'")
    assert rows == [("777788889999",)]
    assert (lake / "events" / "account=777788889999").is_dir()


def test_foreign_and_hostile_objects_are_skipped_with_a_reason(
    s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    manifest = write_trail(small_spec(insights=False), s3_sink(s3_client, bucket))
    day = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/09/"
    hostile = {
        f"{day}notes.txt": "naming pattern",
        f"{day}../../../../../../escape_CloudTrail_us-east-1_20240309T0000Z_aaaaaaaaaaaaaaaa.json.gz": "",
        "AWSLogs/111122223333/CloudTrail/us-east-1/2024/02/30/111122223333_CloudTrail_us-east-1_"
        "20240230T0000Z_aaaaaaaaaaaaaaaa.json.gz": "calendar",
    }
    for key in hostile:
        s3_client.put_object(Bucket=bucket, Key=key, Body=encode_log([{"eventID": "evil"}]))
    s3_client.put_object(Bucket=bucket, Key=day, Body=b"")  # a console "folder" object
    s3_client.put_object(Bucket=bucket, Key="AWSLogs/evil-folder/x", Body=b"")
    lake = tmp_path / "lake"
    summary = run_s3(s3_client, bucket, lake)
    assert summary.files_failed == 0 and summary.exit_code == 0
    assert summary.events == manifest.events
    skipped = {s["key"]: s["reason"] for s in summary.skipped}
    for key, reason in hostile.items():
        assert key in skipped and reason in skipped[key]
    assert "AWSLogs/evil-folder/" in skipped
    assert query(lake, "SELECT count(*) FROM events WHERE eventID = 'evil'")[0][0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake"]


def test_a_broken_file_is_quarantined_and_retried(local_trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, manifest = local_trail
    lake = tmp_path / "lake"
    bad_key = log_key(
        "111122223333", "us-east-1", dt.datetime(2024, 3, 10, 1, 0, tzinfo=dt.UTC), "BROKENbroken0000"
    )
    (root / bad_key).write_bytes(b"\x1f\x8b" + b"garbage")
    first = run(str(root), lake)
    assert first.exit_code == 3 and first.files_failed == 1
    assert first.failures[0]["key"] == bad_key and "corrupt gzip" in first.failures[0]["reason"]
    assert count(lake) == manifest.events
    again = run(str(root), lake)
    assert again.files_new == 1 and again.failures[0]["attempts"] == 2
    (root / bad_key).write_bytes(encode_log([{"eventID": "fixed"}]))
    fixed = run(str(root), lake)
    assert fixed.exit_code == 0 and fixed.events == 1
    assert count(lake) == manifest.events + 1


def test_missing_checkpoint_with_data_is_an_error(local_trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, _ = local_trail
    lake = tmp_path / "lake"
    run(str(root), lake)
    (lake / "_trailduck" / "state.json").unlink()
    with pytest.raises(StateError, match="checkpoint is missing"):
        run(str(root), lake)


def test_files_of_an_interrupted_run_are_rolled_back(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = local_trail
    lake = tmp_path / "lake"
    run(str(root), lake)
    # What a run killed after renaming its Parquet files but before saving the checkpoint leaves behind.
    some = next((lake / "events").rglob("*.parquet"))
    shutil.copy(some, some.with_name("part-20240310T000000Z-dead0000-00001.parquet"))
    (some.parent / ".part-20240310T000000Z-dead0000-00002.parquet.tmp").write_bytes(b"partial")
    marker = {"run": "20240310T000000Z-dead0000", "state": str(lake / "_trailduck" / "state.json")}
    (lake / "_trailduck" / "runs" / "20240310T000000Z-dead0000.run").write_text(json.dumps(marker))
    summary = run(str(root), lake)
    assert summary.rolled_back_runs == ["20240310T000000Z-dead0000"]
    assert count(lake) == manifest.events
    assert not list(lake.rglob("*dead0000*"))


def test_event_json_can_be_turned_off(local_trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, manifest = local_trail
    lake = tmp_path / "lake"
    run(str(root), lake, keep_event_json=False)
    assert query(lake, "SELECT count(*), count(event_json), count(eventName) FROM events")[0] == (
        manifest.events,
        0,
        manifest.events,
    )


def test_a_second_writer_is_refused(local_trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    import fcntl
    import os

    from trailduck.errors import LakeError

    root, _ = local_trail
    lake = tmp_path / "lake"
    run(str(root), lake)
    fd = os.open(lake / "_trailduck" / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LakeError, match="another trailduck process"):
            run(str(root), lake)
    finally:
        os.close(fd)
    assert run(str(root), lake).exit_code == 0  # the lock went with its holder


def test_the_database_stays_readable_by_older_duckdb(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    import struct

    root, _ = local_trail
    lake = tmp_path / "lake"
    run(str(root), lake)
    header = (lake / "trailduck.duckdb").read_bytes()[:20]
    # Storage version 64 is what DuckDB 0.10 to 1.x read; a newer default would lock out older DuckDB CLIs.
    assert header[8:12] == b"DUCK" and struct.unpack("<Q", header[12:20])[0] == 64


def test_switching_between_a_local_copy_and_the_bucket_never_ingests_twice(
    s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    spec = small_spec()
    manifest = write_trail(spec, s3_sink(s3_client, bucket))
    write_trail(spec, folder_sink(tmp_path / "copy"))
    lake = tmp_path / "lake"
    first = run(str(tmp_path / "copy"), lake)
    assert (first.events, first.insight_events) == (manifest.events, manifest.insight_events)
    # Keys are relative to the source root, so the bucket's copy of the same trail is the same work.
    _add_file(tmp_path / "late-copy", TODAY, "LATEinbucket0000", n=2)
    late_key = next(p for p in (tmp_path / "late-copy").rglob("*.json.gz"))
    s3_client.put_object(
        Bucket=bucket, Key=late_key.relative_to(tmp_path / "late-copy").as_posix(), Body=late_key.read_bytes()
    )
    second = run_s3(s3_client, bucket, lake)
    assert (second.files_new, second.events) == (1, 2)
    assert count(lake) == manifest.events + 2


def test_checkpoint_can_live_elsewhere(local_trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, manifest = local_trail
    lake, state = tmp_path / "lake", tmp_path / "elsewhere" / "state.json"
    run(str(root), lake, state=state)
    assert state.is_file() and not (lake / "_trailduck" / "state.json").exists()
    assert run(str(root), lake, state=state).files_new == 0
    assert count(lake) == manifest.events


def test_an_empty_bucket_is_not_an_error(s3_client: Any, bucket: str, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    summary = run_s3(s3_client, bucket, lake)
    assert (summary.streams, summary.files_listed, summary.exit_code) == (0, 0, 0)
    assert count(lake) == 0 and count(lake, "insights") == 0
    s3_client.put_object(Bucket=bucket, Key="AWSLogs/111122223333/CloudTrail/us-east-1/", Body=b"")
    assert run_s3(s3_client, bucket, lake).files_listed == 0


def test_a_reader_holding_the_database_does_not_fail_the_ingest(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    import subprocess
    import sys

    from trailduck.lake.folder import Lake

    root, manifest = local_trail
    lake = tmp_path / "lake"
    run(str(root), lake)
    _add_file(root, TODAY, "LATEwhilereading", n=3)
    # Another process (a notebook, the DuckDB CLI) has the file open read-write.
    code = (
        "import sys, duckdb; con = duckdb.connect(sys.argv[1]); print('open', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(Lake(lake).db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        summary = run(str(root), lake, now=NOW + dt.timedelta(hours=1))
    finally:
        holder.communicate("", timeout=30)
    assert summary.exit_code == 0 and summary.events == 3 and summary.views_error
    assert count(lake) == manifest.events + 3  # the views read the new file through their glob


def test_a_second_source_for_the_same_streams_is_read_in_full(tmp_path: Path) -> None:
    """A second trail's bucket, or an archive, for accounts and regions the lake already has."""
    lake = tmp_path / "lake"
    first = write_trail(small_spec(seed=1, days=2), folder_sink(tmp_path / "trail-a"))
    second = write_trail(small_spec(seed=2, days=10), folder_sink(tmp_path / "trail-b"))
    later = NOW + dt.timedelta(days=20)
    run(str(tmp_path / "trail-a"), lake, now=later)
    b = run(str(tmp_path / "trail-b"), lake, now=later)
    assert b.files_converted == second.files  # not only the days after trail A's watermark
    assert count(lake) == first.events + second.events
    assert run(str(tmp_path / "trail-b"), lake, now=later).files_new == 0


def test_a_decompressed_copy_is_the_same_file_as_the_gzipped_one(tmp_path: Path) -> None:
    import gzip

    root = tmp_path / "copy"
    manifest = write_trail(small_spec(insights=False), folder_sink(root))
    lake = tmp_path / "lake"
    run(str(root), lake)
    # The copy is refreshed with decompressed files, and one day holds both forms of one file.
    gz_files = sorted(root.rglob("*.json.gz"))
    for path in gz_files[:5]:
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    both = gz_files[5]
    both.with_suffix("").write_bytes(gzip.decompress(both.read_bytes()))
    again = run(str(root), lake)
    assert again.files_new == 0 and count(lake) == manifest.events
    assert any("decompressed copy" in s["reason"] for s in again.skipped)
    fresh = run(str(root), tmp_path / "lake2")
    assert fresh.events == manifest.events  # one of the pair, not both


def test_a_marker_for_another_checkpoint_is_never_guessed_at(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    """A run killed after committing to --state elsewhere; a later command without that --state must not
    roll its files back (they are committed there) nor keep them blindly."""
    from trailduck.lake.compact import compact
    from trailduck.lake.folder import Lake

    root, manifest = local_trail
    lake, elsewhere = tmp_path / "lake", tmp_path / "elsewhere.json"
    summary = run(str(root), lake, state=elsewhere)
    marker = {"run": summary.run_id, "state": str(elsewhere)}  # as if killed between commit and cleanup
    (lake / "_trailduck" / "runs" / f"{summary.run_id}.run").write_text(json.dumps(marker))
    with pytest.raises(StateError, match="pass --state"):
        compact(Lake(lake))
    with pytest.raises(StateError, match="pass --state"):
        run(str(root), lake, state=tmp_path / "third.json")
    assert count(lake) == manifest.events
    assert run(str(root), lake, state=elsewhere).rolled_back_runs == []  # committed there: kept
    assert count(lake) == manifest.events


def test_nightly_runs_with_since_keep_the_checkpoint_bounded(tmp_path: Path) -> None:
    root, lake = tmp_path / "bucket", tmp_path / "lake"
    total = 0
    for offset in range(20):
        day = TODAY - dt.timedelta(days=19 - offset)
        spec = one_day_of_deliveries(day, offset, accounts=["111122223333"])
        total += write_trail(spec, folder_sink(root)).events
        run(
            str(root),
            lake,
            now=dt.datetime.combine(day, dt.time(23), tzinfo=dt.UTC),
            since=day - dt.timedelta(days=1),
        )
        state = LocalStateStore(lake / "_trailduck" / "state.json").load()
        assert state is not None and state.key_count() <= 3 * 2
    assert count(lake) == total
    # A later run without --since lists from the old watermark and finds everything already in the lake.
    assert run(str(root), lake, now=NOW + dt.timedelta(hours=2)).files_new == 0
    assert count(lake) == total


def test_a_quarantined_file_and_its_decompressed_twin_land_once(tmp_path: Path) -> None:
    import gzip

    root, lake = tmp_path / "bucket", tmp_path / "lake"
    records = [{"eventID": f"twin-{i}"} for i in range(4)]
    key = log_key("111122223333", "us-east-1", dt.datetime(2024, 3, 10, 8, tzinfo=dt.UTC), "TWINtwinTWINtwin")
    good = encode_log(records)
    folder_sink(root)(key, good[: len(good) // 2])  # truncated: quarantined
    assert run(str(root), lake).exit_code == 3
    (root / key).write_bytes(good)
    (root / key.removesuffix(".gz")).write_bytes(gzip.decompress(good))  # and a decompressed copy beside it
    fixed = run(str(root), lake)
    assert fixed.exit_code == 0 and fixed.events == 4 and fixed.failures == []
    assert count(lake) == 4
    assert run(str(root), lake).files_new == 0

"""A checkpoint you can trust: versioned, atomic, never silently reset, rebuildable from the lake."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.helpers import NOW, count, lake_snapshot
from trailduck.cli.app import app
from trailduck.errors import StateError
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.state.checkpoint import Checkpoint, Failure, StreamState
from trailduck.state.store import LocalStateStore
from trailduck.synthetic.generator import Manifest, log_key

runner = CliRunner()


def run(root: Path, lake: Path) -> object:
    return ingest(IngestOptions(source=str(root), lake=lake), now=NOW)


def state_file(lake: Path) -> Path:
    return lake / "_trailduck" / "state.json"


_days = st.dates(min_value=dt.date(2013, 1, 1), max_value=dt.date(2030, 1, 1))


@given(
    streams=st.dictionaries(
        st.from_regex(r"AWSLogs/[0-9]{12}/CloudTrail/[a-z]{2}-[a-z]+-[0-9]/", fullmatch=True),
        st.builds(
            StreamState,
            watermark=st.none() | _days,
            days=st.dictionaries(_days, st.sets(st.text(min_size=1, max_size=20)), max_size=3),
        ),
        max_size=3,
    ),
    failed=st.dictionaries(
        st.text(min_size=1),
        st.builds(
            Failure,
            reason=st.text(),
            attempts=st.integers(1, 9),
            first_failed=st.text(),
            last_failed=st.text(),
        ),
        max_size=3,
    ),
)
def test_checkpoint_round_trips(streams: dict[str, StreamState], failed: dict[str, Failure]) -> None:
    cp = Checkpoint(streams=streams, failed=failed, sources=["s3://b/"], runs=["r1"], updated="x")
    assert Checkpoint.from_json(json.loads(json.dumps(cp.to_json()))) == cp


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "corrupt"),
        ('{"format": "something-else"}', "not a trailduck checkpoint"),
        ('{"format": "trailduck-state", "version": 99}', "version 99"),
        ('{"format": "trailduck-state", "version": 1, "streams": {"x": {"watermark": "nope"}}}', "malformed"),
    ],
)
def test_a_bad_checkpoint_is_a_clear_error_never_a_reset(
    local_trail: tuple[Path, Manifest], tmp_path: Path, content: str, message: str
) -> None:
    root, _ = local_trail
    lake = tmp_path / "lake"
    run(root, lake)
    before = lake_snapshot(lake)
    state_file(lake).write_text(content)
    result = runner.invoke(app, ["ingest", str(root), "--lake", str(lake)])
    assert result.exit_code == 1
    assert message in result.stderr and "state rebuild" in result.stderr
    assert lake_snapshot(lake) == before
    with pytest.raises(StateError):
        LocalStateStore(state_file(lake)).load()


def test_rebuild_from_the_lake_then_ingest_adds_only_what_is_missing(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = local_trail
    lake = tmp_path / "lake"
    broken = root / log_key(
        "111122223333", "us-east-1", dt.datetime(2024, 3, 9, 3, tzinfo=dt.UTC), "QUARANTINEDfile0"
    )
    broken.write_bytes(b"not a log")
    assert run(root, lake).exit_code == 3
    state_file(lake).write_text("garbage")
    refused = runner.invoke(app, ["state", "rebuild", "--lake", str(lake), "--json"])
    assert refused.exit_code == 0, refused.output
    result = json.loads(refused.stdout)
    assert result["keys"] == manifest.files and result["moved_aside"]
    assert Path(result["moved_aside"]).read_text() == "garbage"  # kept, not destroyed
    broken.write_bytes(b'{"Records": [{"eventID": "now-fine"}]}')
    after = run(root, lake)
    # The whole history is listed once; only the file the lake lacked is converted.
    assert after.files_listed == manifest.files + 1 and after.files_new == 1 and after.events == 1
    assert count(lake) == manifest.events + 1
    state = LocalStateStore(state_file(lake)).load()
    # Watermarks are back after that run, so the next run lists the lookback window only.
    assert state is not None and all(s.watermark == dt.date(2024, 3, 8) for s in state.streams.values())
    assert run(root, lake).files_listed == manifest.files + 1  # every file of this trail is inside the window


def test_missing_checkpoint_then_rebuild(local_trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, manifest = local_trail
    lake = tmp_path / "lake"
    run(root, lake)
    state_file(lake).unlink()
    missing = runner.invoke(app, ["ingest", str(root), "--lake", str(lake)])
    assert missing.exit_code == 1 and "state rebuild" in missing.stderr
    assert runner.invoke(app, ["state", "rebuild", "--lake", str(lake)]).exit_code == 0
    assert run(root, lake).files_new == 0
    assert count(lake) == manifest.events


def test_rebuild_will_not_replace_a_readable_checkpoint_without_force(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, _ = local_trail
    lake = tmp_path / "lake"
    run(root, lake)
    refused = runner.invoke(app, ["state", "rebuild", "--lake", str(lake)])
    assert refused.exit_code == 1 and "--force" in refused.stderr
    assert runner.invoke(app, ["state", "rebuild", "--lake", str(lake), "--force"]).exit_code == 0


def test_a_lock_left_by_a_dead_process_is_taken_over(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = local_trail
    lake = tmp_path / "lake"
    code = (
        "import sys, time; from trailduck.lake.folder import Lake\n"
        "with Lake(sys.argv[1]).lock():\n    print('locked', flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(lake)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    busy = runner.invoke(app, ["ingest", str(root), "--lake", str(lake)])
    assert busy.exit_code == 1 and f"pid {holder.pid}" in busy.stderr
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert (lake / "_trailduck" / "lock").exists()  # the dead process left its lock file behind
    assert run(root, lake).exit_code == 0
    assert count(lake) == manifest.events

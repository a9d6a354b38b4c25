"""The demo writes only into a folder of its own: never into a lake that holds anything it did not make."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import count, lake_snapshot
from trailduck.crashpoints import ENV
from trailduck.errors import ConfigError
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.lake.folder import Lake
from trailduck.synthetic.demo import NOTEBOOK_DEMO_LAKE, demo_marker, notebook_lake, run_demo


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "lake"
    run_demo(Lake(root), days=1)
    return root


@pytest.fixture
def lake(demo_lake: Path, tmp_path: Path) -> Path:
    """A demo lake of this test's own (a copy: the marker and checkpoint name the original's trail)."""
    return Path(shutil.copytree(demo_lake, tmp_path / "lake"))


def _refused(lake: Path, reason: str) -> None:
    before = lake_snapshot(lake)
    with pytest.raises(ConfigError, match=re.escape("trailduck demo --lake ./some-new-folder")) as exc:
        run_demo(Lake(lake), days=1)
    assert f"{lake}: {reason}" in str(exc.value)
    assert lake_snapshot(lake) == before


def test_a_demo_lake_that_a_real_ingest_added_to_is_refused(
    lake: Path, local_trail: tuple[Path, object]
) -> None:
    root, _ = local_trail
    ingest(IngestOptions(source=str(root), lake=lake))
    _refused(lake, f"holds events ingested from {root}, not only the demo's trail")


def test_parquet_files_of_another_ingest_are_refused(
    lake: Path, local_trail: tuple[Path, object], tmp_path: Path
) -> None:
    # Partitions of a real lake copied in (no checkpoint of this lake names them).
    root, _ = local_trail
    real = tmp_path / "real"
    ingest(IngestOptions(source=str(root), lake=real))
    shutil.copytree(real / "events", lake / "events", dirs_exist_ok=True)
    _refused(lake, "holds Parquet files that no demo run wrote")


def test_an_unreadable_marker_is_no_proof_of_a_demo(lake: Path) -> None:
    demo_marker(Lake(lake)).write_text("{")
    _refused(lake, "has an unreadable demo marker demo.json")


def test_the_notebooks_demo_lake_is_not_built_over_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    NOTEBOOK_DEMO_LAKE.mkdir()
    (NOTEBOOK_DEMO_LAKE / "notes.txt").write_text("mine\n")
    with pytest.raises(ConfigError, match=r"is not empty and is not a trailduck lake.*Set \$TRAILDUCK_LAKE"):
        notebook_lake()
    assert [p.name for p in NOTEBOOK_DEMO_LAKE.iterdir()] == ["notes.txt"]


def test_a_demo_killed_before_its_commit_is_finished_by_the_next_one(tmp_path: Path) -> None:
    """The killed run's marker names the demo lake's own checkpoint: the next demo rolls it back, not refuses."""
    lake = tmp_path / "demo"
    command = [sys.executable, "-m", "trailduck", "demo", "--lake", str(lake), "--days", "1", "--json"]
    killed = subprocess.run(
        command, env={**os.environ, ENV: "parquet_written"}, capture_output=True, text=True, check=False
    )
    assert killed.returncode == -signal.SIGKILL and Lake(lake).run_markers()
    again = subprocess.run(
        command,
        env={k: v for k, v in os.environ.items() if k != ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)["summary"]
    assert summary["rolled_back_runs"] and count(lake) == summary["events"]

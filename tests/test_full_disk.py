"""A full disk: the real command on a lake (or a checkpoint) in a small tmpfs. One message, nothing committed,
and once there is space again the next run ends with exactly the clean lake."""

from __future__ import annotations

import errno
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import expected, ingest_cmd, stored
from trailduck.cli.app import app
from trailduck.lake.folder import Lake
from trailduck.lake.table import add_record, commit_run, lake_sequence
from trailduck.synthetic.generator import Manifest, TrailSpec, folder_sink, write_trail


def _mount(folder: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (the lake of this trail needs about 3 MiB), unmounted at the end."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    root = tmp_path_factory.mktemp("full") / "bucket"
    spec = TrailSpec(days=1, files_per_day=6, events_per_file=(200, 600), seed=7, digests=False)
    return root, write_trail(spec, folder_sink(root))


def run(source: Path, lake: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ingest_cmd(source, lake), *args], capture_output=True, text=True, timeout=600, check=False
    )


def assert_one_clear_message(stderr: str, folder: Path, option: str) -> None:
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
    assert f"{folder}: no space left on device; nothing was committed" in stderr
    assert f"choose another {option}, then run again" in stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_full_lake_says_so_once_and_the_next_run_after_freeing_space_is_exact(
    trail: tuple[Path, Manifest], small_fs: Path, workers: str
) -> None:
    root, manifest = trail
    lake = small_fs / "lake"
    full = run(root, lake, "--workers", workers)
    assert full.returncode == 1, full.stderr
    assert_one_clear_message(full.stderr, lake, "--lake")
    assert not full.stdout and not list(lake.rglob("*.parquet*"))  # its partial files are deleted at once

    _mount(small_fs, "64m")
    rerun = run(root, lake, "--workers", workers)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["rolled_back_runs"] and summary["workers"] == int(workers)
    assert stored(lake) == expected(manifest)
    again = run(root, lake)
    assert again.returncode == 0 and json.loads(again.stdout)["files_new"] == 0
    assert stored(lake) == expected(manifest)


def fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` to the last byte; returns the file to delete to free it."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _ingested_with_room(trail: tuple[Path, Manifest], small_fs: Path) -> Path:
    """The trail ingested into the small filesystem, made large enough for it first."""
    _mount(small_fs, "64m")
    lake = small_fs / "lake"
    assert run(trail[0], lake).returncode == 0
    return lake


def test_views_that_cannot_be_written_on_a_full_disk_say_so(
    trail: tuple[Path, Manifest], small_fs: Path
) -> None:
    lake = _ingested_with_room(trail, small_fs)
    (lake / "trailduck.duckdb").unlink()
    filler = fill(small_fs)
    full = CliRunner().invoke(app, ["views", "--refresh", "--lake", str(lake)])
    assert full.exit_code == 1
    assert "No space left on device); its disk is full: free some space there" in full.stderr
    assert "another process" not in full.stderr and "Traceback" not in full.output
    filler.unlink()
    assert CliRunner().invoke(app, ["views", "--refresh", "--lake", str(lake)]).exit_code == 0


def test_a_full_disk_under_the_checkpoint_names_its_folder(
    trail: tuple[Path, Manifest], small_fs: Path, tmp_path: Path
) -> None:
    root, manifest = trail
    (small_fs / "state").mkdir()
    filler = fill(small_fs)
    state = small_fs / "state" / "state.json"
    lake = tmp_path / "lake"
    full = run(root, lake, "--state", str(state))
    assert full.returncode == 1, full.stderr
    # The run's commit was written ahead (in the lake, which has room): it is kept, and finished next time.
    assert full.stderr.count("\n") == 1 and "Traceback" not in full.stderr, full.stderr
    assert f"{state.parent}: no space left on device; the run's commit was written ahead, so it is kept" in (
        full.stderr
    )
    assert "choose another --state, then run again: the next run finishes" in full.stderr
    assert not state.exists()

    filler.unlink()
    rerun = run(root, lake, "--state", str(state))
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["finished_runs"] and not json.loads(rerun.stdout)["rolled_back_runs"]
    assert json.loads(rerun.stdout)["files_new"] == 0  # the checkpoint it finished knows every object
    assert stored(lake) == expected(manifest)


def test_a_compaction_on_a_full_disk_says_so_and_the_next_one_finishes(
    trail: tuple[Path, Manifest], small_fs: Path
) -> None:
    lake = _ingested_with_room(trail, small_fs)
    # A partition of two files, so there is something to merge (its rows twice, as far as this test cares).
    first_day = sorted((lake / "events").glob("account=*/region=*/date=*"))[0]
    extra = first_day / "part-extra-00000.parquet"
    extra.write_bytes(next(first_day.glob("*.parquet")).read_bytes())
    commit_run(
        Lake(lake),
        "events",
        [add_record(Lake(lake), extra.relative_to(lake).as_posix())],
        lake_sequence(Lake(lake)) + 1,
        "extra",
    )
    before = stored(lake)
    filler = fill(small_fs)
    full = CliRunner().invoke(app, ["compact", "--lake", str(lake)])
    assert full.exit_code == 1, full.output
    assert full.stderr.count("\n") == 1 and "Traceback" not in full.output, full.stderr
    assert f"{lake}: no space left on device; each table is as it was or compacted whole" in full.stderr
    assert "run trailduck compact again" in full.stderr
    assert stored(lake) == before
    filler.unlink()
    again = CliRunner().invoke(app, ["compact", "--lake", str(lake), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["partitions_compacted"] >= 1 and stored(lake) == before

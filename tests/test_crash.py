"""Exactly once across crashes: the real command, killed with SIGKILL at chosen points and at random moments."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.helpers import expected, ingest_cmd, run_cli, stored
from trailduck.crashpoints import ENV
from trailduck.fsutil import usable_cpus
from trailduck.lake.folder import Lake
from trailduck.lake.layout import run_tmp_parts
from trailduck.lake.lineage import content_hashes
from trailduck.synthetic.generator import Manifest, TrailSpec, folder_sink, write_trail


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    root = tmp_path_factory.mktemp("crash") / "bucket"
    spec = TrailSpec(days=2, files_per_day=6, events_per_file=(20, 80), seed=11)
    return root, write_trail(spec, folder_sink(root))


def delta_rows(lake: Path) -> int:
    """The rows an independent Delta reader sees in the events table (0: no table yet)."""
    if not (lake / "events" / "_delta_log").is_dir():
        return 0
    return DeltaTable(str(lake / "events")).to_pyarrow_table(columns=["eventID"]).num_rows


@pytest.mark.parametrize(
    "point",
    [
        "listing",
        "fetch:5",
        "convert:9",
        "share_written",
        "parquet_written",
        "commit_ahead",
        "table_commit",
        "table_commit:2",
        "state_commit",
        "views",
        "views:2",
    ],
)
def test_killed_at_a_point_then_rerun_gives_exactly_the_clean_lake(
    trail: tuple[Path, Manifest], tmp_path: Path, point: str
) -> None:
    root, manifest = trail
    lake = tmp_path / "lake"
    crashed = run_cli(root, lake, crash_at=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    # Between the kill and the rerun, a reader of the table sees the whole run or nothing of it.
    assert delta_rows(lake) in (0, sum(expected(manifest).values()))
    rerun = run_cli(root, lake)
    assert rerun.returncode == 0, rerun.stderr
    finished = point.startswith(("commit_ahead", "table_commit", "state_commit"))
    assert bool(json.loads(rerun.stdout)["finished_runs"]) == finished
    assert bool(json.loads(rerun.stdout)["rolled_back_runs"]) == point.startswith(
        ("fetch", "convert", "share_written", "parquet")
    )
    assert stored(lake) == expected(manifest)
    assert delta_rows(lake) == sum(expected(manifest).values())
    again = run_cli(root, lake)
    assert json.loads(again.stdout)["files_new"] == 0
    assert stored(lake) == expected(manifest)
    assert not list(lake.rglob("*.tmp")) and not list((lake / "_trailduck" / "runs").iterdir())
    # The content hashes of a rolled-back run go with its data: only committed runs have them.
    hashed_runs = {p.stem.removeprefix("part-") for p in (lake / "_trailduck" / "content").glob("part-*")}
    data_runs = {p.name.split("-")[1] + "-" + p.name.split("-")[2] for p in lake.rglob("part-*.parquet")}
    assert hashed_runs and hashed_runs <= data_runs
    assert len(content_hashes(Lake(lake))) == manifest.files


def test_a_killed_run_after_earlier_good_runs_keeps_them(
    trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = trail
    lake = tmp_path / "lake"
    # A first good run over one account, then a crash after Parquet is written for the rest.
    ok = subprocess.run(
        [*ingest_cmd(root, lake), "--accounts", "111122223333"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert run_cli(root, lake, crash_at="parquet_written").returncode == -signal.SIGKILL
    rerun = run_cli(root, lake)
    assert rerun.returncode == 0 and json.loads(rerun.stdout)["rolled_back_runs"]
    assert stored(lake) == expected(manifest)


def _unpublished_bytes(lake: Path) -> int:
    """Bytes written so far by a run in progress: its Parquet files under their temporary names."""
    total = 0
    for path in lake.glob(f"*/*/*/*/{run_tmp_parts()}"):
        with contextlib.suppress(FileNotFoundError):  # renamed or rolled back meanwhile
            total += path.stat().st_size
    return total


@pytest.mark.slow
def test_random_kills_always_end_with_exactly_the_clean_runs_events(tmp_path: Path) -> None:
    """Killed at random moments while writing: each run is killed once it has written a random number of bytes
    (a killed run commits nothing, so every run has the whole trail to write and is always still running
    then), never after a guessed time."""
    root = tmp_path / "bucket"
    spec = TrailSpec(
        days=3, files_per_day=12, events_per_file=(100, 1200), seed=5, insights=False, digests=False
    )
    manifest = write_trail(spec, folder_sink(root))
    assert manifest.events > 100_000  # over 16 MiB of gzip: worker processes convert, as in a large run
    lake = tmp_path / "lake"
    rng = random.Random(2024)
    rounds = 3
    for _ in range(rounds):
        env = {k: v for k, v in os.environ.items() if k != ENV}
        proc = subprocess.Popen(
            ingest_cmd(root, lake), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        written = rng.randint(64 << 10, 8 << 20)
        while proc.poll() is None and _unpublished_bytes(lake) < written:
            time.sleep(0.005)  # polling for the condition, not guessing a duration
        assert proc.poll() is None, f"the run ended before it had written {written:,} bytes"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=600)
        assert proc.returncode == -signal.SIGKILL
    final = run_cli(root, lake)
    assert final.returncode == 0, final.stderr
    summary = json.loads(final.stdout)
    assert summary["rolled_back_runs"] and (summary["workers"] > 1 or usable_cpus() == 1)
    assert stored(lake) == expected(manifest)


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (its worker processes)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.parametrize(
    ("sig", "code", "message"),
    [
        (signal.SIGTERM, 143, "stopped by SIGTERM; nothing was committed for the files in progress"),
        (signal.SIGINT, 130, "interrupted; nothing was committed for the files in progress"),
    ],
    ids=["SIGTERM", "SIGINT"],
)
@pytest.mark.parametrize("workers", ["1", "2"], ids=["one-process", "two-workers"])
def test_stopped_by_a_signal_while_converting_says_so_and_the_next_run_is_exact(
    trail: tuple[Path, Manifest], tmp_path: Path, sig: signal.Signals, code: int, message: str, workers: str
) -> None:
    """SIGTERM (docker stop, Kubernetes, systemd) is handled like Ctrl-C: one line, nothing committed."""
    root, manifest = trail
    lake = tmp_path / "lake"
    # The command pauses itself (SIGSTOP) after converting its second file: signalled at a known moment.
    env = {**os.environ, ENV: "convert:2:STOP"}
    proc = subprocess.Popen(
        [*ingest_cmd(root, lake), "--workers", workers],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), status
        assert list((lake / "_trailduck" / "runs").glob("*.run"))  # mid-run: converting
        workers_alive = _children(proc.pid)
        assert len(workers_alive) == int(workers) - 1
        proc.send_signal(sig)
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err and not out
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers_alive)  # the workers ended too
    assert not list(lake.rglob("*.parquet*"))  # nothing committed, its files in progress deleted

    rerun = run_cli(root, lake)
    assert rerun.returncode == 0, rerun.stderr
    assert stored(lake) == expected(manifest)
    again = run_cli(root, lake)
    assert again.returncode == 0 and json.loads(again.stdout)["files_new"] == 0
    assert stored(lake) == expected(manifest)


def test_a_point_is_armed_only_when_the_environment_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from trailduck.crashpoints import armed

    monkeypatch.delenv(ENV, raising=False)
    assert not armed("listing")
    monkeypatch.setenv(ENV, "listing:3")
    assert armed("listing") and not armed("fetch")
    monkeypatch.setenv(ENV, "listings")
    assert not armed("listing")

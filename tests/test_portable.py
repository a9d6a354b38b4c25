"""What runs off Linux: each Linux-only call is taken away in turn, and trailduck does without it or says, before
it starts, that this command needs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import NOW, count, lake_snapshot
from trailduck.fsutil import fsync_dir, usable_cpus
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.ingestion.workers import worker_count
from trailduck.scanner.keys import parse_key
from trailduck.scanner.listing import Listed
from trailduck.scanner.local import LocalSource
from trailduck.scanner.source import ObjectRef
from trailduck.synthetic.generator import Manifest


def test_without_flock_the_lake_is_read_and_a_write_says_what_it_needs(
    lake: Path, local_trail: tuple[Path, Manifest]
) -> None:
    """As on Windows: no fcntl module. `import trailduck` and the read commands work; ingest says why not."""
    root, _ = local_trail
    script = (
        "import sys; sys.modules['fcntl'] = None\n"  # an import of fcntl now raises ImportError
        "from trailduck.cli.app import main\n"
        "sys.argv = ['trailduck', *sys.argv[1:]]\n"
        "main()\n"
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, check=False
        )

    read = run("sql", "SELECT count(*) AS n FROM events", "--lake", str(lake), "--format", "csv")
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines() == ["n", str(count(lake))]
    assert run("report", "--lake", str(lake), "--format", "json").returncode == 0
    before = lake_snapshot(lake)
    write = run("ingest", str(root), "--lake", str(lake))
    assert write.returncode == 1
    assert "writing to a lake needs flock" in write.stderr and "Traceback" not in write.stderr
    assert lake_snapshot(lake) == before


def test_without_cpu_affinity_every_core_counts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As on macOS: no os.sched_getaffinity."""
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert usable_cpus() == (os.cpu_count() or 1)
    key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/10/111122223333_CloudTrail_us-east-1_20240310T0000Z_abcdefghijklmnop.json.gz"
    big = [Listed(ObjectRef(key, 64 << 20), parse_key(key))]
    assert worker_count(None, big, LocalSource(tmp_path)) == min(os.cpu_count() or 1, 8)


def test_without_directory_fds_an_ingest_still_commits(
    monkeypatch: pytest.MonkeyPatch, local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    """As on Windows: no os.O_DIRECTORY, so no folder can be fsynced."""
    monkeypatch.delattr(os, "O_DIRECTORY")
    fsync_dir(tmp_path)
    root, manifest = local_trail
    summary = ingest(IngestOptions(source=str(root), lake=tmp_path / "lake"), now=NOW)
    assert summary.exit_code == 0 and count(tmp_path / "lake") == summary.events == manifest.events

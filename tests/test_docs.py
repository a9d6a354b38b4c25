"""The README's commands are the ones CI and users run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set up (two commands)")[1].split("## ")[0]
    return [m.strip() for m in re.findall(r"```bash\n(.*?)```", setup, flags=re.S)]


def test_readme_has_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    demo, tests = readme_commands()
    assert demo.endswith("trailduck demo") and "pip install -e ." in demo
    assert tests.endswith("pytest") and '".[test]"' in tests
    test_part = tests.split("&& ", 2)[2]  # after creating and activating the venv
    assert test_part in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_installed_console_script_runs_the_demo(tmp_path: Path) -> None:
    exe = shutil.which("trailduck")
    assert exe, "the trailduck console script is not installed; run pip install -e ."
    result = subprocess.run(
        [exe, "demo", "--lake", str(tmp_path / "lake"), "--days", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Root account activity" in result.stdout and "files converted" in result.stdout


def test_the_python_api_of_the_readme(local_trail: tuple[Path, object], tmp_path: Path) -> None:
    import trailduck

    root, _ = local_trail
    summary = trailduck.ingest(trailduck.IngestOptions(source=str(root), lake=tmp_path / "lake"))
    assert summary.exit_code == 0 and trailduck.__version__
    con = trailduck.open_lake(tmp_path / "lake").connect(read_only=True)
    events = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    insights = con.execute("SELECT count(*) FROM insights").fetchall()[0][0]
    assert (events, insights) == (summary.events, summary.insight_events) and insights > 0
    # The README's one-liner works as written.
    con.sql("SELECT eventSource, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC").show()


def test_what_the_demo_and_the_tests_leave_behind_is_ignored_by_git() -> None:
    from trailduck.demo import DEMO_LAKE, NOTEBOOK_DEMO_LAKE

    if not (ROOT / ".git").exists() or not shutil.which("git"):
        pytest.skip("not a git checkout")
    # Folders (the trailing slash tells git so, as they need not exist).
    left_behind = [f"{DEMO_LAKE}/", f"notebooks/{NOTEBOOK_DEMO_LAKE}/", ".hypothesis/", "cloudtrail-lake/"]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *left_behind],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert sorted(result.stdout.split()) == sorted(left_behind), result.stderr

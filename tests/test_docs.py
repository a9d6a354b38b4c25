"""The README's commands are the ones CI and users run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from trailduck.convert.native import CONVERTER_ENV

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set up (two commands)")[1].split("## ")[0]
    return [m.strip() for m in re.findall(r"```bash\n(.*?)```", setup, flags=re.S)]


def test_readme_has_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    demo, tests = readme_commands()
    assert demo.endswith("trailduck demo") and "pip install -e ." in demo
    assert tests.endswith("pytest -n 4") and '".[test]"' in tests
    test_part = tests.split("&& ", 2)[2]  # after creating and activating the venv
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_part in ci
    # Then the suite once more with the C extension switched off, as the README says under the command.
    again = f"{CONVERTER_ENV}=python pytest -n 4 -q"
    assert again in ci.split(test_part, 1)[1].splitlines()
    assert f"`{again}`" in (ROOT / "README.md").read_text(encoding="utf-8").split("## What it looks like")[0]


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
    # The README's transcript shows the summary the demo prints today: the same rows, in the same order.
    assert _summary_rows(result.stdout) == _summary_rows(_transcript())
    # Its error lines too, with this lake's paths for the transcript's.
    lake = tmp_path / "lake"
    for command in (
        ["ingest", str(lake / "_demo" / "bucket" / "AWSLogs"), "--lake", str(lake)],
        ["sql", "SELEC 1", "--lake", str(lake)],
    ):
        failed = subprocess.run([exe, *command], capture_output=True, text=True, check=False)
        assert failed.returncode == 2
        shown = failed.stderr.replace(str(lake), "/tmp/rd/trailduck-demo")
        assert shown in _transcript(), shown


def _transcript() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## What it looks like")[1].split("```console")[1].split("```")[0]


def _summary_rows(output: str) -> list[str]:
    """The labels of the first ingest summary table in ``output``."""
    table = output.split("trailduck ingest\n", 1)[1].split("└", 1)[0]
    return [line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│")]


def test_the_readme_transcripts_commands_say_what_they_say_today(tmp_path: Path) -> None:
    """The error lines of the transcript are what the commands print now (paths aside)."""
    transcript = _transcript()
    version = subprocess.run(["trailduck", "--version"], capture_output=True, text=True, check=True).stdout
    assert version.split(" (")[0] in transcript and "(converter: " in version
    future = subprocess.run(
        ["trailduck", "ingest", str(tmp_path), "--since", "2030-01-01"], capture_output=True, text=True
    )
    assert future.returncode == 2
    shown = future.stderr.split(" (")[0]  # the day of the run follows
    assert shown in transcript, shown


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
    from trailduck.synthetic.demo import DEMO_LAKE, NOTEBOOK_DEMO_LAKE

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


def _layout_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout of the code")[1]
    return section.split("```")[1]


def layout_paths(block: str) -> tuple[set[str], set[str]]:
    """The folders and modules the README's layout names, as paths below ``trailduck/``: a line that starts
    (two spaces in) with ``name/`` opens that folder, one that starts with a module goes back to the top, and
    a deeper line continues the folder above it."""
    folders: set[str] = set()
    files: set[str] = set()
    folder: str | None = None
    for line in block.splitlines():
        if line and not line.startswith(" "):  # trailduck/, tests/, ...: only the package's lines count
            folder = "" if line.strip() == "trailduck/" else None
            continue
        first = re.match(r"^  (\S+)", line)
        if first:
            token = first.group(1)
            folder = token if token.endswith("/") else ""
            if folder:
                folders.add(folder.rstrip("/"))
        if folder is None:
            continue
        files |= {folder + name for name in re.findall(r"\b([a-z_0-9]+\.(?:py|c))\b", line)}
        folders |= {
            f"{folder}{name}"
            for name in re.findall(r"(?<![\w/.])([a-z_]+)/", line)[1 if first and folder else 0 :]
        }
    return folders, files - {f for f in files if f.endswith("__init__.py")}


def test_the_readmes_layout_matches_the_tree() -> None:
    """Every folder and module of the package is named in the README's layout, under its own folder, and
    everything named there exists."""
    folders, files = layout_paths(_layout_block())
    package = ROOT / "trailduck"
    real_folders = {
        p.relative_to(package).as_posix()
        for p in package.rglob("*")
        if p.is_dir() and "__pycache__" not in p.parts
    }
    real_files = {
        p.relative_to(package).as_posix()
        for p in package.rglob("*")
        if p.suffix in (".py", ".c")
        and "__pycache__" not in p.parts
        and p.name not in ("__init__.py", "__main__.py")
    }
    assert real_folders - folders == set(), "folders the README's layout does not name"
    assert real_files - files == set(), (
        "modules the README's layout does not name (or names in another folder)"
    )
    assert files - real_files == set(), "modules the README's layout names that do not exist there"


def test_the_layout_reader_puts_each_module_in_its_folder() -> None:
    block = "\ntrailduck/\n  errors.py     x · fsutil.py\n  cli/          app.py · verify.py (`a`)\n                demo.py\n  integrity/    verify.py\n  sql/          detections/ (x)\ntests/\n"
    assert layout_paths(block) == (
        {"cli", "integrity", "sql", "sql/detections"},
        {"errors.py", "fsutil.py", "cli/app.py", "cli/verify.py", "cli/demo.py", "integrity/verify.py"},
    )

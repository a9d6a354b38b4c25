"""The lake's names have one owner: no module but :mod:`trailduck.lake.layout` (and :mod:`trailduck.fsutil` for
the temporary suffix every durable write uses) spells a path or a name of the lake."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import trailduck
from trailduck.fsutil import temporary_name
from trailduck.lake.layout import (
    CONTENT,
    CONTENT_FILES,
    LakeLayout,
    content_key,
    part_name,
    partition_path,
    run_parts,
    run_tmp_parts,
)
from trailduck.lake.storage import LocalStorage

PACKAGE = Path(trailduck.__file__).parent
#: A fragment of a lake path -> the modules allowed to spell it.
FRAGMENTS = {
    "part-": {"lake/layout.py"},
    ".tmp": {"lake/layout.py", "fsutil.py"},
    "_trailduck": {"lake/layout.py"},
    "account=": {"lake/layout.py"},
    "region=": {"lake/layout.py"},
    "date=": {"lake/layout.py"},
    "trailduck.duckdb": {"lake/layout.py"},
    "duckdb-tmp": {"lake/layout.py"},
    "empty.parquet": {"lake/layout.py"},
    "demo.json": {"lake/layout.py"},
    "state.json": {"lake/layout.py"},
    ".parquet": {"lake/layout.py", "synthetic/events.py"},  # (there: an object key in a made-up event)
}
#: Whole strings that name a lake folder; the command's labels ("events" in a summary) are not paths.
FOLDERS = {
    "events",
    "insights",
    "_trailduck",
    "content",
    "runs",
    "lock",
}  # ("integrity" is a view's name too)
FOLDER_OWNERS = {"lake/layout.py"}
LABELS = {"state/checkpoint.py", "synthetic/demo.py", "lake/status.py"}  # JSON keys and labels


def _strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module that are not docstrings (f-string parts included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def spelled_outside_the_layout(package: Path) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        module = path.relative_to(package).as_posix()
        for line, text in _strings(path):
            for fragment, owners in FRAGMENTS.items():
                if fragment in text and module not in owners:
                    found.append(f"{module}:{line}: {fragment!r} in {text!r}")
            if text in FOLDERS and module not in FOLDER_OWNERS | LABELS and not module.startswith("cli/"):
                found.append(f"{module}:{line}: {text!r}")
    return found


def test_the_check_finds_a_name_spelled_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "writer.py").write_text(
        '"""part-<run> in a docstring is fine."""\nx = f"part-{1}.parquet"\n'
    )
    assert spelled_outside_the_layout(tmp_path) == [
        "lake/writer.py:2: 'part-' in 'part-'",
        "lake/writer.py:2: '.parquet' in '.parquet'",
    ]


def test_every_lake_name_has_one_owner() -> None:
    found = spelled_outside_the_layout(PACKAGE)
    assert not found, "lake names spelled outside trailduck/lake/layout.py:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("run", "n"), [("20261202T010203Z-ab12", "w1-00001"), ("compact20261202T010203Z", "00003")]
)
def test_names_and_globs_agree(tmp_path: Path, run: str, n: str) -> None:
    """Each file a run writes matches its run's globs and no other run's; a temporary name is hidden from the
    data glob (the one the views read)."""
    layout = LakeLayout(tmp_path)
    folder = tmp_path / partition_path("events", "123456789012", "us-east-1", "2026-12-01")
    folder.mkdir(parents=True)
    final = folder / part_name(run, n)
    final.touch()
    (folder / f".{final.name}.tmp").touch()
    assert layout.data_files("events") == [final]
    assert layout.data_files("events", run_parts(run)) == [final]
    assert layout.data_files("events", run_tmp_parts(run)) == [folder / f".{final.name}.tmp"]
    assert layout.data_files("events", run_parts("other")) == []
    assert layout.has_data("events") and not layout.has_data("insights")


@pytest.mark.parametrize("run", ["20261202T010203Z-ab12", "norunid"])
def test_content_files_are_found_whatever_the_run_id(tmp_path: Path, run: str) -> None:
    """A run's content file is ``part-<run>.parquet``: found by its own glob, not the data files' (which wants a
    dash after the run id), and so is one still being written."""
    storage = LocalStorage(tmp_path)
    final = tmp_path / content_key(run)
    final.parent.mkdir(parents=True)
    final.touch()
    (final.parent / f".{final.name}.tmp").touch()
    assert storage.keys(CONTENT, CONTENT_FILES) == [content_key(run)]
    assert storage.keys(CONTENT, temporary_name("*")) == [f"{CONTENT}/.{final.name}.tmp"]

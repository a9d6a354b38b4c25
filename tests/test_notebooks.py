"""Both notebooks run top to bottom against a generated lake, and their plots are drawn."""

from __future__ import annotations

import json
from pathlib import Path

import nbclient
import nbformat
import pytest

from trailduck.demo import run_demo
from trailduck.lake import Lake

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nb") / "lake"
    run_demo(Lake(root), days=5)
    return root


def _run(name: str, lake: Path, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("TRAILDUCK_LAKE", str(lake))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return nb


def _outputs(nb: nbformat.NotebookNode, kind: str) -> list[str]:
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if kind == "image/png" and "image/png" in out.get("data", {}):
                found.append(out["data"]["image/png"])
            elif kind == "text":
                found.append(out.get("text") or json.dumps(out.get("data", {}).get("text/plain", "")))
    return found


@pytest.mark.parametrize(("name", "plots"), [("01_quickstart.ipynb", 2), ("02_security_review.ipynb", 3)])
def test_notebook_runs_and_plots(
    name: str, plots: int, lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = _run(name, lake, tmp_path, monkeypatch)
    assert len(_outputs(nb, "image/png")) == plots
    text = "\n".join(_outputs(nb, "text"))
    assert "Error" not in text and "Traceback" not in text
    assert not (tmp_path / "demo-lake").exists()  # $TRAILDUCK_LAKE was used, no demo lake was built
    if name.startswith("02"):
        assert "cis-4.15" in text and "td-failed-login-burst" in text
        # The root findings joined to the proof that their files are genuine (box characters JSON-escaped).
        assert "\\u2502 valid" in text and "not verified" not in text


def test_committed_notebooks_hold_no_errors() -> None:
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                assert out.get("output_type") != "error", f"{path.name} was committed with an error output"

"""Both notebooks run top to bottom against a generated lake, and their plots are drawn."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbclient
import nbformat
import pytest

from trailduck.lake.folder import Lake
from trailduck.synthetic.demo import example_sigma_rules, run_demo

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nb") / "lake"
    run_demo(Lake(root), days=5)
    return root


#: Run in the kernel right after the cell with the tag, on the objects that cell made: what a chart shows that its
#: PNG cannot tell a test. Each prints one JSON line.
PROBES = {
    "busiest-services": "{'xscale': ax.get_xscale()}",
    "detections-chart": (
        "{'legend': [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else [],"
        " 'severities': sorted({f.severity for f in hits}), 'xscale': ax.get_xscale()}"
    ),
    "sigma-chart": (
        "{'rules': [t.get_text() for t in ax.get_yticklabels()], 'days': len(days), 'norm': type(image.norm).__name__,"
        " 'cells': sum(1 for row in grid for v in row if v), 'events': sum(map(sum, grid))}"
    ),
}


def _with_probes(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        for tag in cell.get("metadata", {}).get("tags", []):
            if tag in PROBES:
                probe = (
                    f"import json as _json\nprint('PROBE', _json.dumps({{'tag': {tag!r}, **{PROBES[tag]}}}))"
                )
                cells.append(nbformat.v4.new_code_cell(probe, metadata={"tags": ["probe"]}))
    nb.cells = cells
    return nb


def _probes(nb: nbformat.NotebookNode) -> dict[str, dict[str, Any]]:
    found = {}
    for cell in nb.cells:
        if "probe" in cell.metadata.get("tags", []):
            for line in "".join(out.get("text", "") for out in cell.outputs).splitlines():
                if line.startswith("PROBE "):
                    data = json.loads(line.removeprefix("PROBE "))
                    found[data.pop("tag")] = data
    return found


def _tagged(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    return next(cell for cell in nb.cells if tag in cell.metadata.get("tags", []))


def _run(name: str, lake: Path, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("TRAILDUCK_LAKE", str(lake))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = _with_probes(nbformat.read(NOTEBOOKS / name, as_version=4))
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


@pytest.mark.slow
@pytest.mark.parametrize(("name", "plots"), [("01_quickstart.ipynb", 2), ("02_security_review.ipynb", 4)])
def test_notebook_runs_and_plots(
    name: str, plots: int, lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = _run(name, lake, tmp_path, monkeypatch)
    assert len(_outputs(nb, "image/png")) == plots
    text = "\n".join(_outputs(nb, "text"))
    assert "Error" not in text and "Traceback" not in text
    assert not (tmp_path / "demo-lake").exists()  # $TRAILDUCK_LAKE was used, no demo lake was built
    probes = _probes(nb)
    if name.startswith("01"):
        # The quiet services stay visible beside the busy ones.
        assert probes["busiest-services"] == {"xscale": "log"}
        # The query of "your own queries" shows a table, not Python tuples of datetimes with ZoneInfo objects.
        (shown,) = [out for out in _tagged(nb, "own-query").outputs if out.output_type == "execute_result"]
        table = shown["data"]["text/plain"]
        assert re.search(r"│ +eventName +│", table) and "timestamp with time zone" in table, table
        assert "zoneinfo" not in table.lower() and "datetime.datetime(" not in table
    if name.startswith("02"):
        # The severity colours are explained in the chart: one legend entry per severity that has findings.
        detections = probes["detections-chart"]
        assert detections["legend"] and sorted(detections["legend"]) == detections["severities"]
        assert "cis-4.15" in text and "td-failed-login-burst" in text
        # The root findings joined to the proof that their files are genuine (box characters JSON-escaped).
        assert "\\u2502 valid" in text and "not verified" not in text
        # The example Sigma rules all run, and each has a row in the chart of findings per rule and day.
        rules = sorted(example_sigma_rules().glob("*.yml"))
        assert (
            f"{len(rules)} of {len(rules)} rules ran; {len(rules)} matched" in text
            and "cannot run" not in text
        )
        chart = probes["sigma-chart"]
        assert len(chart["rules"]) == len(rules) and chart["norm"] == "LogNorm" and chart["days"] >= 2
        assert chart["cells"] >= len(rules) and chart["events"] >= chart["cells"]


def test_committed_notebooks_hold_no_errors() -> None:
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                assert out.get("output_type") != "error", f"{path.name} was committed with an error output"

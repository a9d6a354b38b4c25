"""Which converter an install uses: `trailduck --version`, $TRAILDUCK_CONVERTER (for the CLI and the library
alike), and the ingest summary.

The state without the C extension is tested for real: a subprocess whose import of the compiled module fails,
as it does where setup.py could not compile it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import trailduck
from tests.helpers import NOW, lake_snapshot, query
from trailduck.cli.app import app
from trailduck.convert import native
from trailduck.convert.native import CONVERTER_ENV
from trailduck.errors import ConfigError
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.synthetic.generator import Manifest

runner = CliRunner()

#: The CLI as it runs where the extension was not compiled: importing trailduck.convert._columns fails.
WITHOUT_EXTENSION = """
import sys

class Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "trailduck.convert._columns":
            raise ImportError("not compiled")

sys.meta_path.insert(0, Hide())
from trailduck.cli.app import main
sys.argv[0] = "trailduck"
main()
"""


def without_extension(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != CONVERTER_ENV} | (env or {})
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTENSION, *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def every_row(lake: Path) -> list[tuple[Any, ...]]:
    return query(
        lake, "SELECT * EXCLUDE (event_json), event_json::VARCHAR FROM events ORDER BY source_key, eventID"
    )


@pytest.mark.skipif(not native.AVAILABLE, reason="the C extension is not built")
def test_version_names_the_compiled_converter() -> None:
    result = runner.invoke(app, ["--version"], env={CONVERTER_ENV: ""})
    assert result.exit_code == 0
    assert result.stdout == f"trailduck {trailduck.__version__} (converter: C column builder)\n"
    chosen = runner.invoke(app, ["--version"], env={CONVERTER_ENV: "python"})
    assert chosen.exit_code == 0
    assert (
        chosen.stdout
        == f"trailduck {trailduck.__version__} (converter: pure Python, chosen by {CONVERTER_ENV})\n"
    )


def test_a_bad_converter_name_is_a_usage_error(local_trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, _ = local_trail
    for args in (["--version"], ["ingest", str(root), "--lake", str(tmp_path / "lake")]):
        result = runner.invoke(app, args, env={CONVERTER_ENV: "rust"})
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert f"{CONVERTER_ENV}='rust': set it to c or python" in result.stderr
    assert not (tmp_path / "lake").exists()


def test_the_library_default_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONVERTER_ENV, raising=False)
    assert native.choose() == native.DEFAULT == ("c" if native.AVAILABLE else "python")
    monkeypatch.setenv(CONVERTER_ENV, "")
    assert native.choose() == native.DEFAULT
    monkeypatch.setenv(CONVERTER_ENV, "python")
    assert native.choose() == "python"
    if native.AVAILABLE:
        assert native.choose("c") == "c"  # a name given beats the environment
    monkeypatch.setenv(CONVERTER_ENV, "rust")
    with pytest.raises(ConfigError, match=f"{CONVERTER_ENV}='rust': set it to c or python"):
        native.choose()
    assert native.choose("python") == "python"
    with pytest.raises(ConfigError, match="converter 'rust': give c"):
        native.choose("rust")


def test_trailduck_ingest_honours_the_environment(
    local_trail: tuple[Path, Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only the CLI: a run through the library with no converter named reads $TRAILDUCK_CONVERTER too."""
    root, manifest = local_trail
    monkeypatch.setenv(CONVERTER_ENV, "python")
    summary = ingest(IngestOptions(source=str(root), lake=tmp_path / "lake"), now=NOW)
    assert summary.converter == "python" and summary.exit_code == 0 and summary.events == manifest.events
    monkeypatch.setenv(CONVERTER_ENV, "rust")
    with pytest.raises(ConfigError, match=CONVERTER_ENV):
        ingest(IngestOptions(source=str(root), lake=tmp_path / "other"), now=NOW)
    assert not (tmp_path / "other").exists()


@pytest.mark.skipif(not native.AVAILABLE, reason="compares the C column builder with the Python paths")
def test_the_python_converter_gives_the_same_lake(local_trail: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, manifest = local_trail
    runs = {}
    for converter in ("c", "python"):
        lake = tmp_path / converter
        result = runner.invoke(
            app, ["ingest", str(root), "--lake", str(lake), "--json"], env={CONVERTER_ENV: converter}
        )
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["converter"] == converter and summary["events"] > 0
        assert "not compiled" not in result.stderr  # chosen, not missing: nothing to warn about
        runs[converter] = lake
    assert every_row(runs["c"]) == every_row(runs["python"])
    snapshot = lake_snapshot(runs["python"])
    again = runner.invoke(
        app, ["ingest", str(root), "--lake", str(runs["python"])], env={CONVERTER_ENV: "python"}
    )
    assert again.exit_code == 0
    assert "│ converter" in again.stdout and "pure Python" in again.stdout
    assert lake_snapshot(runs["python"]) == snapshot and manifest.events > 0


def test_without_the_extension_version_and_ingest_say_so_once(
    local_trail: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, _ = local_trail
    version = without_extension("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(f"trailduck {trailduck.__version__} (converter: pure Python; ")
    assert "the C column builder is not compiled" in version.stdout
    assert "pip install --force-reinstall --no-deps" in version.stdout

    asked = without_extension("--version", env={CONVERTER_ENV: "c"})
    assert (
        asked.returncode == 2 and f"{CONVERTER_ENV}=c: the C column builder is not compiled" in asked.stderr
    )

    lake = tmp_path / "lake"
    first = without_extension("ingest", str(root), "--lake", str(lake), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["converter"] == "python"
    assert first.stderr.count("not compiled") == 1 and "pip install --force-reinstall" in first.stderr
    snapshot = lake_snapshot(lake)

    second = without_extension("ingest", str(root), "--lake", str(lake))
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("not compiled") == 1 and "note: converted in pure Python" in second.stdout
    assert lake_snapshot(lake) == snapshot

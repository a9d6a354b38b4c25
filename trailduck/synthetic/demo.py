"""``trailduck demo``: a generated trail, ingested, with a few example queries. No AWS account needed."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trailduck.analysis.query import run_query
from trailduck.errors import ConfigError, LakeError
from trailduck.fsutil import beside, replace_durably
from trailduck.ingestion.run import IngestOptions, IngestSummary, ingest
from trailduck.integrity.result import VerifyResult
from trailduck.integrity.verify import VerifyOptions, keep_result, lake_hashes, verify
from trailduck.lake.folder import LAKE_ENV, Lake
from trailduck.lake.layout import DATASETS
from trailduck.scanner.local import LocalSource
from trailduck.sql import load_sql
from trailduck.state.store import LocalStateStore
from trailduck.synthetic.generator import TrailSpec, folder_sink, write_trail
from trailduck.synthetic.sigma_cases import SIGMA_RULES


def _parse_queries(text: str) -> list[tuple[str, str]]:
    queries: list[tuple[str, str]] = []
    for block in text.split("-- name: ")[1:]:
        title, _, sql = block.partition("\n")
        queries.append((title.strip(), sql.strip().rstrip(";")))
    return queries


EXAMPLE_QUERIES = _parse_queries(load_sql("demo_queries.sql"))

#: ``trailduck demo``'s lake when no folder is named: a folder of its own, never ``$TRAILDUCK_LAKE`` or the other
#: commands' default, so synthetic events cannot land in a lake of real ones.
DEMO_LAKE = Path("trailduck-demo")
_MARKER_FORMAT = "trailduck-demo"


def demo_marker(lake: Lake) -> Path:
    """The file that says the demo made ``lake``: the trails it ingested there and the runs that wrote data."""
    return lake.demo_marker


@dataclass
class _Marker:
    sources: list[str]
    runs: list[str]


def _read_marker(path: Path) -> _Marker | None:
    """The marker, None when there is none; ValueError when it is not one the demo wrote."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(exc.strerror) from exc
    if not isinstance(data, dict) or data.get("format") != _MARKER_FORMAT:
        raise ValueError(f"not a {_MARKER_FORMAT} marker")
    try:
        return _Marker([str(s) for s in data["sources"]], [str(r) for r in data["runs"]])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"no list of {exc}") from exc


def _update_marker(lake: Lake, *, source: str | None = None, run: str | None = None) -> None:
    """Write the marker before anything else goes into the lake, then name each trail and run as it comes."""
    path = demo_marker(lake)
    marker = _read_marker(path) or _Marker([], [])
    if source and source not in marker.sources:
        marker.sources.append(source)
    if run and run not in marker.runs:
        marker.runs.append(run)
    lake.create()
    tmp = beside(path)
    data = {"format": _MARKER_FORMAT, "sources": marker.sources, "runs": marker.runs}
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    replace_durably(tmp, path)


def not_a_demo_lake(lake: Lake) -> str | None:
    """Why the demo must not write into ``lake``, or None when it may: the folder is missing or empty, or the
    demo made it and nothing else wrote to it (no other source in its checkpoint, no Parquet file of another run).
    """
    root = lake.root
    if not root.exists():
        return None
    if not root.is_dir():
        return "is a file, not a folder"
    if not any(root.iterdir()):
        return None
    try:
        marker = _read_marker(demo_marker(lake))
    except ValueError as exc:
        return f"has an unreadable demo marker {demo_marker(lake).name} ({exc})"
    if marker is None:
        if (
            lake.db_path.exists()
            or lake.meta_dir.exists()
            or any(lake.dataset_dir(d).exists() for d in DATASETS)
        ):
            return "holds a trailduck lake that `trailduck demo` did not make"
        return "is not empty and is not a trailduck lake"
    checkpoint = LocalStateStore(lake.state_path).load()
    others = [s for s in checkpoint.sources if s not in marker.sources] if checkpoint else []
    if others:
        return f"holds events ingested from {', '.join(others)}, not only the demo's trail"
    # Runs that never committed are the demo ingest's to roll back, if they were meant for this checkpoint.
    interrupted = lake.runs_committing_to(str(lake.state_path))
    if lake.has_data_besides({*marker.runs, *(checkpoint.runs if checkpoint else []), *interrupted}):
        return "holds Parquet files that no demo run wrote"
    return None


@dataclass
class DemoResult:
    trail: Path
    summary: IngestSummary
    results: list[tuple[list[str], list[tuple[Any, ...]]]]
    #: The digest check of the demo trail (signed with a key generated for it), kept in the lake.
    integrity: VerifyResult
    public_keys: Path

    @property
    def query_results(self) -> list[dict[str, Any]]:
        return [
            {"title": title, "sql": sql, "rows": [dict(zip(cols, row, strict=True)) for row in rows]}
            for (title, sql), (cols, rows) in zip(EXAMPLE_QUERIES, self.results, strict=True)
        ]


def run_demo(lake: Lake, *, days: int = 7, today: dt.date | None = None) -> DemoResult:
    """Generate a signed trail into ``<lake>/_demo/bucket``, ingest it, verify it against its digests, run the
    example queries.

    Refuses (:class:`ConfigError`) a lake that holds anything but an earlier demo: synthetic events must never mix
    with real ones. The trail ends with yesterday: a generated day spans all 24 hours, and today's would hold events
    from the future."""
    problem = not_a_demo_lake(lake)
    if problem:
        raise ConfigError(
            f"{lake.root}: {problem}, and the demo's synthetic events must not mix with other data. "
            f"Give it a folder of its own: `trailduck demo --lake ./some-new-folder`, or leave out --lake "
            f"to use ./{DEMO_LAKE}"
        )
    today = today or dt.datetime.now(dt.UTC).date()
    _update_marker(lake)  # first: a demo interrupted from here on still leaves a lake the next demo may reuse
    trail = lake.root / "_demo" / "bucket"
    if trail.exists():
        shutil.rmtree(trail)  # regenerated each time: the demo is reproducible, not cumulative
    spec = TrailSpec(
        end=today - dt.timedelta(days=1),
        days=days,
        files_per_day=6,
        events_per_file=(10, 60),
        detections=True,
        sigma=True,
    )
    manifest = write_trail(spec, folder_sink(trail))
    assert manifest.signing_key is not None  # the spec has digests
    public_keys = trail.parent / "public-keys.json"
    public_keys.write_text(json.dumps(manifest.signing_key.public_key_list(), indent=2) + "\n")
    _update_marker(lake, source=LocalSource(trail).uri)
    summary = ingest(IngestOptions(source=str(trail), lake=lake.root))
    _update_marker(lake, run=summary.run_id)
    integrity = verify(
        VerifyOptions(source=str(trail), public_keys=public_keys), converted_hashes=lake_hashes(lake)
    )
    keep_result(lake, integrity)
    results = [run_query(lake, sql) for _, sql in EXAMPLE_QUERIES]
    return DemoResult(trail, summary, results, integrity, public_keys)


def example_sigma_rules() -> Path:
    """The folder of example Sigma rules that come with trailduck (the demo trail holds events for each): for
    ``trailduck sigma``, ``run_sigma`` and the notebooks."""
    return SIGMA_RULES


#: Where a notebook builds its demo lake when $TRAILDUCK_LAKE is not set (relative to the notebook's folder).
NOTEBOOK_DEMO_LAKE = Path("demo-lake")


def notebook_lake(location: str | os.PathLike[str] | None = None) -> Lake:
    """The lake a notebook reads: ``location``, else ``$TRAILDUCK_LAKE``, else a demo lake built on first use.

    A named lake must exist (a typo should not silently become a demo); the demo lake is generated and
    ingested once (about two seconds), then reused. It is built only in a folder that is empty or holds an earlier
    demo, never over other data.
    """
    named = location or os.environ.get(LAKE_ENV)
    if named:
        lake = Lake(named)
        if not lake.db_path.exists():
            raise LakeError(
                f"{lake.root}: no trailduck lake here; run `trailduck ingest SOURCE --lake {lake.root}`"
            )
        return lake
    lake = Lake(NOTEBOOK_DEMO_LAKE)
    if not lake.db_path.exists():
        problem = not_a_demo_lake(lake)
        if problem:
            raise ConfigError(
                f"{lake.root}: {problem}, and a notebook builds its demo lake only in an empty folder or an "
                "earlier demo lake. "
                "Set $TRAILDUCK_LAKE (or pass notebook_lake() a folder) to read a lake, or move this folder away"
            )
        run_demo(lake)
    return lake

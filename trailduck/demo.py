"""``trailduck demo``: a generated trail, ingested, with a few example queries. No AWS account needed."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trailduck.errors import LakeError
from trailduck.generator import TrailSpec, folder_sink, write_trail
from trailduck.ingest import IngestOptions, IngestSummary, ingest
from trailduck.lake import Lake
from trailduck.query import run_query
from trailduck.verify import VerifyOptions, VerifyResult, keep_result, lake_hashes, verify
from trailduck.views import load_sql


def _parse_queries(text: str) -> list[tuple[str, str]]:
    queries: list[tuple[str, str]] = []
    for block in text.split("-- name: ")[1:]:
        title, _, sql = block.partition("\n")
        queries.append((title.strip(), sql.strip().rstrip(";")))
    return queries


EXAMPLE_QUERIES = _parse_queries(load_sql("demo_queries.sql"))


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

    The trail ends with yesterday: a generated day spans all 24 hours, and today's would hold events from the
    future."""
    today = today or dt.datetime.now(dt.UTC).date()
    trail = lake.root / "_demo" / "bucket"
    if trail.exists():
        shutil.rmtree(trail)  # regenerated each time: the demo is reproducible, not cumulative
    spec = TrailSpec(
        end=today - dt.timedelta(days=1),
        days=days,
        files_per_day=6,
        events_per_file=(10, 60),
        detections=True,
    )
    manifest = write_trail(spec, folder_sink(trail))
    assert manifest.signing_key is not None  # the spec has digests
    public_keys = trail.parent / "public-keys.json"
    public_keys.write_text(json.dumps(manifest.signing_key.public_key_list(), indent=2) + "\n")
    summary = ingest(IngestOptions(source=str(trail), lake=lake.root))
    integrity = verify(
        VerifyOptions(source=str(trail), public_keys=public_keys), converted_hashes=lake_hashes(lake)
    )
    keep_result(lake, integrity)
    results = [run_query(lake, sql) for _, sql in EXAMPLE_QUERIES]
    return DemoResult(trail, summary, results, integrity, public_keys)


#: Where a notebook builds its demo lake when $TRAILDUCK_LAKE is not set (relative to the notebook's folder).
NOTEBOOK_DEMO_LAKE = Path("demo-lake")


def notebook_lake(location: str | os.PathLike[str] | None = None) -> Lake:
    """The lake a notebook reads: ``location``, else ``$TRAILDUCK_LAKE``, else a demo lake built on first use.

    A named lake must exist (a typo should not silently become a demo); the demo lake is generated and
    ingested once (about two seconds), then reused.
    """
    named = location or os.environ.get("TRAILDUCK_LAKE")
    if named:
        lake = Lake(named)
        if not lake.db_path.exists():
            raise LakeError(
                f"{lake.root}: no trailduck lake here; run `trailduck ingest SOURCE --lake {lake.root}`"
            )
        return lake
    lake = Lake(NOTEBOOK_DEMO_LAKE)
    if not lake.db_path.exists():
        run_demo(lake)
    return lake

"""Rebuild a lost or corrupt checkpoint from the lake's ``source_key`` lineage.

The rebuilt checkpoint knows every object that has rows in the lake, and no watermark: the next ingest lists
the whole history once, converts only what the lake lacks (quarantined files among them), and then seals the
days before its lookback window, so the checkpoint is back to its usual small size after that one run.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from trailduck.errors import StateError
from trailduck.lake.folder import Lake
from trailduck.lake.layout import DATASETS, PARTITION_FILES
from trailduck.scanner.keys import InvalidKeyError, parse_key
from trailduck.sql import sql_literal
from trailduck.state.checkpoint import Checkpoint
from trailduck.state.store import LocalStateStore

log = logging.getLogger(__name__)


@dataclass
class RebuildResult:
    location: str
    keys: int
    streams: int
    rolled_back_runs: list[str]
    moved_aside: str | None


def lake_lineage(lake: Lake) -> set[str]:
    """Every ``source_key`` with rows in the lake."""
    keys: set[str] = set()
    con = lake.scratch_connection()
    try:
        for dataset in DATASETS:
            if lake.data_files(dataset):
                glob = sql_literal(f"{lake.dataset_dir(dataset)}/{PARTITION_FILES}")
                rows = con.execute(f"SELECT DISTINCT source_key FROM read_parquet({glob})").fetchall()
                keys.update(row[0] for row in rows)
    finally:
        con.close()
    return keys


def rebuild_checkpoint(
    lake: Lake, state_path: Path | None = None, *, force: bool = False, now: dt.datetime | None = None
) -> RebuildResult:
    now = now or dt.datetime.now(dt.UTC)
    store = LocalStateStore(state_path or lake.state_path)
    moved: str | None = None
    old: Checkpoint | None = None
    with lake.lock():
        if store.path.exists():
            try:
                old = store.load()
            except StateError:
                pass  # corrupt: that is what a rebuild is for; the old file is kept aside below
            else:
                if not force:
                    raise StateError(
                        f"{store.location}: a readable checkpoint exists; pass --force to replace it "
                        "with one rebuilt from the lake"
                    )
            aside = store.path.with_name(f"{store.path.name}.replaced-{now:%Y%m%dT%H%M%SZ}")
            store.path.rename(aside)
            moved = str(aside)
        # Without a checkpoint no run can be known to have committed: files of interrupted runs go, so the
        # next ingest converts those objects again instead of trusting a half-renamed run.
        rolled_back = lake.recover(None, store.location, discard=True)
        checkpoint = Checkpoint()
        for key in sorted(lake_lineage(lake)):
            try:
                parsed = parse_key(key)
            except InvalidKeyError:  # pragma: no cover - only validated keys are ever written
                log.warning("%s: not a CloudTrail key; left out of the rebuilt checkpoint", key)
                continue
            checkpoint.stream(parsed.stream.prefix).mark_done(parsed.day, parsed.filename)
        if old is not None:
            checkpoint.failed = old.failed  # the quarantine and its attempt counts survive a forced rebuild
        checkpoint.record_run(f"rebuild-{now:%Y%m%dT%H%M%SZ}", "rebuilt from the lake", now)
        store.save(checkpoint)
    return RebuildResult(store.location, checkpoint.key_count(), len(checkpoint.streams), rolled_back, moved)

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
from trailduck.lake.layout import DATASETS, STATE
from trailduck.lake.lineage import distinct_source_keys, lake_files
from trailduck.lake.table import lake_sequence
from trailduck.scanner.keys import InvalidKeyError, parse_key
from trailduck.state.checkpoint import Checkpoint

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
    for dataset in DATASETS:
        keys.update(distinct_source_keys(lake, lake_files(lake, dataset)))
    return keys


def _move_aside(lake: Lake, state_path: Path | None, raw: bytes, suffix: str) -> str:
    """Keep the replaced checkpoint beside itself (a file renamed; on S3, copied and deleted); its location."""
    if state_path is not None:
        aside = state_path.with_name(state_path.name + suffix)
        state_path.rename(aside)
        return str(aside)
    lake.storage.write(STATE + suffix, raw)
    lake.storage.delete(STATE)
    return lake.storage.uri_of(STATE + suffix)


def rebuild_checkpoint(
    lake: Lake, state_path: Path | None = None, *, force: bool = False, now: dt.datetime | None = None
) -> RebuildResult:
    now = now or dt.datetime.now(dt.UTC)
    store = lake.state_store(state_path)
    moved: str | None = None
    old: Checkpoint | None = None
    with lake.lock():
        raw = state_path.read_bytes() if state_path and state_path.exists() else None
        if state_path is None:
            raw = lake.storage.read(STATE)
        if raw is not None:
            try:
                old = store.load()
            except StateError:
                pass  # corrupt: that is what a rebuild is for; the old one is kept aside below
            else:
                if not force:
                    raise StateError(
                        f"{store.location}: a readable checkpoint exists; pass --force to replace it "
                        "with one rebuilt from the lake"
                    )
            moved = _move_aside(lake, state_path, raw, f".replaced-{now:%Y%m%dT%H%M%SZ}")
            store = lake.state_store(state_path)  # one that expects no checkpoint (on S3: If-None-Match)
        # Without a checkpoint: a run that wrote its commit ahead is finished in the tables (the rebuilt
        # checkpoint then knows its objects from them); the files of any other interrupted run go, so the next
        # ingest converts those objects again.
        _, rolled_back = lake.recover(store, discard=True)
        checkpoint = Checkpoint(sequence=lake_sequence(lake))
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

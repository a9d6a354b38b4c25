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

from trailduck.errors import ConfigError, StateError
from trailduck.lake.folder import Lake
from trailduck.lake.layout import DATASETS, STATE
from trailduck.lake.lineage import distinct_source_keys, lake_files
from trailduck.lake.table import lake_sequence
from trailduck.scanner.keys import InvalidKeyError, parse_key
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
    for dataset in DATASETS:
        keys.update(distinct_source_keys(lake, lake_files(lake, dataset)))
    return keys


def rebuild_checkpoint(
    lake: Lake, state_path: Path | None = None, *, force: bool = False, now: dt.datetime | None = None
) -> RebuildResult:
    now = now or dt.datetime.now(dt.UTC)
    if not lake.is_local and state_path is None:
        raise ConfigError(
            f"{lake.location}: `state rebuild` of a lake on S3 is not supported yet; rebuild into a local file "
            f"with --state FILE, then copy it to <lake>/{STATE} (aws s3 cp) while no ingest runs"
        )
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

"""Planning by day folder plans exactly what planning key by key does: a folder whose objects are all done is only
counted, and anything odd in or around it (names that are not CloudTrail's, twins, links, sub-folders, odd date
folders, quarantined keys, sealed days, --since/--until) comes out the same either way."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailduck.ingestion.run import IngestOptions, IngestSummary, _plan
from trailduck.lake.folder import Lake
from trailduck.scanner.keys import Stream
from trailduck.scanner.listing import Skipped
from trailduck.scanner.local import LocalSource
from trailduck.scanner.source import FolderSource, ObjectRef
from trailduck.state.checkpoint import Checkpoint, Failure, StreamState

STREAMS = [Stream("111122223333", "us-east-1"), Stream("444455556666", "eu-west-1", org_id="o-abcdefghij")]
DAYS = [dt.date(2024, 3, 10), dt.date(2024, 3, 11), dt.date(2024, 3, 12)]
FOLDERS = [f"{d:%Y/%m/%d}/" for d in DAYS] + ["2024/13/01/", "2024/3/10/", "2024/03/10/sub/", "2024/", ""]


class KeyByKey:
    """A local folder that lists key by key only, as S3 does: the plan the fast path must match."""

    def __init__(self, inner: LocalSource) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in ("list_folders", "folder_refs"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def uri(self) -> str:
        return self.inner.uri

    def list_objects(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectRef]:
        return self.inner.list_objects(prefix, start_after)


def _log_name(stream: Stream, day: dt.date, minute: int, rand: str) -> str:
    return f"{stream.account}_CloudTrail_{stream.region}_{day:%Y%m%d}T{minute // 60:02d}{minute % 60:02d}Z_{rand}.json"


ODD_NAMES = [
    "notes.txt",
    "x.json",
    # Another account's or region's name, an insight's name in a log folder, a 25th hour.
    "111122223333_CloudTrail_eu-west-1_20240310T0000Z_AAAAAAAAAAAAAAAA.json",
    "444455556666_CloudTrail-Insight_eu-west-1_20240310T0000Z_AAAAAAAAAAAAAAAA.json",
    "111122223333_CloudTrail_us-east-1_20240310T2400Z_AAAAAAAAAAAAAAAA.json",
]

entries = st.lists(
    st.tuples(
        st.integers(0, len(STREAMS) - 1),
        st.sampled_from(FOLDERS),
        st.one_of(
            st.tuples(
                st.just("log"),
                st.sampled_from([0, 7, 1439, 1440, 2000]),
                st.sampled_from(["A" * 16, "b" * 16, "0123456789abcdef"]),
            ),
            st.tuples(st.just("odd"), st.sampled_from(ODD_NAMES), st.just("")),
        ),
        st.sampled_from(["", ".gz", ".gz.gz"]),
        st.sampled_from(["file", "file", "file", "link", "dir"]),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=entries,
    done_fraction=st.sampled_from([0, 4, 4, 3]),
    failed_every=st.integers(0, 4),
    watermark=st.sampled_from([None, *DAYS]),
    since=st.sampled_from([None, *DAYS]),
    until=st.sampled_from([None, *DAYS]),
    known=st.booleans(),
    twins=st.booleans(),
)
def test_planning_by_folder_plans_what_planning_key_by_key_plans(
    entries: list[Any],
    done_fraction: int,
    failed_every: int,
    watermark: dt.date | None,
    since: dt.date | None,
    until: dt.date | None,
    known: bool,
    twins: bool,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "trail"
        keys: list[str] = []
        for s, folder, (what, minute, rand), suffix, kind in entries:
            stream = STREAMS[s]
            day = DAYS[minute // 1440] if what == "log" and minute // 1440 < len(DAYS) else DAYS[0]
            name = _log_name(stream, day, minute % 1440, rand) if what == "log" else minute
            key = f"{stream.prefix}{folder}{name}{suffix}"
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() or path.is_symlink():
                continue
            if kind == "dir":
                path.mkdir()
            elif kind == "link":
                os.symlink(root / "elsewhere", path)
            else:
                path.write_bytes(b"{}")
                twin = path.with_name(path.name + ".gz")
                if twins and not key.endswith(".gz") and not (twin.exists() or twin.is_symlink()):
                    twin.write_bytes(b"{}")  # a decompressed copy beside its original
                    keys.append(key + ".gz")
            keys.append(key)
        for stream in STREAMS:
            (root / stream.prefix).mkdir(parents=True, exist_ok=True)
        checkpoint = Checkpoint()
        if known:
            checkpoint.sources.append(str(root.resolve()))
        for n, key in enumerate(sorted(keys)):
            parts = key.split("/")
            stream = next(s for s in STREAMS if key.startswith(s.prefix))
            st_ = checkpoint.streams.setdefault(stream.prefix, StreamState(watermark=watermark))
            try:
                day = dt.date(int(parts[-4]), int(parts[-3]), int(parts[-2]))
            except ValueError:
                continue
            if done_fraction and n % 4 < done_fraction:
                st_.mark_done(day, parts[-1])
            if failed_every and n % (failed_every + 3) == 0:
                checkpoint.failed[key] = Failure("truncated gzip stream", 1, "t", "t")
            if failed_every and n % (failed_every + 3) == 1:
                # Quarantined, then gone: its decompressed (or gzipped) twin is what is there now.
                twin = key.removesuffix(".gz") if key.endswith(".gz") else key + ".gz"
                checkpoint.failed[twin] = Failure("truncated gzip stream", 1, "t", "t")
        saved = checkpoint.to_json()
        lake = Lake(Path(tmp) / "lake")
        options = IngestOptions(source=str(root), lake=lake.root, since=since, until=until)
        plans = []
        for source in (LocalSource(root), KeyByKey(LocalSource(root))):
            summary = IngestSummary(source="", lake="", run_id="")
            skipped: list[Skipped] = []
            work, starts = _plan(
                lake, source, Checkpoint.from_json(saved), STREAMS, options, summary, skipped
            )  # type: ignore[arg-type]
            plans.append(([(w.ref, w.key) for w in work], starts, summary.files_listed, skipped))
        assert isinstance(LocalSource(root), FolderSource)
        assert not isinstance(KeyByKey(LocalSource(root)), FolderSource)
        assert plans[0] == plans[1]

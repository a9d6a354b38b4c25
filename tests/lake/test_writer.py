from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pyarrow.parquet as pq
import pytest

from trailduck.convert.converter import convert_records
from trailduck.errors import LakeError
from trailduck.lake.storage import LocalStorage
from trailduck.lake.writer import Partition, StorageLakeWriter


def table(day: str, n: int, tag: str) -> object:
    raws = [
        msgspec.Raw(
            f'{{"eventID": "{tag}-{i}", "eventTime": "{day}T0{i % 10}:00:00Z", "pad": "{"x" * 500}"}}'.encode()
        )
        for i in range(n)
    ]
    return convert_records(raws, source_key=f"AWSLogs/{tag}", key_day=dt.date.fromisoformat(day))


def files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def test_one_file_per_partition_and_nothing_visible_before_commit(tmp_path: Path) -> None:
    w = StorageLakeWriter(LocalStorage(tmp_path), "run1", row_group_bytes=10_000)
    for i in range(5):
        w.write("events", "111122223333", "us-east-1", table("2024-03-0" + str(1 + i % 2), 50, f"t{i}"))
    assert files(tmp_path) == []  # only hidden temporary files so far
    result = w.commit()
    assert len(files(tmp_path)) == 2 == len(result.partitions) and result.rows == 250
    rows = sum(pq.read_metadata(f).num_rows for f in files(tmp_path))
    assert rows == 250
    assert max(pq.read_metadata(f).num_row_groups for f in files(tmp_path)) > 1
    assert not list(tmp_path.rglob("*.tmp"))


def test_rolls_over_at_the_size_cap_and_when_too_many_files_are_open(tmp_path: Path) -> None:
    w = StorageLakeWriter(
        LocalStorage(tmp_path), "run2", row_group_bytes=1, max_file_bytes=60_000, max_open_files=2
    )
    for i in range(6):
        w.write("events", "111122223333", "us-east-1", table("2024-03-01", 60, f"a{i}"))
    for day in ("2024-03-02", "2024-03-03", "2024-03-04"):
        w.write("events", "111122223333", "us-east-1", table(day, 5, day))
    w.commit()
    first_day = [f for f in files(tmp_path) if "date=2024-03-01" in str(f)]
    assert len(first_day) > 1  # rolled over at the cap
    assert sum(pq.read_metadata(f).num_rows for f in files(tmp_path)) == 375


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    w = StorageLakeWriter(LocalStorage(tmp_path), "run3", row_group_bytes=1)
    w.write("events", "111122223333", "us-east-1", table("2024-03-01", 10, "x"))
    w.abort()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("dataset", "account", "region", "date"),
    [
        ("events", "../../etc", "us-east-1", "2024-01-01"),
        ("events", "111122223333", "us-east-1/../x", "2024-01-01"),
        ("events", "111122223333", "us-east-1", "2024-01-01/.."),
        ("other", "111122223333", "us-east-1", "2024-01-01"),
    ],
)
def test_partition_paths_are_only_built_from_valid_parts(
    dataset: str, account: str, region: str, date: str
) -> None:
    with pytest.raises(LakeError):
        Partition(dataset, account, region, date)


def test_a_batch_spanning_dates_is_split_keeping_each_dates_rows_in_order(tmp_path: Path) -> None:
    days = ["2024-03-02", "2024-03-01", "2024-03-03", "2024-03-01", "2024-03-02", "2024-03-01"]
    raws = [
        msgspec.Raw(f'{{"eventID": "e{i}", "eventTime": "{day}T10:00:00Z"}}'.encode())
        for i, day in enumerate(days)
    ]
    batch = convert_records(raws, source_key="AWSLogs/k", key_day=dt.date(2024, 3, 3))
    w = StorageLakeWriter(LocalStorage(tmp_path), "run1")
    w.write("events", "111122223333", "us-east-1", batch)
    w.commit()
    found = {
        f.parent.name: pq.read_table(f, columns=["eventID"]).column("eventID").to_pylist()
        for f in files(tmp_path)
    }
    assert found == {
        "date=2024-03-01": ["e1", "e3", "e5"],
        "date=2024-03-02": ["e0", "e4"],
        "date=2024-03-03": ["e2"],
    }


def test_a_streams_partitions_are_written_out_and_closed_when_the_next_stream_comes(tmp_path: Path) -> None:
    from trailduck.lake.layout import BY_DATE

    def hidden(root: Path) -> list[Path]:
        return sorted(p for p in root.rglob("*") if p.is_file())

    w = StorageLakeWriter(LocalStorage(tmp_path / "by-stream"), "run5")
    for i in range(3):  # one stream, two days, three writes: buffered, nothing on disk yet
        w.write("events", "111122223333", "us-east-1", table("2024-03-0" + str(1 + i % 2), 20, f"a{i}"))
    assert hidden(tmp_path / "by-stream") == []
    w.write("events", "111122223333", "us-west-2", table("2024-03-01", 20, "b"))
    # The first stream's two partitions: written out, closed (their footers readable), one row group each.
    done = hidden(tmp_path / "by-stream")
    assert len(done) == 2 and all("region=us-east-1" in str(p) for p in done)
    assert [pq.read_metadata(p).num_row_groups for p in done] == [1, 1]
    assert sum(pq.read_metadata(p).num_rows for p in done) == 60
    w.write("events", "111122223333", "us-east-1", table("2024-03-01", 5, "a-again"))  # back: a new file
    w.commit()
    assert len(files(tmp_path / "by-stream")) == 4
    assert sum(pq.read_metadata(f).num_rows for f in files(tmp_path / "by-stream")) == 85

    # A lake partitioned by date: a day's file holds every stream, so another stream closes nothing.
    w = StorageLakeWriter(LocalStorage(tmp_path / "by-date"), "run6", partitioning=BY_DATE)
    w.write("events", "111122223333", "us-east-1", table("2024-03-01", 20, "a"))
    w.write("events", "111122223333", "us-west-2", table("2024-03-01", 20, "b"))
    assert hidden(tmp_path / "by-date") == []
    w.commit()
    assert [pq.read_metadata(f).num_rows for f in files(tmp_path / "by-date")] == [40]

"""The script a user would write instead of trailduck: the article's approach, done decently.

For each log file: ``json.load``, flatten every record (nested objects to dotted columns, lists to JSON text),
stringify the scalars (real data mixes types under one name, which Arrow would refuse), build a table with
pyarrow from the list of dicts, write one zstd Parquet file. One process, file by file.

    python bench/naive.py TRAIL_FOLDER OUT_FOLDER     # prints {"events": N}

``bench/run.py`` runs it as its own process, like trailduck, so both pay their interpreter start and imports.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = json.dumps(value)
        else:
            out[name] = value
    return out


def convert(root: Path, out: Path) -> int:
    out.mkdir(parents=True)
    events = 0
    for i, path in enumerate(sorted(root.rglob("*.json.gz"))):
        with gzip.open(path) as fh:
            records = [flatten(r) for r in json.load(fh)["Records"]]
        for r in records:
            for k, v in r.items():
                if v is not None and not isinstance(v, str):
                    r[k] = json.dumps(v)
        pq.write_table(pa.Table.from_pylist(records), out / f"{i:06d}.parquet", compression="zstd")
        events += len(records)
    return events


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python bench/naive.py TRAIL_FOLDER OUT_FOLDER")
    print(json.dumps({"events": convert(Path(sys.argv[1]), Path(sys.argv[2]))}))

"""A local folder listed by folder gives what it lists key by key, and ``start_after`` leaves out exactly the keys
at or before it, whether or not whole folders are passed over unwalked."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from trailduck.scanner.local import LocalSource
from trailduck.scanner.source import Folder

PREFIX = "AWSLogs/111122223333/CloudTrail/us-east-1/"
PATHS = [
    "2024/03/09/a",
    "2024/03/10/a.json",
    "2024/03/10/b",
    "2024/03/10/sub/c",
    "2024/03/1x",
    "2024/x",
    "2023/12/31/z",
    "2024/03/10é/d",
]


@settings(max_examples=60, deadline=None)
@given(
    paths=st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(["file", "file", "link"])), max_size=10),
    start_after=st.sampled_from(
        [None, "", "2024/03/10", "2024/03/10/", "2024/03/10/a", "2024/03", "2024/04", "2023/12/31/z"]
    ),
)
def test_start_after_and_folders_list_what_a_full_listing_filtered_lists(
    paths: list[tuple[str, str]], start_after: str | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, kind in paths:
            path = root / PREFIX / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() or path.is_symlink():
                continue
            if kind == "link":
                os.symlink(root / "nowhere", path)
            else:
                path.write_bytes(b"x")
        source = LocalSource(root)
        after = None if start_after is None else PREFIX + start_after
        everything = list(source.list_objects(PREFIX))
        assert list(source.list_objects(PREFIX, after)) == [
            r for r in everything if after is None or r.key > after
        ]
        assert [r.key for r in everything] == sorted((r.key for r in everything), key=lambda k: k.encode())
        folders = [e for e in source.list_folders(PREFIX) if isinstance(e, Folder)]
        assert all(source.folder_refs(f) and "/" not in "".join(f.names) for f in folders)

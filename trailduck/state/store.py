"""Where the checkpoint lives. The local store writes atomically: temp file, fsync, rename, fsync the folder.

The interface is small on purpose: :class:`trailduck.state.s3store.S3StateStore` keeps the checkpoint on S3,
where there is no rename and a conditional PUT takes its place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

from trailduck import crashpoints
from trailduck.errors import StateError
from trailduck.fsutil import beside, fsync_dir
from trailduck.state.checkpoint import Checkpoint


class StateStore(Protocol):
    @property
    def location(self) -> str: ...

    def load(self) -> Checkpoint | None:
        """The saved checkpoint, or None when none was ever saved. Raises StateError when unreadable."""
        ...

    def save(self, checkpoint: Checkpoint) -> None:
        """Replace the saved checkpoint atomically: a reader sees the old one or the new one."""
        ...


def encode(checkpoint: Checkpoint) -> bytes:
    """The bytes a store saves."""
    # Compact: the keys are packed strings, so indentation would only add bytes (`trailduck state show` reads it
    # for people).
    return json.dumps(checkpoint.to_json(), separators=(",", ":")).encode("utf-8")


def decode(data: str | bytes, location: str) -> Checkpoint:
    """The checkpoint a store read from ``location``; a StateError saying what to do when it is not one."""
    try:
        parsed = json.loads(data)
    except ValueError as exc:  # UnicodeDecodeError included
        raise StateError(
            f"{location}: the checkpoint is corrupt ({exc}); restore it from a backup or run "
            "`trailduck state rebuild` to rebuild it from the lake; trailduck will not guess what was done"
        ) from exc
    try:
        return Checkpoint.from_json(parsed)
    except StateError as exc:
        raise StateError(f"{location}: {exc}; `trailduck state rebuild` rebuilds it from the lake") from exc


class LocalStateStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def location(self) -> str:
        return str(self.path)

    def load(self) -> Checkpoint | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read the checkpoint ({exc.strerror})") from exc
        return decode(text, self.location)

    def save(self, checkpoint: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = beside(self.path)
        data = encode(checkpoint)
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            exc.filename = exc.filename or str(tmp)  # a failed write (a full disk) names no file: say which
            raise
        crashpoints.hit("state_commit")
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)

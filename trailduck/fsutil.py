"""Durability helpers: a rename is only durable once the file and its folder are fsynced."""

from __future__ import annotations

import errno
import os
from pathlib import Path

#: The errno values of a full filesystem: no space left, or the user's quota used up.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def says_disk_full(exc: BaseException) -> bool:
    """Whether an error reports a full filesystem: by its errno, or by its text where a library keeps no errno
    (DuckDB's IOException says "... No space left on device")."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL:
        return True
    return any(os.strerror(code) in str(exc) for code in DISK_FULL)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(tmp: Path, final: Path) -> None:
    """Rename a fully written ``tmp`` over ``final`` so that a crash leaves one or the other, never half."""
    fsync_file(tmp)
    os.replace(tmp, final)
    fsync_dir(final.parent)

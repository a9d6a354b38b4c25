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


def usable_cpus() -> int:
    """The cores this process may run on: its affinity where the OS tells it (Linux), else all of them."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return len(affinity(0))
    return os.cpu_count() or 1


#: The suffix of a file being written; with a leading dot too, the file is hidden from every reader's glob.
TMP_SUFFIX = ".tmp"


def temporary_name(name: str) -> str:
    """The name a file to be called ``name`` has while it is written."""
    return f".{name}{TMP_SUFFIX}"


def published_name(temporary: str) -> str:
    """The name a file written as ``temporary`` (see :func:`temporary_name`) is renamed to."""
    return temporary[1 : -len(TMP_SUFFIX)]


def beside(path: Path) -> Path:
    """Where ``path`` is written before it replaces the old one in a single rename."""
    return path.with_name(temporary_name(path.name))


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    directory = getattr(os, "O_DIRECTORY", None)
    if directory is None:  # Windows: a folder cannot be opened, and its entries are durable without it
        return
    try:
        fd = os.open(path, os.O_RDONLY | directory)
    except OSError:  # pragma: no cover - filesystems without directory fds
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

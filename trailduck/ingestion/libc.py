"""What trailduck asks of glibc, best effort and only for processes it owns: a malloc that returns freed
memory, and the parent-death signal that stops a worker when its ingest is killed. Elsewhere, nothing."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

import pyarrow as pa


def tune_allocator() -> None:
    """Make glibc's malloc return freed memory: a fixed 1 MiB mmap threshold (by default it rises after the first
    large free, and decompressed log files then stay in the heap) and two arenas instead of one per thread.
    Measured on 200,000 events in one process: peak RSS 775 -> 643 MiB, no slower. Only for processes trailduck
    owns (the CLI, worker processes), never a library caller's. Elsewhere than glibc, nothing happens.
    Arrow is switched to the system allocator as well (below)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-8, 2)  # M_ARENA_MAX
        # Arrow's buffers then come from that tuned malloc too: mimalloc, Arrow's default here, keeps what
        # it freed. 1M events, two workers: peak RSS 977-1,028 -> 847 MiB, throughput within the noise.
        pa.set_memory_pool(pa.system_memory_pool())


def die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies: a killed ingest leaves no worker writing on."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request was made
        sys.exit(1)

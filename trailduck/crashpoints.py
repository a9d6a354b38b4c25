"""Named points where a test can kill the process, to prove that a run interrupted anywhere is redone exactly.

Set ``TRAILDUCK_CRASH_AT=<name>[:<n>]`` and the process kills itself with SIGKILL the n-th time (default: the
first time) it passes the point ``<name>``. ``<name>:<n>:STOP`` sends SIGSTOP instead: the process pauses there,
so a test can signal it at a known moment (SIGTERM, say) and let it go on with SIGCONT. This is the one
environment read outside the CLI layer, on purpose: the crash tests run the real ``trailduck`` command in a
subprocess, and nothing else can reach inside it.
Unset, a check costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import threading

ENV = "TRAILDUCK_CRASH_AT"
POINTS = (
    "listing",
    "fetch",
    "convert",
    "worker",
    "share_written",
    "parquet_written",
    "commit_ahead",
    "table_commit",
    "state_commit",
    "views",
    "compact_committed",
)

_lock = threading.Lock()
_hits: dict[str, int] = {}


def armed(name: str) -> bool:
    """Whether the environment names the point ``name``: a loop that passes it once per key asks once, not per
    key (where it adds up: an environment lookup is a few microseconds)."""
    return (os.environ.get(ENV) or "").partition(":")[0] == name


def hit(name: str) -> None:
    """Die here if the environment asks for it."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, rest = spec.partition(":")
    if target != name:
        return
    count, _, how = rest.partition(":")
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        if _hits[name] == int(count or 1):
            os.kill(os.getpid(), signal.SIGSTOP if how == "STOP" else signal.SIGKILL)

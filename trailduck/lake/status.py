"""A readable report of what the checkpoint holds, for ``trailduck state show`` and ``state failed``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trailduck.errors import StateError
from trailduck.lake.folder import Lake


def checkpoint_report(lake: Lake, state_path: Path | None = None) -> dict[str, Any]:
    store = lake.state_store(state_path)
    checkpoint = store.load()
    if checkpoint is None:
        raise StateError(
            f"{store.location}: no checkpoint; run `trailduck ingest SOURCE --lake {lake.location}` first"
        )
    return {
        "location": store.location,
        "updated": checkpoint.updated,
        "sources": checkpoint.sources,
        "keys": checkpoint.key_count(),
        "runs": checkpoint.runs,
        "streams": [
            {
                "stream": prefix,
                "watermark": st.watermark.isoformat() if st.watermark else None,
                "open_days": [d.isoformat() for d in sorted(st.days)],
                "keys": sum(len(k) for k in st.days.values()),
            }
            for prefix, st in sorted(checkpoint.streams.items())
        ],
        "failed": [
            {
                "key": key,
                "reason": f.reason,
                "attempts": f.attempts,
                "first_failed": f.first_failed,
                "last_failed": f.last_failed,
            }
            for key, f in sorted(checkpoint.failed.items())
        ],
    }

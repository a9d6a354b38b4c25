"""The checkpoint: which objects of which source are done.

Per stream (one account and region folder) the checkpoint keeps a *watermark*, the first day that is not
sealed, and the keys processed on each day from the watermark on. Each run re-lists the days from the
watermark, so files that CloudTrail delivers late into those days are found; after the run the watermark
moves to ``today - lookback`` and the key lists of the days before it are dropped. The checkpoint's size
therefore follows the lookback window, not the trail's history. Sealed days are covered by the lake's
``source_key`` lineage column when a backfill asks for them again.

Files that could not be converted are kept in ``failed`` with their reason and retried on every run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from trailduck.errors import StateError
from trailduck.scanner.keys import object_identity

FORMAT = "trailduck-state"
VERSION = 1
#: How many committed run ids are remembered, so that files left by an interrupted run can be told apart.
KEEP_RUNS = 50


@dataclass
class StreamState:
    """One stream's progress.

    ``watermark`` is the first day a run without ``--since`` lists from. ``days`` maps each day from
    ``sealed_before`` on to the file names done on it; days before ``sealed_before`` keep no key list, and the
    lake's lineage answers for them. Both normally move together; a run whose ``--since`` leaves a gap after the
    watermark cannot move the watermark, but still drops old key lists, so the checkpoint stays bounded.
    """

    watermark: dt.date | None = None
    days: dict[dt.date, set[str]] = field(default_factory=dict)
    sealed_before: dt.date | None = None

    @property
    def lineage_before(self) -> dt.date | None:
        """Days before this are looked up in the lake, not in ``days``."""
        marks = [d for d in (self.watermark, self.sealed_before) if d is not None]
        return max(marks) if marks else None

    def is_done(self, day: dt.date, filename: str) -> bool:
        return object_identity(filename) in self.days.get(day, ())

    def mark_done(self, day: dt.date, filename: str) -> None:
        sealed = self.lineage_before
        if sealed is None or day >= sealed:
            self.days.setdefault(day, set()).add(object_identity(filename))

    def drop_keys_before(self, day: dt.date) -> None:
        """Forget the key lists of the days before ``day``; the lake's lineage answers for them from now on."""
        sealed = self.lineage_before
        self.sealed_before = day if sealed is None or day > sealed else sealed
        self.days = {d: keys for d, keys in self.days.items() if d >= self.sealed_before}

    def seal_before(self, day: dt.date) -> None:
        """Move the watermark forward to ``day`` (never back) and drop the key lists before it."""
        if self.watermark is None or day > self.watermark:
            self.watermark = day
        self.drop_keys_before(day)


@dataclass
class Failure:
    reason: str
    attempts: int
    first_failed: str
    last_failed: str


@dataclass
class Checkpoint:
    """Progress per stream, keyed by the stream's relative prefix (``AWSLogs/<account>/CloudTrail/<region>/``).

    Keys are relative to the source root, like the lake's ``source_key``: the same trail read from the bucket
    or from a local copy of it is the same work, so switching between them never ingests a file twice.
    """

    streams: dict[str, StreamState] = field(default_factory=dict)
    failed: dict[str, Failure] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    updated: str | None = None
    #: The sequence number of the last run committed: the version of the lake tables' application
    #: transaction that this checkpoint goes with (0: none yet).
    sequence: int = 0

    def stream(self, prefix: str) -> StreamState:
        return self.streams.setdefault(prefix, StreamState())

    def record_run(self, run_id: str, source: str, now: dt.datetime) -> None:
        self.runs = [*self.runs, run_id][-KEEP_RUNS:]
        if source not in self.sources:
            self.sources.append(source)
        self.updated = now.astimezone(dt.UTC).isoformat()

    def key_count(self) -> int:
        return sum(len(keys) for st in self.streams.values() for keys in st.days.values())

    # -- serialisation -------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "updated": self.updated,
            "sequence": self.sequence,
            "sources": self.sources,
            "runs": self.runs,
            "streams": {
                prefix: {
                    "watermark": st.watermark.isoformat() if st.watermark else None,
                    "sealed_before": st.sealed_before.isoformat() if st.sealed_before else None,
                    "days": {d.isoformat(): sorted(keys) for d, keys in sorted(st.days.items())},
                }
                for prefix, st in sorted(self.streams.items())
            },
            "failed": {
                key: {
                    "reason": f.reason,
                    "attempts": f.attempts,
                    "first_failed": f.first_failed,
                    "last_failed": f.last_failed,
                }
                for key, f in sorted(self.failed.items())
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StateError("not a trailduck checkpoint")
        if data.get("version") != VERSION:
            raise StateError(
                f"checkpoint version {data.get('version')!r} is not {VERSION}; "
                "use the trailduck release that wrote it, or upgrade trailduck"
            )
        try:
            streams = {
                prefix: StreamState(
                    watermark=dt.date.fromisoformat(st["watermark"]) if st["watermark"] else None,
                    days={dt.date.fromisoformat(d): set(keys) for d, keys in st["days"].items()},
                    sealed_before=dt.date.fromisoformat(st["sealed_before"])
                    if st.get("sealed_before")
                    else None,
                )
                for prefix, st in data["streams"].items()
            }
            failed = {key: Failure(**f) for key, f in data["failed"].items()}
            return cls(
                streams=streams,
                failed=failed,
                sources=list(data.get("sources", [])),
                runs=list(data.get("runs", [])),
                updated=data.get("updated"),
                sequence=int(data.get("sequence", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(f"checkpoint is malformed ({exc!r})") from exc

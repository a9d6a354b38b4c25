"""What ``trailduck verify`` found: one :class:`Verdict` per digest or log file, and the run's
:class:`VerifyResult` (its counts, its problems, its exit code and its JSON)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trailduck.errors import ExitCode
from trailduck.lake.verdicts import ACCEPTABLE, DIGEST_STATUSES, LOG_STATUSES, Status
from trailduck.scanner.listing import Skipped


@dataclass(frozen=True, slots=True)
class Verdict:
    """The status of one digest or log file. ``key`` is relative to the source root (``AWSLogs/...``)."""

    key: str
    status: Status
    detail: str
    account: str
    region: str
    #: For a log file: the digest that vouches for it (or names it), if any.
    digest_key: str | None = None

    def to_json(self, object_key: Callable[[str], str]) -> dict[str, str]:
        return {"key": object_key(self.key), "status": self.status, "detail": self.detail}


@dataclass
class VerifyResult:
    source: str
    digests: list[Verdict] = field(default_factory=list)
    log_files: list[Verdict] = field(default_factory=list)
    #: (account, region) pairs with log files but no verified regular digest: validation may be off.
    unvouched_streams: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: Said plainly when the source holds no CloudTrail folder yet (nothing to verify is not a pass).
    note: str | None = None
    duration_s: float = 0.0
    object_key: Callable[[str], str] = field(default=lambda key: key, repr=False)

    @property
    def exit_code(self) -> int:
        ok = all(v.status in ACCEPTABLE for v in [*self.digests, *self.log_files])
        return ExitCode.OK if ok else ExitCode.FINDINGS

    def counts(self) -> dict[str, dict[str, int]]:
        def tally(verdicts: list[Verdict], statuses: tuple[Status, ...]) -> dict[str, int]:
            found: dict[str, int] = {s: 0 for s in statuses}
            for v in verdicts:
                found[v.status] += 1
            return found

        return {
            "digests": tally(self.digests, DIGEST_STATUSES),
            "log_files": tally(self.log_files, LOG_STATUSES),
        }

    def problems(self) -> list[tuple[str, Verdict]]:
        """Every entry that fails the run, digests first, with its kind."""
        return [("digest", v) for v in self.digests if v.status not in ACCEPTABLE] + [
            ("log file", v) for v in self.log_files if v.status not in ACCEPTABLE
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "digests": [v.to_json(self.object_key) for v in self.digests],
            "log_files": [v.to_json(self.object_key) for v in self.log_files],
            "note": self.note,
        }

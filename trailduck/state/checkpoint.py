"""The checkpoint: which objects of which source are done.

Per stream (one account and region folder) the checkpoint keeps a *watermark*, the first day that is not
sealed, and the keys processed on each day from the watermark on. Each run re-lists the days from the
watermark, so files that CloudTrail delivers late into those days are found; after the run the watermark
moves to ``today - lookback`` and the key lists of the days before it are dropped. The checkpoint's size
therefore follows the lookback window, not the trail's history. Sealed days are covered by the lake's
``source_key`` lineage column when a backfill asks for them again.

Files that could not be converted are kept in ``failed`` with their reason and retried on every run.

A day's keys are kept compact (:class:`DayKeys`), in memory and in the file: CloudTrail names every log file of
one stream and day ``<account>_CloudTrail_<region>_<YYYYMMDD>T<HHMM>Z_<16 characters>.json``, so past the part
they share only the minute and the 16 characters differ: 18 characters a key (a minute of the day in two), where
the name itself is about 80. An organization's day of 2.4 million files over a lookback of three days is then
about 130 MB of checkpoint rather than 600 MB. A key of any other shape is kept whole.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from trailduck.errors import StateError
from trailduck.scanner.keys import object_identity

FORMAT = "trailduck-state"
#: 2: each day's keys packed (DayKeys); 1 (read, then written as 2): each day's keys as a list of names.
VERSION = 2
READ_VERSIONS = (1, 2)
#: How many committed run ids are remembered, so that files left by an interrupted run can be told apart.
KEEP_RUNS = 50


#: A log file's name (without .gz): what one stream's files of one day share, then the minute and the random part.
_NAME = re.compile(
    r"(?P<head>.+_[0-9]{8}T)(?P<hour>[01][0-9]|2[0-3])(?P<minute>[0-5][0-9])Z_(?P<rand>[A-Za-z0-9]{16})\.json"
)
_DIGITS = string.digits + string.ascii_letters
#: The minute of the day (0 to 1439) as two characters, and back.
_MINUTE_CODE = [_DIGITS[m // 62] + _DIGITS[m % 62] for m in range(1440)]
_CODE_MINUTE = {code: m for m, code in enumerate(_MINUTE_CODE)}
#: A minute's code to the HHMM of a name.
_CODE_HHMM = {code: f"{m // 60:02d}{m % 60:02d}" for m, code in enumerate(_MINUTE_CODE)}
#: A name's HHMM (the ASCII digits of a time of day, nothing else) to its minute's code.
_HHMM_CODE = {f"{m // 60:02d}{m % 60:02d}": code for m, code in enumerate(_MINUTE_CODE)}
_CODE = 18  # characters: 2 for the minute, 16 random


def _minutes_pattern() -> str:
    """A pattern of the 1,440 minute codes: one alternative per first character."""
    seconds: dict[str, str] = {}
    for code in _MINUTE_CODE:
        seconds[code[0]] = seconds.get(code[0], "") + code[1]
    return "|".join(f"{first}[{rest}]" for first, rest in seconds.items())


#: Packed codes (a minute's code, then 16 characters, over and over): checked in one match, not code by code.
_PACKED = re.compile(rf"(?:(?:{_minutes_pattern()}).{{{_CODE - 2}}})*", re.DOTALL)
_TAIL = "Z_"
_SUFFIX = ".json"


class DayKeys:
    """The keys (object identities) done on one day of one stream, as a set: each name that has the shape
    CloudTrail gives log files is kept as its minute and random part (18 characters) after the ``head`` the day's
    names share; any other name is kept whole. Iterating gives the names back.

    Read from the file, the codes stay the packed string they were written as until something needs them one by
    one: a run that only asks whether whole folders are done (:meth:`covers`) and writes the checkpoint back never
    splits them into a set, nor sorts and joins them again."""

    __slots__ = ("_codes", "_packed", "head", "others")

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.head: str | None = None
        self._codes: set[str] | None = set()
        #: The codes as read (sorted and joined), while ``_codes`` is None.
        self._packed = ""
        self.others: set[str] = set()
        for name in names:
            self.add(name)

    @property
    def codes(self) -> set[str]:
        """The codes of the names kept packed, as a set (made from the packed string on first use)."""
        if self._codes is None:
            packed = self._packed
            self._codes = {packed[i : i + _CODE] for i in range(0, len(packed), _CODE)}
            self._packed = ""
        return self._codes

    def _packed_codes(self) -> Iterator[str]:
        if self._codes is not None:
            yield from self._codes
        else:
            packed = self._packed
            yield from (packed[i : i + _CODE] for i in range(0, len(packed), _CODE))

    def _code(self, name: str) -> str | None:
        head = self.head
        if head is not None:  # the day's shape is known: string tests only, no regular expression
            h = len(head)
            if not (
                len(name) == h + 4 + len(_TAIL) + 16 + len(_SUFFIX)
                and name.startswith(head)
                and name.endswith(_SUFFIX)
                and name[h + 4 : h + 6] == _TAIL
            ):
                return None
            minute, rand = _HHMM_CODE.get(name[h : h + 4]), name[h + 6 : h + 22]
            if minute is None or not (rand.isascii() and rand.isalnum()):
                return None
            return minute + rand
        m = _NAME.fullmatch(name)
        if m is None:
            return None
        self.head = m.group("head")
        return _HHMM_CODE[m.group("hour") + m.group("minute")] + m.group("rand")

    def add(self, name: str) -> None:
        code = self._code(name)
        if code is None:
            self.others.add(name)
        else:
            self.codes.add(code)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name in self.others:
            return True
        if self.head is None or not name.startswith(self.head):
            return False
        code = self._code(name)
        return code is not None and code in self.codes

    def __len__(self) -> int:
        return len(self.codes) + len(self.others)

    def covers(self, names: Iterable[str]) -> bool:
        """Whether every one of ``names`` (a folder's, so no two alike) is done: each name's identity (the name
        without ``.gz``) is in here, and no two of them are one log file (``x.json`` beside ``x.json.gz``). The
        same answer as a membership test of each, from a few set operations over the day's names."""
        head = self.head
        gzipped = {
            f"{head}{_CODE_HHMM[code[:2]]}{_TAIL}{code[2:]}{_SUFFIX}.gz" for code in self._packed_codes()
        }
        gzipped.update(name + ".gz" for name in self.others)
        given = set(names)
        rest = given.difference(gzipped)
        # Left: names not ending in .gz (a gzipped name's identity is done only if it is in ``gzipped``) and
        # gzipped names not done.
        return all(not name.endswith(".gz") and name in self and name + ".gz" not in given for name in rest)

    def _name(self, code: str) -> str:
        assert self.head is not None
        hour, minute = divmod(_CODE_MINUTE[code[:2]], 60)
        return f"{self.head}{hour:02d}{minute:02d}{_TAIL}{code[2:]}{_SUFFIX}"

    def __iter__(self) -> Iterator[str]:
        yield from (self._name(code) for code in self.codes)
        yield from self.others

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DayKeys):
            return set(self) == set(other)
        if isinstance(other, set | frozenset):
            return set(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a mutable set

    def __repr__(self) -> str:
        return f"DayKeys({sorted(self)!r})"

    def to_json(self, usual_head: str | None = None) -> dict[str, Any]:
        """The day's keys for the file; the head left out when it is ``usual_head`` (what the stream and day make
        of it: :func:`usual_head`)."""
        out: dict[str, Any] = {}
        packed = self._packed if self._codes is None else "".join(sorted(self._codes))
        if packed:
            if self.head != usual_head:
                out["head"] = self.head
            out["packed"] = packed
        if self.others:
            out["others"] = sorted(self.others)
        return out

    @classmethod
    def from_json(cls, data: Any, usual_head: str | None = None) -> DayKeys:
        """A day's keys as version 2 writes them, or as version 1 did (a list of names)."""
        if isinstance(data, list):
            return cls(str(name) for name in data)
        keys = cls()
        packed = data.get("packed", "")
        if packed:
            head = data.get("head", usual_head)
            if not isinstance(head, str) or not isinstance(packed, str) or len(packed) % _CODE:
                raise ValueError(f"packed keys of {len(packed)} characters under {head!r}")
            if not _PACKED.fullmatch(packed):
                raise ValueError("a packed key's minute is not a minute")
            keys.head = head
            keys._codes, keys._packed = None, packed
        keys.others = {str(name) for name in data.get("others", [])}
        return keys


_PREFIX = re.compile(
    r"AWSLogs/(?:[^/]+/)?(?P<account>[0-9]{12})/(?P<kind>[A-Za-z-]+)/(?P<region>[a-z0-9-]+)/"
)


def usual_head(prefix: str, day: dt.date) -> str | None:
    """What the names of a stream's files of ``day`` begin with, as CloudTrail names them: written into the file
    only when a day's names begin otherwise (two bytes a key of an organization's checkpoint)."""
    start = _usual_start(prefix)
    return f"{start}{day:%Y%m%d}T" if start is not None else None


@functools.lru_cache(maxsize=4096)
def _usual_start(prefix: str) -> str | None:
    m = _PREFIX.fullmatch(prefix)
    return f"{m['account']}_{m['kind']}_{m['region']}_" if m else None


@dataclass
class StreamState:
    """One stream's progress.

    ``watermark`` is the first day a run without ``--since`` lists from. ``days`` maps each day from
    ``sealed_before`` on to the file names done on it; days before ``sealed_before`` keep no key list, and the
    lake's lineage answers for them. Both normally move together; a run whose ``--since`` leaves a gap after the
    watermark cannot move the watermark, but still drops old key lists, so the checkpoint stays bounded.
    """

    watermark: dt.date | None = None
    days: dict[dt.date, DayKeys] = field(default_factory=dict)
    sealed_before: dt.date | None = None

    def __post_init__(self) -> None:
        self.days = {d: k if isinstance(k, DayKeys) else DayKeys(k) for d, k in self.days.items()}

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
            keys = self.days.get(day)
            if keys is None:
                keys = self.days[day] = DayKeys()
            keys.add(object_identity(filename))

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
                    "days": {
                        d.isoformat(): keys.to_json(usual_head(prefix, d))
                        for d, keys in sorted(st.days.items())
                    },
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
        if data.get("version") not in READ_VERSIONS:
            raise StateError(
                f"checkpoint version {data.get('version')!r} is not {VERSION}; "
                "use the trailduck release that wrote it, or upgrade trailduck"
            )
        try:
            streams = {
                prefix: StreamState(
                    watermark=dt.date.fromisoformat(st["watermark"]) if st["watermark"] else None,
                    days={
                        dt.date.fromisoformat(d): DayKeys.from_json(
                            keys, usual_head(prefix, dt.date.fromisoformat(d))
                        )
                        for d, keys in st["days"].items()
                    },
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
